//! `keydesk-server backup` while the real binary serves a stream of changes, and `restore` into
//! a fresh directory: the copy is consistent (no change without its record, no record without
//! its change), and restore checks what it brings back and where it brings it.

use std::{path::Path, time::Duration};

use sha2::Digest as _;

use crate::common::{
    command::run,
    process::{Process, check_invariant, churn, fetch, first_states, records},
};

fn new_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    dir
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_changes_restores_to_a_consistent_directory() {
    let dir = new_dir();
    let first = first_states(dir.path());
    let process = Process::start(dir.path());
    let load = tokio::spawn(churn(process.url.clone(), 4, Duration::from_secs(4)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("monday");
    let (code, out, err) = {
        let (dir, target) = (dir.path().to_owned(), target.clone());
        tokio::task::spawn_blocking(move || run(&dir, &["backup", path(&target)]))
            .await
            .unwrap()
    };
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(
            "backed up keydesk.db (the embedded directory, its audit trail and scheduled \
             changes): "
        ) && out.contains(" bytes, integrity ok; audit chain intact: "),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("wrote {}/manifest.json\n", path(&target))),
        "{out}"
    );
    for (file, mode) in [(&target, 0o700), (&target.join("keydesk.db"), 0o600)] {
        use std::os::unix::fs::PermissionsExt as _;
        let actual = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(actual, mode, "{}: {actual:o}", file.display());
    }
    let tally = load.await.unwrap();
    assert!(tally.count(200) > 0, "nothing was changed: {tally:?}");
    let live = records(&dir.path().join("data/keydesk.db")).len();
    process.kill();

    let fresh = new_dir();
    let (code, out, err) = run(fresh.path(), &["restore", path(&target)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("restored keydesk.db: "), "{out}");
    assert!(out.contains("Keydesk can start on it"), "{out}");
    let restored_db = fresh.path().join("data/keydesk.db");
    let restored = records(&restored_db).len();
    assert!(
        restored > 0 && restored < live,
        "the copy is of the middle of the stream: {restored} records, {live} at the end"
    );

    // Keydesk starts on it and serves it; the chain verifies there and from the command line.
    let process = Process::start(fresh.path());
    let verification: keydesk_api::AuditVerification =
        fetch(reqwest::Client::new().get(format!("{}/api/audit/verify", process.url))).await;
    assert_eq!(
        (verification.records, verification.first_broken),
        (restored as i64, None)
    );
    process.stop();
    let replayed = check_invariant(&restored_db, &first);
    assert!(replayed > 0, "no change was in the copy");
    let (code, out, err) = run(fresh.path(), &["verify-audit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("audit chain intact: {restored} records; ")),
        "{out}"
    );
}

#[test]
fn restore_refuses_a_directory_in_use_and_a_damaged_backup() {
    let dir = new_dir();
    first_states(dir.path());
    let conn = rusqlite::Connection::open(dir.path().join("data/keydesk.db")).unwrap();
    for target in ["A", "B"] {
        let entry = keydesk_server::audit::Attempt::new(
            "amara.okafor@example.com".into(),
            Vec::new(),
            keydesk_api::AuditAction::Suspend,
            "r1".into(),
            "127.0.0.1".into(),
        )
        .entry(
            vec![target.into()],
            keydesk_api::AuditOutcome::Denied,
            "a test".into(),
        );
        keydesk_server::audit::chain::append(&conn, entry, std::time::SystemTime::now()).unwrap();
    }
    drop(conn);
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("b");
    assert_eq!(run(dir.path(), &["backup", path(&target)]).0, 0);

    // Not over a data directory that holds anything, nor into a backup already there.
    let (code, _, err) = run(dir.path(), &["restore", path(&target)]);
    assert_eq!(code, 1);
    let data = dir.path().join("data");
    assert!(
        err.starts_with(&format!(
            "keydesk-server: {} is not empty (it holds keydesk.db",
            path(&data)
        )) && err.contains("restore only brings a backup into an empty data directory"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["backup", path(&target)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("(it holds keydesk.db, manifest.json)"),
        "{err}"
    );

    // A copy changed after the backup.
    let copy = target.join("keydesk.db");
    let pristine = std::fs::read(&copy).unwrap();
    let mut damaged = pristine.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    std::fs::write(&copy, &damaged).unwrap();
    let fresh = new_dir();
    let (code, _, err) = run(fresh.path(), &["restore", path(&target)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("keydesk.db in the backup does not match its manifest"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(fresh.path().join("data"))
            .unwrap()
            .count(),
        0,
        "a refused restore leaves the directory empty"
    );

    // An audit record altered in the copy, and the manifest made to match: the chain says so.
    std::fs::write(&copy, &pristine).unwrap();
    rusqlite::Connection::open(&copy)
        .unwrap()
        .execute("UPDATE audit SET outcome = 'succeeded' WHERE seq = 1", [])
        .unwrap();
    let sha = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(std::fs::read(&copy).unwrap()));
    let manifest_path = target.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["files"][0]["sha256"] = sha.into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let (code, _, err) = run(fresh.path(), &["restore", path(&target)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("checking keydesk.db from the backup: the audit chain is broken at record 1"),
        "{err}"
    );
}
