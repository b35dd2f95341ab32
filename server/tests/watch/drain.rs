//! SIGTERM: what is under way finishes, with its record, within the grace; event streams end
//! cleanly; the exit status is 0.

use std::time::Duration;

use reqwest::{Client, StatusCode};

use super::{ZOE, id_of, new_dir, open_events, users_url};
use crate::common::process::{LockHolder, Process};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_change_under_way_finish_with_its_record_and_ends_event_streams() {
    let dir = new_dir();
    // Long enough to wait out the lock below; the grace is what SIGTERM waits at most.
    let settings = "[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n\n\
                    [storage]\nlock_timeout = \"8s\"\n\n[server]\nshutdown_grace = \"6s\"\n";
    let mut process = Process::start_with(dir.path(), settings, &[], None);
    let client = Client::new();
    let mut stream = open_events(&process).await;
    let db = process.data_dir.join("keydesk.db");
    let zoe = id_of(&process, ZOE);

    // The change waits for the lock another process holds: it is under way at SIGTERM.
    let holder = LockHolder::hold(&db);
    let url = format!("{}/{zoe}:suspend", users_url(&process));
    let change = tokio::spawn(client.post(url).send());
    // Ample time for it to reach the server, even on a busy machine.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stopped_at = std::time::Instant::now();
    process.terminate();
    // The stream ends cleanly (the body's end, not a broken connection) at once.
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while stream.chunk().await.expect("a clean end").is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream did not end");
    // No new connection is taken while the change finishes.
    let refused = Client::new()
        .get(format!("{}/healthz", process.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "a stopping Keydesk took a new request");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop(holder);

    let answer = change.await.unwrap().expect("the change is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let user: keydesk_api::User = answer.json().await.unwrap();
    assert_eq!(user.state.as_str(), "SUSPENDED");
    let status = process
        .exit_within(Duration::from_secs(6))
        .expect("Keydesk stopped within its grace");
    assert!(status.success(), "{status:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(8));
    let records = crate::common::process::records(&db);
    let record = records
        .iter()
        .find(|r| r.request_id == request_id)
        .expect("the change's record");
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("suspend", "succeeded")
    );
    assert_eq!(record.targets, [zoe]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        keydesk_server::audit::chain::verify(&conn).unwrap().1,
        None,
        "the chain is broken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_outlasts_the_grace_is_cut_off_but_never_half_recorded() {
    let dir = new_dir();
    let settings = "[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n\n\
                    [storage]\nlock_timeout = \"8s\"\n\n[server]\nshutdown_grace = \"500ms\"\n";
    let mut process = Process::start_with(dir.path(), settings, &[], None);
    let db = process.data_dir.join("keydesk.db");
    let zoe = id_of(&process, ZOE);
    let holder = LockHolder::hold(&db);
    let url = format!("{}/{zoe}:suspend", users_url(&process));
    let change = tokio::spawn(Client::new().post(url).send());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    process.terminate();
    // The grace is over long before the lock is let go: the answer is lost…
    let answer = tokio::time::timeout(Duration::from_secs(3), change)
        .await
        .expect("the connection is closed when the grace is over")
        .unwrap();
    assert!(answer.is_err(), "{answer:?}");
    drop(holder);
    // …but the change under way, in SQLite's hands, is finished whole before the process ends:
    // made with its record, or not at all.
    let status = process
        .exit_within(Duration::from_secs(10))
        .expect("Keydesk stopped");
    assert!(status.success(), "{status:?}");
    let suspended = crate::common::process::states(&db)[&zoe] == "SUSPENDED";
    let recorded = crate::common::process::records(&db)
        .iter()
        .any(|r| r.action == "suspend" && r.outcome == keydesk_api::AuditOutcome::Succeeded);
    eprintln!("cut off: suspended {suspended}, recorded {recorded}");
    assert_eq!(suspended, recorded);
}
