//! Watching the real binary: metrics on their own address, JSON log lines with nothing secret in
//! them, and a SIGTERM that lets what is under way finish.

mod drain;
mod logs;
mod metrics;

use crate::common::process::Process;

pub const ZOE: &str = "zoe.lefevre@example.com";
pub const OLIVER: &str = "oliver.smith@example.com";
pub const NGOZI: &str = "ngozi.adeyemi@example.com";
pub const ANA_RECOVERY_STARTED: &str = "ana.goncalves@example.com";

/// A directory for the binary's data, beside an empty `dist`.
pub fn new_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    dir
}

/// The Users API's list of the demo account.
pub fn users_url(process: &Process) -> String {
    let account = keydesk_api::AccountId::parse(keydesk_server::config::DEMO_ACCOUNT_ID).unwrap();
    format!("{}{}", process.url, keydesk_api::users_path(&account))
}

/// A demo person's ID, from the database.
pub fn id_of(process: &Process, email: &str) -> String {
    let conn = rusqlite::Connection::open(process.data_dir.join("keydesk.db")).unwrap();
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |row| {
        row.get(0)
    })
    .unwrap()
}

/// How many records the audit trail holds.
pub fn audit_rows(process: &Process) -> i64 {
    let conn = rusqlite::Connection::open(process.data_dir.join("keydesk.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
        .unwrap()
}

/// `/api/events`, once its first event has come.
pub async fn open_events(process: &Process) -> reqwest::Response {
    let mut stream = reqwest::get(format!("{}/api/events", process.url))
        .await
        .unwrap();
    assert!(stream.chunk().await.unwrap().is_some(), "hello");
    stream
}
