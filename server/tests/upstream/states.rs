//! What the Users API and `op` say of people, together. The cloud's Users API says only ACTIVE,
//! SUSPENDED or STATE_UNSPECIFIED to the connector; who awaits completion comes from `op user
//! list`; what changed in 1Password without Keydesk is recorded as seen, and told to open pages.

use std::time::Duration;

use keydesk_api::{AuditRecord, ListUsersResponse, User};
use reqwest::StatusCode;
use serde_json::json;

use super::{Setup, World, eventually, members, start, through_1password};
use crate::{common::expect_error, events::Stream};

impl World {
    /// How many readings of the directory `op` has been part of: one `op user list` each, with
    /// a session (one refused for want of it is signed in and run again).
    fn readings(&self) -> usize {
        super::read_op_log(&self.keydesk)
            .iter()
            .filter(|run| {
                run["argv"][0] == "user" && run["argv"][1] == "list" && run["session"] == "HUMAN"
            })
            .count()
    }

    /// Wait until a whole reading has begun and ended after now.
    async fn next_reading(&self) {
        let now = self.readings();
        eventually("a reading", Duration::from_secs(15), async || {
            // One may be under way: the one after it began after now.
            (self.readings() >= now + 2).then_some(())
        })
        .await;
        // And its end: the list answers from it.
        let _ = self.keydesk.list_page(&[]).await;
    }

    async fn awaiting(&self) -> Vec<User> {
        self.keydesk
            .list_all(&[("state", "RECOVERY_ACCEPTED")])
            .await
    }

    fn observed(&self) -> Vec<AuditRecord> {
        self.keydesk
            .audit_records()
            .into_iter()
            .filter(|r| r.outcome == "observed")
            .collect()
    }

