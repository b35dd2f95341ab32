//! Keeping the audit trail, with the real binary: retention prunes old records and
//! `verify-audit` says where the chain starts; anchors, written to an append-only file and the
//! system log (here a datagram socket the test listens on) at shutdown, name the records
//! deleted or altered after them.

use std::{
    os::unix::net::UnixDatagram,
    path::Path,
    time::{Duration, SystemTime},
};

use keydesk_api::{AuditAction, AuditOutcome, ListUsersResponse};
use keydesk_server::audit::{
    Attempt,
    anchor::{self, Anchor},
    chain,
};

use crate::common::{
    command::run,
    process::{fetch, records, start_adding, users_url},
};

fn new_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    dir
}

/// `[audit]` with the anchor file and the system log's socket in `dir`.
fn audit_settings(dir: &Path, keep: Option<&str>) -> String {
    let keep = keep
        .map(|k| format!("keep = \"{k}\"\n"))
        .unwrap_or_default();
    format!(
        "[audit]\n{keep}anchor_file = \"{}/anchors\"\nsyslog_socket = \"{}/log\"\n",
        dir.display(),
        dir.display()
    )
}

fn anchors_in(file: &Path) -> Vec<Anchor> {
    anchor::read(&std::fs::read_to_string(file).unwrap()).0
}

fn entry(target: &str) -> chain::Entry {
    Attempt::new(
        "amara.okafor@example.com".into(),
        Vec::new(),
        AuditAction::Suspend,
        "r1".into(),
        "127.0.0.1".into(),
    )
    .entry(vec![target.into()], AuditOutcome::Denied, "a test".into())
}

#[test]
fn records_older_than_keep_are_pruned_at_start_and_verify_audit_says_so() {
    let dir = new_dir();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let db = dir.path().join("data/keydesk.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    chain::prepare(&conn).unwrap();
    let day = Duration::from_secs(24 * 3600);
    let now = SystemTime::now();
    for n in 0..5 {
        chain::append(&conn, entry(&format!("OLD{n}")), now - day * (500 - n)).unwrap();
    }
    for n in 0..2 {
        chain::append(&conn, entry(&format!("NEW{n}")), now - day * (2 - n)).unwrap();
    }
    drop(conn);

    let process = start_adding(dir.path(), &audit_settings(dir.path(), Some("400d")));
    process.stop();
    let kept: Vec<i64> = records(&db).iter().map(|r| r.seq).collect();
    assert_eq!(kept, [6, 7, 8], "records 1 to 5 pruned, 8 says so");
    let (code, out, err) = run(dir.path(), &["verify-audit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(
            "audit chain intact: 3 records; the chain starts at record 6: records 1 to 5 were \
             pruned by retention at "
        ),
        "{out}"
    );
    // The start went to the anchors too.
    let anchors = anchors_in(&dir.path().join("anchors"));
    assert_eq!(anchors.last().unwrap().start, Some(6), "{anchors:?}");
    let anchors_file = dir.path().join("anchors");
    let (code, out, err) = run(
        dir.path(),
        &["verify-audit", "--anchors", anchors_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");

    // Someone deletes record 6 and moves the start past it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let hash6: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = 6", [], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM audit WHERE seq = 6", []).unwrap();
    conn.execute(
        "UPDATE audit_start SET seq = 7, previous_hash = ?1",
        [&hash6],
    )
    .unwrap();
    drop(conn);
    let (code, _, err) = run(dir.path(), &["verify-audit"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(
            "keydesk-server: audit chain broken at its start, record 7: the trail says the \
             records before it were pruned, but no prune_audit record says so"
        ),
        "{err}"
    );
}

/// Suspend `count` active people through the API.
async fn suspend_some(url: &str, count: usize) {
    let users = users_url(url);
    let client = reqwest::Client::new();
    let page: ListUsersResponse = fetch(
        client
            .get(&users)
            .query(&[("state", "ACTIVE"), ("order_by", "email desc")]),
    )
    .await;
    for person in page.results.iter().take(count) {
        let answer = client
            .post(format!("{users}/{}:suspend", person.id))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
    }
}

#[tokio::test]
async fn anchors_name_the_records_deleted_or_altered_after_them() {
    let dir = new_dir();
    let syslog = UnixDatagram::bind(dir.path().join("log")).unwrap();
    syslog.set_nonblocking(true).unwrap();
    let process = start_adding(dir.path(), &audit_settings(dir.path(), None));
    suspend_some(&process.url, 5).await;
    process.stop();

    let anchors_file = dir.path().join("anchors");
    let anchors = anchors_in(&anchors_file);
    let shutdown = anchors.last().unwrap().clone();
    assert_eq!((shutdown.seq, shutdown.why.as_str()), (5, "shutdown"));
    // What the system log got, as an operator would copy it from /var/log/auth.log.
    let mut copied = String::new();
    let mut datagram = [0u8; 4096];
    while let Ok(n) = syslog.recv(&mut datagram) {
        let message = String::from_utf8_lossy(&datagram[..n]);
        let message = message.split_once('>').map_or(&*message, |(_, m)| m);
        copied.push_str(&format!("{message}\n").replacen("keydesk[", "host keydesk[", 1));
    }
    let syslog_copy = dir.path().join("auth.log");
    std::fs::write(&syslog_copy, &copied).unwrap();
    assert_eq!(anchor::read(&copied).0.last(), Some(&shutdown), "{copied}");

    let verify = |anchors: &Path| {
        run(
            dir.path(),
            &["verify-audit", "--anchors", anchors.to_str().unwrap()],
        )
    };
    for file in [&anchors_file, &syslog_copy] {
        let (code, out, err) = verify(file);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains(&format!(
                "the newest, written at {}, is record 5 with hash {}: the trail holds it unchanged",
                shutdown.time, shutdown.hash
            )),
            "{out}"
        );
    }

    // Record 5 altered and hashed again: the chain alone still verifies.
    let db = dir.path().join("data/keydesk.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut record = records(&db).pop().unwrap();
    let previous = records(&db)[3].hash.clone();
    record.outcome = AuditOutcome::Failed;
    let forged = chain::chain_hash(&previous, &record);
    conn.execute(
        "UPDATE audit SET outcome = 'failed', hash = ?1 WHERE seq = 5",
        [&forged],
    )
    .unwrap();
    assert_eq!(run(dir.path(), &["verify-audit"]).0, 0);
    let (code, _, err) = verify(&anchors_file);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "record 5 was altered: the anchor written at {} says its hash was {}, the trail's is \
             {forged}",
            shutdown.time, shutdown.hash
        )),
        "{err}"
    );

    // The last three records deleted: the chain alone cannot tell, the anchors can.
    conn.execute("DELETE FROM audit WHERE seq >= 3", [])
        .unwrap();
    drop(conn);
    let (code, out, err) = run(dir.path(), &["verify-audit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("audit chain intact: 2 records"), "{out}");
    for file in [&anchors_file, &syslog_copy] {
        let (code, _, err) = verify(file);
        assert_eq!(code, 1);
        assert!(
            err.contains(&format!(
                "records 3 to 5 are missing: the newest anchored head, written at {}, was \
                 record 5 with hash {}",
                shutdown.time, shutdown.hash
            )),
            "{err}"
        );
    }
}
