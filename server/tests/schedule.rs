//! Scheduled changes: made at their time by `scheduler` on behalf of whoever scheduled them,
//! late after Keydesk was down, once with two processes, skipped after a change by hand,
//! cancelled or made at once; the clock is moved, never waited for.

use std::time::{Duration, SystemTime};

use crate::common::{DEV_USER, TestApp, expect_error};
use keydesk_api::{ScheduledChange, ScheduledList};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ZOE: &str = "zoe.lefevre@example.com";
const DMITRI_SUSPENDED: &str = "dmitri.ivanov@example.com";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn at(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

async fn schedule(
    app: &TestApp,
    email: &str,
    action: &str,
    due: SystemTime,
) -> (StatusCode, Value) {
    let body = json!({
        "user_id": app.id_of(email), "action": action, "due_time": at(due),
        "reason": "back from leave", "ticket": "INC-7",
    });
    app.post_json("/api/scheduled", &body).await
}

async fn scheduled(app: &TestApp, email: &str, action: &str, due: SystemTime) -> ScheduledChange {
    let (status, body) = schedule(app, email, action, due).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn list(app: &TestApp) -> ScheduledList {
    let (status, body) = app.get_json("/api/scheduled").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

fn state(app: &TestApp, email: &str) -> String {
    app.row(&app.id_of(email)).0
}

#[tokio::test]
async fn a_reactivation_happens_at_its_time_by_the_scheduler_for_whoever_scheduled_it() {
    let app = TestApp::start().await;
    let due = SystemTime::now() + 3 * DAY;
    let change = scheduled(&app, DMITRI_SUSPENDED, "reactivate", due).await;
    assert_eq!(change.person, "Дмитрий Иванов <dmitri.ivanov@example.com>");
    let record = app.audit_records().pop().unwrap();
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("schedule", "succeeded")
    );
    assert_eq!(record.change_reason.as_deref(), Some("back from leave"));
    assert_eq!(list(&app).await.pending, std::slice::from_ref(&change));

    // A minute early: nothing.
    assert!(
        app.scheduler
            .tick(due - Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(state(&app, DMITRI_SUSPENDED), "SUSPENDED");
    // On time.
    assert_eq!(app.scheduler.tick(due).await.unwrap(), [change.id]);
    assert_eq!(state(&app, DMITRI_SUSPENDED), "ACTIVE");
    let record = app.audit_records().pop().unwrap();
    assert_eq!(
        (
            record.action.as_str(),
            record.outcome.as_str(),
            record.actor_email.as_str()
        ),
        ("reactivate", "succeeded", "scheduler")
    );
    assert_eq!(record.on_behalf_of.as_deref(), Some(DEV_USER));
    assert_eq!(record.change_reason.as_deref(), Some("back from leave"));
    assert_eq!(record.ticket.as_deref(), Some("INC-7"));
    // Once only.
    assert!(app.scheduler.tick(due + DAY).await.unwrap().is_empty());
    let listed = list(&app).await;
    assert!(listed.pending.is_empty());
    assert_eq!(listed.recent[0].outcome.as_deref(), Some("Made"));
    let (_, sentence) = app.get_json("/api/audit?max_page_size=1").await;
    let sentence = sentence["sentences"][0].as_str().unwrap().to_owned();
    assert!(
        sentence.starts_with("scheduler for Amara Okafor reactivated Дмитрий Иванов"),
        "{sentence}"
    );
}

#[tokio::test]
async fn a_change_due_while_keydesk_was_down_runs_at_the_next_start_and_says_it_was_late() {
    let app = TestApp::start().await;
    let due = SystemTime::now() + DAY;
    let change = scheduled(&app, ZOE, "suspend", due).await;
    let app = app.restart().await;
    assert_eq!(list(&app).await.pending.len(), 1, "kept across a restart");
    // The next start comes two days after it was due.
    assert_eq!(
        app.scheduler.tick(due + 2 * DAY).await.unwrap(),
        [change.id]
    );
    assert_eq!(state(&app, ZOE), "SUSPENDED");
    let record = app.audit_records().pop().unwrap();
    let reason = record.change_reason.unwrap();
    assert!(
        reason.starts_with("back from leave; ran late: it was due at "),
        "{reason}"
    );
    assert_eq!(
        list(&app).await.recent[0].outcome.as_deref(),
        Some("Made, late")
    );
}

#[tokio::test]
async fn two_keydesk_processes_make_a_due_change_once() {
    let app = TestApp::start().await;
    let due = SystemTime::now() + DAY;
    scheduled(&app, ZOE, "suspend", due).await;
    // A second Keydesk over the same files, as a second process would be.
    let other = keydesk_server::build(&app.config).expect("a second Keydesk");
    let (mine, theirs) = tokio::join!(app.scheduler.tick(due), other.scheduler.tick(due));
    assert_eq!(mine.unwrap().len() + theirs.unwrap().len(), 1);
    let suspends = app
        .audit_records()
        .into_iter()
        .filter(|r| r.action.as_str() == "suspend")
        .count();
    assert_eq!(suspends, 1);
}

#[tokio::test]
async fn a_change_made_by_hand_in_between_makes_the_scheduled_one_skip_and_say_so() {
    let app = TestApp::start().await;
    let due = SystemTime::now() + DAY;
    let change = scheduled(&app, DMITRI_SUSPENDED, "reactivate", due).await;
    let id = app.id_of(DMITRI_SUSPENDED);
    // Reactivated by hand, and suspended again: the state is as scheduled for, but the person
    // is not the same case any more.
    for method in ["reactivate", "suspend"] {
        let path = format!("{}:{method}", app.user_path(&id));
        assert_eq!(app.post(&path).await.0, StatusCode::OK);
    }
    let before = app.tables();
    assert_eq!(app.scheduler.tick(due).await.unwrap(), [change.id]);
    assert_eq!(state(&app, DMITRI_SUSPENDED), "SUSPENDED");
    assert!(
        app.tables() == before,
        "a skipped change changed the directory"
    );
    let record = app.audit_records().pop().unwrap();
    assert_eq!(
        (record.outcome.as_str(), record.actor_email.as_str()),
        ("denied", "scheduler")
    );
    assert!(
        record.reason.contains(&format!(
            "skipped: Дмитрий Иванов <{DMITRI_SUSPENDED}> was changed by {DEV_USER}"
        )),
        "{}",
        record.reason
    );
    assert_eq!(list(&app).await.recent[0].status.as_str(), "skipped");
}

#[tokio::test]
async fn a_pending_change_can_be_cancelled_or_made_now() {
    let app = TestApp::start().await;
    let due = SystemTime::now() + DAY;
    let first = scheduled(&app, ZOE, "suspend", due).await;
    let (status, body) = app
        .post(&format!("/api/scheduled/{}/cancel", first.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        app.audit_records().pop().unwrap().action.as_str(),
        "cancel_schedule"
    );
    assert!(app.scheduler.tick(due).await.unwrap().is_empty());
    assert_eq!(state(&app, ZOE), "ACTIVE");
    expect_error(
        &app.post(&format!("/api/scheduled/{}/cancel", first.id))
            .await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );

    let second = scheduled(&app, ZOE, "suspend", due).await;
    let (status, body) = app.post(&format!("/api/scheduled/{}/run", second.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "SUSPENDED");
    let record = app.audit_records().pop().unwrap();
    assert_eq!(
        (record.actor_email.as_str(), record.on_behalf_of),
        (DEV_USER, None)
    );
    assert_eq!(record.change_reason.as_deref(), Some("back from leave"));
    assert!(list(&app).await.pending.is_empty());
}

#[tokio::test]
async fn what_cannot_be_scheduled_is_refused_by_name() {
    let app = TestApp::start().await;
    let now = SystemTime::now();
    for (email, action, due, status, expected) in [
        (
            ZOE,
            "suspend",
            now - DAY,
            StatusCode::CONFLICT,
            "in the future",
        ),
        (
            ZOE,
            "suspend",
            now + 1000 * DAY,
            StatusCode::CONFLICT,
            "two years",
        ),
        (
            ZOE,
            "begin_recovery",
            now + DAY,
            StatusCode::BAD_REQUEST,
            "only suspend and reactivate",
        ),
        (
            ZOE,
            "reactivate",
            now + DAY,
            StatusCode::CONFLICT,
            "is Active",
        ),
    ] {
        let (code, body) = schedule(&app, email, action, due).await;
        assert_eq!(code, status, "{action}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{action}: {message}");
    }
    assert!(list(&app).await.pending.is_empty());
}
