//! Upgrades: a data directory made by an earlier Keydesk (`fixtures/upgrade-from-ecd902a`, see
//! its README) opened by this binary. Migrations run, nothing is lost: the same people in the
//! same states, every audit record as it was, the scheduled change, and the chain verifies.

use std::path::Path;

use keydesk_api::{ListUsersResponse, ScheduledList};

use crate::common::{
    command::run,
    process::{Process, fetch, records, states, users_url},
};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/upgrade-from-ecd902a/data/keydesk.db"
);

fn scalar(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_directory_made_by_the_previous_release_opens_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let db = dir.path().join("data/keydesk.db");
    std::fs::copy(FIXTURE, &db).unwrap();
    let people = states(&db);
    let trail = records(&db);
    // The fixture is what its README says.
    assert_eq!(people.len(), 62);
    assert_eq!(trail.len(), 9);
    assert_eq!(
        trail.last().unwrap().hash,
        "23c6d9abf2943cba86e01c1ce3a23d3e4021a82d92a45875189a797ac3d4a1c1"
    );
    assert_eq!(scalar(&db, "PRAGMA user_version"), 7);
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_start'"
        ),
        0
    );

    let process = Process::start(dir.path());
    let listed: ListUsersResponse = fetch(
        reqwest::Client::new()
            .get(users_url(&process.url))
            .query(&[("max_page_size", "1000")]),
    )
    .await;
    let served: std::collections::BTreeMap<String, String> = listed
        .results
        .iter()
        .map(|u| (u.id.as_str().to_owned(), u.state.as_str().to_owned()))
        .collect();
    assert_eq!(served, people, "the people and their states, as served");
    let scheduled: ScheduledList =
        fetch(reqwest::Client::new().get(format!("{}/api/scheduled", process.url))).await;
    assert_eq!(scheduled.pending.len(), 1);
    assert_eq!(scheduled.pending[0].due_time, "2027-06-30T09:00:00Z");
    process.stop();

    // The migrations ran (the retention table is there), and nothing else changed.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_start'"
        ),
        1
    );
    assert!(scalar(&db, "PRAGMA user_version") >= 7);
    assert_eq!(states(&db), people);
    assert_eq!(records(&db), trail, "every audit record, field for field");
    let (code, out, err) = run(dir.path(), &["verify-audit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("audit chain intact: 9 records; the chain starts at record 1"),
        "{out}"
    );
}