    /// Complete a recovery in "1Password's admin console": the cloud, as its own admin.
    async fn complete_in_console(&self, id: &str) {
        let (status, body) = self.cloud.complete(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// Readings every second, so that a test sees the next one soon.
fn often() -> Setup {
    Setup::default().set("refresh_interval", "\"1s\"")
}

#[tokio::test]
async fn awaiting_completion_comes_from_ops_states() {
    let world = start(Setup::default()).await;
    let cloud_awaiting = world
        .cloud
        .list_all(&[("state", "RECOVERY_ACCEPTED")])
        .await;
    assert!(!cloud_awaiting.is_empty(), "the demo has people waiting");
    assert_eq!(world.awaiting().await, through_1password(cloud_awaiting));

    // The cloud's Users API itself calls every one of them ACTIVE.
    let ids: Vec<String> = world
        .awaiting()
        .await
        .iter()
        .map(|u| u.id.to_string())
        .collect();
    let token = world.cloud.bearer_token(super::CLIENT_ID).await;
    for id in &ids {
        let path = world.cloud.user_path(id);
        let (status, body) = world
            .cloud
            .bearer_call(reqwest::Method::GET, &path, &token)
            .await;
        assert_eq!((status, &body["state"]), (StatusCode::OK, &json!("ACTIVE")));
    }
    // One run of `op user list` per reading, whatever the size of the account.
    assert_eq!(world.readings(), 1);
    assert!(
        world.observed().is_empty(),
        "the first reading is the start"
    );
}

#[tokio::test]
async fn a_begun_recovery_stays_recovery_started_through_later_readings() {
    let world = start(often()).await;
    let person = &members(&world.cloud, "user.isActive()").await[0];
    let id = person.id.to_string();
    let (status, body) = world.keydesk.begin_recovery(&[&person.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    world.next_reading().await;
    world.next_reading().await;
    assert_eq!(
        world.listed(&person.email).await.state.as_str(),
        "RECOVERY_STARTED"
    );
    // A person's page asks the Users API (ACTIVE), and op for the state it cannot say.
    let (status, body) = world.get(&id).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("RECOVERY_STARTED"))
    );
    assert_eq!(world.op_runs("user get").len(), 1);
    assert!(
        world.observed().is_empty(),
        "Keydesk's own change: {:?}",
        world.observed()
    );
    let records = world.audited("begin_recovery");
    assert_eq!(records.len(), 1, "{records:?}");
}

#[tokio::test]
async fn a_completion_in_the_console_leaves_the_list_and_is_recorded_as_observed() {
    let world = start(often()).await;
    let person = world.first_accepted().await;
    let id = person.id.to_string();
    let mut stream = Stream::open(&world.keydesk, None).await;
    assert_eq!(stream.next().await.unwrap().kind, "hello");

    world.complete_in_console(&id).await;
    world.next_reading().await;
    assert!(!world.awaiting().await.iter().any(|u| u.id == person.id));
    assert_eq!(world.listed(&person.email).await.state.as_str(), "ACTIVE");

    let seen = world.observed();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let record = &seen[0];
    assert_eq!(
        (
            record.actor_email.as_str(),
            record.action.as_str(),
            &record.targets
        ),
        ("1Password", "complete_recovery", &vec![id.clone()])
    );
    let change = record.observed.as_ref().unwrap();
    assert_eq!(
        (change.before.as_str(), change.after.as_str()),
        ("RECOVERY_ACCEPTED", "ACTIVE")
    );

    // In the person's history, in words; and why they are Active.
    let (_, page) = world
        .keydesk
        .get_json(&format!("/api/audit?target={id}"))
        .await;
    let sentence = page["sentences"][0].as_str().unwrap();
    assert!(
        sentence.contains(
            "recovery completed in 1Password (Recovery accepted → Active), seen by Keydesk"
        ),
        "{sentence}"
    );
    assert!(sentence.starts_with(&person.display_name), "{sentence}");
    let (_, last) = world
        .keydesk
        .get_json(&format!("/api/users/{id}/last-change"))
        .await;
    assert_eq!(
        (&last["action"], &last["actor_email"], &last["observed"]),
        (
            &json!("complete_recovery"),
            &json!("1Password"),
            &json!(true)
        )
    );

    // Open pages heard of it.
    let event = loop {
        let event = stream.next().await.unwrap();
        if event.kind == "user" {
            break event;
        }
    };
    let user: User = serde_json::from_str(&event.data).unwrap();
    assert_eq!((user.id, user.state.as_str()), (person.id, "ACTIVE"));
}

#[tokio::test]
async fn a_suspension_made_elsewhere_is_seen_once() {
    let world = start(often()).await;
    let person = &members(&world.cloud, "user.isActive()").await[1];
    let id = person.id.to_string();
    let path = format!("{}:suspend", world.cloud.user_path(&id));
    assert_eq!(world.cloud.post(&path).await.0, StatusCode::OK);
    world.next_reading().await;
    world.next_reading().await;
    let seen = world.observed();
    assert_eq!(seen.len(), 1, "once, however many readings: {seen:?}");
    assert_eq!(seen[0].action.as_str(), "suspend");
    assert_eq!(
        world.listed(&person.email).await.state.as_str(),
        "SUSPENDED"
    );

    // Keydesk's own reactivation is Keydesk's record, not another seen change.
    let (status, body) = world.call(&id, "reactivate").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    world.next_reading().await;
    assert_eq!(world.observed().len(), 1);
}

#[tokio::test]
async fn without_ops_states_the_list_says_they_are_unknown() {
    // op is configured, but not signed in and unable to sign in: it cannot list anyone.
    let world = start(Setup {
        op_password: None,
        ..Setup::default()
    })
    .await;
    let page: ListUsersResponse = world.keydesk.list_page(&[]).await;
    let why = page
        .states_unknown
        .expect("the list says the states are unknown");
    assert!(why.contains("op could not list them"), "{why}");
    assert!(why.contains("You are not currently signed in"), "{why}");
    // Nobody is shown as awaiting completion, and nothing is concluded from the API's ACTIVE.
    assert!(world.awaiting().await.is_empty());
    assert!(world.observed().is_empty());
}

#[tokio::test]
async fn an_account_with_automated_provisioning_is_named_and_listed_from_op() {
    let world = start(Setup {
        automated_provisioning: true,
        ..Setup::default()
    })
    .await;
    // Listed from op alone, states and all.
    let awaiting = world.awaiting().await;
    assert!(!awaiting.is_empty());
    assert_eq!(
        awaiting[0].create_time, "",
        "op user list does not say when"
    );

    let (_, config) = world.keydesk.get_json("/api/config").await;
    assert_eq!(config["state_changes"]["available"], false);
    let why = config["state_changes"]["reason"].as_str().unwrap();
    assert!(why.contains("automated provisioning"), "{why}");
    assert!(why.contains("identity provider"), "{why}");
    let (status, health) = world.keydesk.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let degraded: Vec<&str> = health["degraded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        degraded
            .iter()
            .any(|d| d.contains("automated provisioning")),
        "{health}"
    );

    // A suspension is refused in words, without asking 1Password.
    let person = &members(&world.cloud, "user.isActive()").await[0];
    let id = person.id.to_string();
    let answer = world.call(&id, "suspend").await;
    let message = expect_error(&answer, StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert!(message.contains("identity provider"), "{message}");
    assert!(world.calls(reqwest::Method::POST, ":suspend").is_empty());
    // A person's page comes from what op listed.
    let (status, body) = world.get(&awaiting[0].id.to_string()).await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::OK, &json!("RECOVERY_ACCEPTED"))
    );
    // Recovery still begins, through op.
    let (status, body) = world.keydesk.begin_recovery(&[&person.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.cloud_state(&id), "RECOVERY_STARTED");
}
