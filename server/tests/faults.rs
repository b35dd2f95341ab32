//! The real binary under the faults an unlucky operator meets: killed with SIGKILL at random
//! moments, its database locked by another process, its disk full. After each, the invariant
//! must hold: every person's state is what replaying the audit trail gives, the file is intact
//! and the chain verifies. No answer is ever a 500.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::process::{
    LockHolder, Process, SmallDisk, Tally, check_invariant, churn, fetch, first_states, users_url,
};

/// How many kills: 30 by default, `KEYDESK_FAULT_KILLS` for more or fewer.
fn kills() -> u32 {
    std::env::var("KEYDESK_FAULT_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30)
}

fn new_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    dir
}

async fn get(url: &str) -> (StatusCode, Value) {
    let answer = reqwest::get(url).await.unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Suspend someone active, timing the answer.
async fn suspend_someone(process: &Process) -> (StatusCode, Value, Duration) {
    let users = users_url(&process.url);
    let page: keydesk_api::ListUsersResponse = fetch(
        reqwest::Client::new()
            .get(&users)
            .query(&[("state", "ACTIVE"), ("order_by", "email desc")]),
    )
    .await;
    let person = &page.results[0];
    let started = std::time::Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("{users}/{}:suspend", person.id))
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_no_change_is_without_its_record() {
    let dir = new_dir();
    let first = first_states(dir.path());
    let db = dir.path().join("data/keydesk.db");
    let mut total = Tally::default();
    let kills = kills();
    for _ in 0..kills {
        let process = Process::start(dir.path());
        let load = tokio::spawn(churn(process.url.clone(), 4, Duration::from_secs(5)));
        let after = Duration::from_millis(rand::rng().random_range(0..700));
        tokio::time::sleep(after).await;
        process.kill();
        let tally = load.await.unwrap();
        for (key, n) in tally.answers {
            *total.answers.entry(key).or_default() += n;
        }
        check_invariant(&db, &first);
    }
    let replayed = check_invariant(&db, &first);
    eprintln!(
        "{kills} kills, {replayed} changes replayed, answers: {:?}",
        total.answers
    );
    assert!(
        total.count(200) > 0,
        "nothing was changed at all: {total:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_refuses_changes_in_time_and_loses_nothing() {
    let dir = new_dir();
    let first = first_states(dir.path());
    let process = Process::start(dir.path());
    let db = process.data_dir.join("keydesk.db");
    let load = tokio::spawn(churn(process.url.clone(), 3, Duration::from_secs(4)));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let holder = LockHolder::hold(&db);
    let (status, body, took) = suspend_someone(&process).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "The audit trail cannot be written: keydesk.db is locked by another process"
        ) && message.ends_with("Nothing was changed."),
        "{message}"
    );
    // The configured lock timeout (500 ms), not the time the lock is held.
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let (status, body) = get(&format!("{}/healthz", process.url)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked"),
        "{body}"
    );
    // Reading goes on meanwhile.
    let (status, _) = get(&format!("{}/api/state-counts", process.url)).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(holder);

    let tally = load.await.unwrap();
    assert!(tally.count(503) > 0, "nothing met the lock: {tally:?}");
    assert!(
        tally.count(200) > 0,
        "nothing was changed at all: {tally:?}"
    );
    let (status, body) = get(&format!("{}/healthz", process.url)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(suspend_someone(&process).await.0, StatusCode::OK);
    process.kill();
    let replayed = check_invariant(&db, &first);
    eprintln!(
        "lock held 2 s: {replayed} changes replayed, answers: {:?}",
        tally.answers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_changes_and_loses_nothing() {
    let disk = SmallDisk::mount("4m");
    std::fs::create_dir(disk.path.join("dist")).unwrap();
    let first = first_states(&disk.path);
    let process = Process::start(&disk.path);
    let db = process.data_dir.join("keydesk.db");
    let filler = disk.fill();

    let tally = churn(process.url.clone(), 3, Duration::from_secs(3)).await;
    assert!(tally.count(503) > 0, "nothing met the full disk: {tally:?}");
    let (status, body, _) = suspend_someone(&process).await;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("is full") && message.ends_with("Nothing was changed."),
            "{message}"
        );
        let (status, body) = get(&format!("{}/healthz", process.url)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("full"),
            "{body}"
        );
    }

    std::fs::remove_file(filler).unwrap();
    let (status, body) = get(&format!("{}/healthz", process.url)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(suspend_someone(&process).await.0, StatusCode::OK);
    process.kill();
    let replayed = check_invariant(&db, &first);
    eprintln!(
        "full disk: {replayed} changes replayed, answers: {:?}",
        tally.answers
    );
}
