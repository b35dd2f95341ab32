//! Why, and who checked: a reason and a ticket on every change, kept in the audit and its
//! export and shown as the person's last change; the configured rules for them; and completing a
//! recovery as a two-person decision with a checklist, with two identities through the SSO
//! proxy's headers.

use crate::common::{TestApp, checklist, expect_error, token_in};
use crate::sso::{
    ADMIN, HELPDESK, OTHER_ADMIN, begin_as, complete_as, get_as, method_path, proxy_app,
};
use keydesk_api::{AuditRecord, LastChange, OutboxResponse, User};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OLIVER: &str = "oliver.smith@example.com";
const ZOE: &str = "zoe.lefevre@example.com";

const RULES: &str = "[changes]\nrequire_reason = true\nticket_pattern = '^(INC|REQ)-\\d+$'\n\
                     ticket_url = 'https://desk.example.com/browse/{ticket}'\n";

async fn suspend(app: &TestApp, email: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("{}:suspend", app.user_path(&app.id_of(email)));
    app.post_json(&path, &body).await
}

fn last_record(app: &TestApp) -> AuditRecord {
    app.audit_records().pop().expect("a record")
}

async fn last_change(app: &TestApp, email: &str) -> Option<LastChange> {
    let path = format!("/api/users/{}/last-change", app.id_of(email));
    let (status, body) = app.get_json(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn a_changes_reason_and_ticket_are_in_its_record_its_export_and_the_persons_last_change() {
    let app = TestApp::start().await;
    assert_eq!(
        last_change(&app, ZOE).await,
        None,
        "the seed recorded nothing"
    );
    let said = json!({ "reason": "  parental leave ", "ticket": "INC-4211" });
    let (status, body) = suspend(&app, ZOE, said).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let record = last_record(&app);
    assert_eq!(
        (record.change_reason.as_deref(), record.ticket.as_deref()),
        (Some("parental leave"), Some("INC-4211"))
    );
    let (status, page) = app.get_json("/api/audit?max_page_size=1").await;
    assert_eq!(status, StatusCode::OK);
    let sentence = page["sentences"][0].as_str().unwrap();
    assert!(
        sentence.ends_with(
            "suspended Zoë Lefèvre <zoe.lefevre@example.com>: parental leave (INC-4211)"
        ),
        "{sentence}"
    );
    let export = app
        .client
        .get(app.url("/api/audit/export"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = export.lines().last().unwrap();
    assert!(
        line.contains(r#""change_reason":"parental leave","ticket":"INC-4211""#),
        "{line}"
    );

    let change = last_change(&app, ZOE).await.expect("a last change");
    assert_eq!(change.action.as_str(), "suspend");
    assert_eq!(change.actor_name.as_deref(), Some("Amara Okafor"));
    assert_eq!(change.reason.as_deref(), Some("parental leave"));
    assert_eq!(change.ticket.as_deref(), Some("INC-4211"));
    // Reactivated without a word: the last change says so, not the old reason.
    let path = format!("{}:reactivate", app.user_path(&app.id_of(ZOE)));
    assert_eq!(app.post(&path).await.0, StatusCode::OK);
    let change = last_change(&app, ZOE).await.expect("a last change");
    assert_eq!(
        (change.action.as_str(), change.reason),
        ("reactivate", None)
    );
    let (_, verification) = app.get_json("/api/audit/verify").await;
    assert_eq!(verification["first_broken"], Value::Null);
}

#[tokio::test]
async fn a_missing_reason_or_a_malformed_ticket_is_refused_by_name_and_changes_nothing() {
    let app = TestApp::builder().settings(RULES, &[]).start().await;
    let (_, config) = app.get_json("/api/config").await;
    assert_eq!(config["changes"]["require_reason"], true);
    assert_eq!(config["changes"]["ticket_pattern"], r"^(INC|REQ)-\d+$");
    for (body, expected) in [
        (json!({}), "a reason is required"),
        (json!({ "reason": "   " }), "a reason is required"),
        (
            json!({ "reason": "leave", "ticket": "JIRA-7" }),
            r"^(INC|REQ)-\d+$",
        ),
        (
            json!({ "reason": "x".repeat(501) }),
            "at most 500 characters",
        ),
        (
            json!({ "reason": "leave", "tickt": "INC-1" }),
            "unknown field `tickt`",
        ),
    ] {
        let before = app.tables();
        let message = expect_error(
            &suspend(&app, ZOE, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains(expected), "{body}: {message}");
        assert!(
            app.tables() == before,
            "{body}: a refused change changed the directory"
        );
        let record = last_record(&app);
        assert_eq!(
            (record.action.as_str(), record.outcome.as_str()),
            ("suspend", "failed")
        );
    }
    // Beginning a recovery follows the same rules.
    let message = expect_error(
        &app.begin_recovery(&[OLIVER]).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    assert!(message.contains("a reason is required"), "{message}");
    let said = json!({ "reason": "on leave", "ticket": "REQ-12" });
    assert_eq!(suspend(&app, ZOE, said).await.0, StatusCode::OK);
    let body = json!({ "users": [OLIVER], "reason": "lost laptop" });
    let path = keydesk_api::begin_recovery_path(&app.config.account_id);
    assert_eq!(app.post_json(&path, &body).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_embedded_directory_completes_recoveries_itself_rather_than_confirming_for_a_console() {
    let app = TestApp::start().await;
    let lukasz = app.id_of("lukasz.wisniewski@example.com");
    let body = json!({ "checked": checklist() });
    let path = format!("/api/users/{lukasz}/confirm-identity");
    let message = expect_error(
        &app.post_json(&path, &body).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("use :completeRecovery"), "{message}");
}

#[tokio::test]
async fn the_admin_who_began_a_recovery_cannot_complete_it_another_can_with_every_check() {
    let app = proxy_app("", "").await;
    let (status, body) = begin_as(&app, ADMIN, &[OLIVER]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = get_as(&app, HELPDESK, "/api/outbox").await;
    let outbox: OutboxResponse = serde_json::from_value(body).unwrap();
    let token = token_in(outbox.messages, OLIVER);
    let accept =
        json!({ "token": token, "email": OLIVER, "password": "correct horse battery staple" });
    assert_eq!(
        app.post_json("/api/recovery:accept", &accept).await.0,
        StatusCode::OK
    );
    let (_, body) = get_as(&app, HELPDESK, &app.user_path(&app.id_of(OLIVER))).await;
    let oliver: User = serde_json::from_value(body).unwrap();
    assert_eq!(oliver.recovery_started_by.as_deref(), Some(ADMIN.email));

    // The same admin: refused, audited as denied, nothing changed.
    let before = app.tables();
    let message = expect_error(
        &complete_as(&app, ADMIN, OLIVER).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert!(
        message.contains("another admin must complete it"),
        "{message}"
    );
    assert!(
        app.tables() == before,
        "a refused completion changed the directory"
    );
    let record = last_record(&app);
    assert_eq!(
        (
            record.action.as_str(),
            record.outcome.as_str(),
            record.actor_email.as_str()
        ),
        ("complete_recovery", "denied", ADMIN.email)
    );

    // Another admin, with a check left unticked: refused by name.
    let path = method_path(&app, OLIVER, "completeRecovery");
    let half = json!({ "checked": [checklist()[0]] });
    let request = OTHER_ADMIN.sign(app.client.post(app.url(&path)).json(&half));
    let message = expect_error(
        &app.send(request).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(
        message.contains(&format!("not ticked: {}", checklist()[1])),
        "{message}"
    );

    // Another admin with every check: completed, and the checks are in the record.
    let (status, body) = complete_as(&app, OTHER_ADMIN, OLIVER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "ACTIVE");
    let record = last_record(&app);
    assert_eq!(
        (
            record.outcome.as_str(),
            record.actor_email.as_str(),
            record.checked.clone()
        ),
        ("succeeded", OTHER_ADMIN.email, checklist())
    );
}
