//! Account recovery over HTTP: beginning it for one to ten people (everyone or nobody), the
//! person's single-use link, accepting it, resending, completing, the outbox and the state counts,
//! and delivery to a real SMTP server.

use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use crate::common::{DEV_USER, ONE_PAIR_OF_EYES, PUBLIC_URL, TestApp, expect_error};
use keydesk_api::{BeginRecoveryResponse, MIN_PASSWORD_CHARS, StateCounts, User};
use reqwest::StatusCode;
use rusqlite::params;
use serde_json::{Value, json};
use tempfile::TempDir;

// Demo people the tests act on, named by email (their IDs come from the database).
const ZOE: &str = "zoe.lefevre@example.com"; // "Zoë Lefèvre"
const JOSE: &str = "jose.alvarez@example.com"; // "José Álvarez"
const OLIVER: &str = "oliver.smith@example.com"; // "Oliver Smith"
const NGOZI: &str = "ngozi.adeyemi@example.com"; // "Ngozi Adeyemi"
const DMITRI_SUSPENDED: &str = "dmitri.ivanov@example.com";
const ANA_RECOVERY_STARTED: &str = "ana.goncalves@example.com";
const LUKASZ_RECOVERY_ACCEPTED: &str = "lukasz.wisniewski@example.com";

const PASSWORD: &str = "correct horse battery staple";

fn user(body: Value) -> User {
    serde_json::from_value(body).expect("a User")
}

/// The people a successful begin answers with.
fn begun(answer: (StatusCode, Value)) -> Vec<User> {
    let (status, body) = answer;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value::<BeginRecoveryResponse>(body)
        .expect("a BeginRecoveryResponse")
        .users
}

fn emails(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.email.as_str()).collect()
}

fn count(app: &TestApp, sql: &str, arg: &str) -> i64 {
    app.db().query_row(sql, [arg], |row| row.get(0)).unwrap()
}

fn links_of(app: &TestApp, id: &str) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM recovery_links WHERE user_id = ?1",
        id,
    )
}

fn emails_to(app: &TestApp, email: &str) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM outbox WHERE to_address = ?1",
        email,
    )
}

/// Begin recovery for `names`, expect the refusal, check that nothing at all changed, and give
/// back the message.
async fn refuse_begin(
    app: &TestApp,
    names: &[&str],
    status: StatusCode,
    canonical: &str,
) -> String {
    let before = app.tables();
    let message = expect_error(&app.begin_recovery(names).await, status, canonical);
    assert!(
        app.tables() == before,
        "a refused begin for {names:?} changed the database"
    );
    message
}

/// `(state, recovery_started_time, two_factor_enabled, signed_in_devices)` as the database holds
/// them.
fn recovery_row(app: &TestApp, id: &str) -> (String, Option<String>, bool, i64) {
    app.db()
        .query_row(
            "SELECT state, recovery_started_time, two_factor_enabled, signed_in_devices
             FROM users WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap()
}

fn method_path(app: &TestApp, id: &str, method: &str) -> String {
    format!("{}:{method}", app.user_path(id))
}

async fn inspect(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post_json("/api/recovery:inspect", &json!({ "token": token }))
        .await
}

async fn accept(app: &TestApp, token: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "token": token, "email": email, "password": password });
    app.post_json("/api/recovery:accept", &body).await
}

/// Begin recovery for one person and accept their link: they are then RECOVERY_ACCEPTED.
async fn begin_and_accept(app: &TestApp, email: &str) {
    begun(app.begin_recovery(&[email]).await);
    let token = app.recovery_token(email).await;
    let (status, body) = accept(app, &token, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A second person with the same display name as `email`'s, written straight into the database
/// with the derived keys the server writes itself (`name_key` is copied: the name is the same).
fn insert_namesake(app: &TestApp, email: &str, namesake_email: &str) {
    let inserted = app
        .db()
        .execute(
            "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                                update_time, name_key, email_key, search_key)
             SELECT ?1, ?2, display_name, 'ACTIVE', user_type, role, create_time, update_time,
                    name_key, ?2, name_key || char(10) || ?2 || char(10) || lower(?1)
             FROM users WHERE email = ?3",
            params!["NAMESAKEAAAAAAAAAAAAAAAAAA", namesake_email, email],
        )
        .unwrap();
    assert_eq!(inserted, 1);
}

/// Poll `check` for up to ten seconds until it gives a value.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- Beginning recovery ----

#[tokio::test]
async fn begin_recovery_names_people_by_id_email_or_display_name_in_any_case() {
    let app = TestApp::start().await;
    let named = [ZOE, JOSE, OLIVER].map(|email| app.id_of(email));
    for id in &named {
        assert_eq!(recovery_row(&app, id).0, "ACTIVE");
        assert_eq!(recovery_row(&app, id).1, None);
    }
    let jose_id = named[1].as_str();

    let users = begun(
        app.begin_recovery(&["zoe LEFEVRE", jose_id, "Oliver.Smith@EXAMPLE.com"])
            .await,
    );
    // In the order named, each now RECOVERY_STARTED, in the answer as in the database.
    assert_eq!(emails(&users), [ZOE, JOSE, OLIVER]);
    for (user, id) in users.iter().zip(&named) {
        assert_eq!(user.id.as_str(), id);
        assert_eq!(user.state.as_str(), "RECOVERY_STARTED");
        let (state, started, ..) = recovery_row(&app, id);
        assert_eq!(state, "RECOVERY_STARTED");
        assert!(started.is_some(), "{id}: no recovery_started_time");
        assert_eq!(user.recovery_started_time, started);
    }
}

#[tokio::test]
async fn begin_recovery_issues_one_hashed_link_and_one_email_per_person() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE, JOSE]).await);
    for (email, display_name) in [(ZOE, "Zoë Lefèvre"), (JOSE, "José Álvarez")] {
        assert_eq!(links_of(&app, &app.id_of(email)), 1, "{email}");
        assert_eq!(emails_to(&app, email), 1, "{email}");

        let token = app.recovery_token(email).await;
        let message = app.outbox().await.into_iter().find(|m| m.to == email);
        let message = message.unwrap();
        let link = format!("{PUBLIC_URL}/recover#{token}");
        assert_eq!(message.link.as_deref(), Some(link.as_str()));
        assert!(message.body.contains(&link), "{}", message.body);
        assert!(token.len() >= 32, "a guessable token: {token}");
        let stored = format!("{:?}", app.table("recovery_links"));
        assert!(!stored.contains(&token), "the raw token is stored");

        // The stored hash still finds its person.
        let (status, info) = inspect(&app, &token).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_eq!(info["display_name"], display_name);
    }
}

#[tokio::test]
async fn begin_recovery_refuses_zero_names() {
    let app = TestApp::start().await;
    refuse_begin(&app, &[], StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await;
}

#[tokio::test]
async fn begin_recovery_refuses_eleven_names_and_accepts_ten() {
    let app = TestApp::start().await;
    let active = app.ids_where(&format!("state = 'ACTIVE' AND email != '{DEV_USER}'"));
    assert!(
        active.len() >= 11,
        "the demo has only {} active",
        active.len()
    );
    let eleven: Vec<&str> = active[..11].iter().map(String::as_str).collect();

    let message = refuse_begin(&app, &eleven, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").await;
    assert!(message.contains("11"), "{message}");

    let started_before = app.ids_where("state = 'RECOVERY_STARTED'");
    let (links_before, emails_before) =
        (app.table("recovery_links").len(), app.outbox().await.len());
    let ten = &eleven[..10];
    let users = begun(app.begin_recovery(ten).await);
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ten);
    let mut expected: Vec<String> = started_before
        .into_iter()
        .chain(ten.iter().map(|id| id.to_string()))
        .collect();
    expected.sort();
    assert_eq!(app.ids_where("state = 'RECOVERY_STARTED'"), expected);
    assert_eq!(app.table("recovery_links").len(), links_before + 10);
    assert_eq!(app.outbox().await.len(), emails_before + 10);
}

#[tokio::test]
async fn begin_recovery_refuses_a_name_matching_nobody() {
    let app = TestApp::start().await;
    for nobody in [
        "nobody@example.com",
        "No Such Person",
        "NOSUCHUSERAAAAAAAAAAAAAAAA",
    ] {
        let message = refuse_begin(&app, &[ZOE, nobody], StatusCode::NOT_FOUND, "NOT_FOUND").await;
        assert!(message.contains(nobody), "{message}");
    }
}

#[tokio::test]
async fn begin_recovery_refuses_a_display_name_shared_by_several_people() {
    let app = TestApp::start().await;
    insert_namesake(&app, ZOE, "zoe.lefevre.2@example.com");
    let message = refuse_begin(
        &app,
        &["zoë lefèvre"],
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(message.contains(ZOE), "{message}");
    assert!(message.contains("zoe.lefevre.2@example.com"), "{message}");

    // Named by email instead, either one can be recovered.
    assert_eq!(emails(&begun(app.begin_recovery(&[ZOE]).await)), [ZOE]);
}

#[tokio::test]
async fn nobody_may_begin_recovery_of_their_own_account() {
    let app = TestApp::start().await;
    let by_id = app.id_of(DEV_USER);
    for own in [DEV_USER, "AMARA.OKAFOR@example.com", "Amara Okafor", &by_id] {
        let message = refuse_begin(
            &app,
            &[ZOE, own],
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        )
        .await;
        // However the request named them, the message names them as a person knows them.
        assert!(
            message.contains("Amara Okafor <amara.okafor@example.com> is your own account"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn begin_recovery_refuses_the_same_person_twice() {
    let app = TestApp::start().await;
    for twice in [[ZOE, "ZOE.LEFEVRE@EXAMPLE.COM"], [ZOE, "Zoë Lefèvre"]] {
        let message = refuse_begin(
            &app,
            &[JOSE, twice[0], twice[1]],
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        )
        .await;
        assert!(message.contains("same person"), "{message}");
        assert!(message.contains(twice[1]), "{message}");
    }
}

#[tokio::test]
async fn begin_recovery_refuses_anyone_neither_active_nor_recovery_started() {
    let app = TestApp::start().await;
    let others = app.ids_where("state NOT IN ('ACTIVE', 'RECOVERY_STARTED')");
    assert!(
        others.contains(&app.id_of(DMITRI_SUSPENDED)),
        "the demo changed"
    );
    for id in others {
        let (state, ..) = recovery_row(&app, &id);
        let message = refuse_begin(
            &app,
            &[ZOE, &id],
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
        )
        .await;
        // In words: "is Transfer started".
        let words = keydesk_api::UserState::parse(&state).label().to_owned();
        assert!(
            message.contains(&format!("is {words}")),
            "{state}: {message}"
        );
    }
}

#[tokio::test]
async fn a_request_with_several_faults_lists_every_offending_name() {
    let app = TestApp::start().await;
    let namesake = "zoe.lefevre.2@example.com";
    insert_namesake(&app, ZOE, namesake);
    let message = refuse_begin(
        &app,
        &[
            OLIVER,
            "nobody@example.com",
            "Zoë Lefèvre",
            DEV_USER,
            JOSE,
            "josé álvarez",
            DMITRI_SUSPENDED,
        ],
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    )
    .await;
    for named in [
        "nobody@example.com",
        ZOE,
        namesake,
        DEV_USER,
        "josé álvarez",
        DMITRI_SUSPENDED,
    ] {
        assert!(message.contains(named), "{named} is missing: {message}");
    }
    assert!(!message.contains(OLIVER), "{message}");
}

#[tokio::test]
async fn begin_recovery_takes_only_a_small_json_body() {
    let app = TestApp::start().await;
    let before = app.tables();
    let path = keydesk_api::begin_recovery_path(&app.config.account_id);
    let post = |body: String| app.client.post(app.url(&path)).body(body);
    let post_json = |body: &str| post(body.to_owned()).header("content-type", "application/json");

    let unlabelled = post(json!({ "users": [ZOE] }).to_string());
    expect_error(
        &app.send(unlabelled).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    for malformed in [
        "",
        "{",
        "[]",
        "{}",
        r#"{"users": "zoe"}"#,
        r#"{"users": [1]}"#,
    ] {
        let message = expect_error(
            &app.send(post_json(malformed)).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("body"), "{malformed}: {message}");
    }
    let huge = json!({ "users": [ZOE, "x".repeat(17 * 1024)] }).to_string();
    expect_error(
        &app.send(post_json(&huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    assert!(
        app.tables() == before,
        "a refused body changed the database"
    );
}

#[tokio::test]
async fn begin_recovery_again_changes_nothing() {
    let app = TestApp::start().await;
    let first = begun(app.begin_recovery(&[ZOE]).await);
    // Begun a moment ago here, or before this server ever ran (the demo's Ana, who has no link).
    for email in [ZOE, ANA_RECOVERY_STARTED] {
        let before = app.tables();
        let again = begun(app.begin_recovery(&[email]).await);
        assert_eq!(again[0].state.as_str(), "RECOVERY_STARTED");
        assert!(app.tables() == before, "beginning {email} again changed it");
    }
    assert_eq!(begun(app.begin_recovery(&[ZOE]).await), first);
}

// ---- Resending ----

#[tokio::test]
async fn resend_recovery_sends_a_new_link_and_retires_the_old_one() {
    let app = TestApp::start().await;
    let zoe = app.id_of(ZOE);
    begun(app.begin_recovery(&[ZOE]).await);
    let old = app.recovery_token(ZOE).await;

    let (status, body) = app.post(&method_path(&app, &zoe, "resendRecovery")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user(body).state.as_str(), "RECOVERY_STARTED");
    assert_eq!((links_of(&app, &zoe), emails_to(&app, ZOE)), (2, 2));
    let new = app.recovery_token(ZOE).await;
    assert_ne!(new, old);

    let message = expect_error(
        &inspect(&app, &old).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("replaced"), "{message}");
    let message = expect_error(
        &accept(&app, &old, ZOE, PASSWORD).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("replaced"), "{message}");
    assert_eq!(recovery_row(&app, &zoe).0, "RECOVERY_STARTED");
    assert_eq!(inspect(&app, &new).await.0, StatusCode::OK);
}

#[tokio::test]
async fn resend_recovery_is_refused_unless_recovery_started() {
    let app = TestApp::start().await;
    for email in [ZOE, DMITRI_SUSPENDED, LUKASZ_RECOVERY_ACCEPTED] {
        let id = app.id_of(email);
        let before = app.tables();
        let message = expect_error(
            &app.post(&method_path(&app, &id, "resendRecovery")).await,
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
        );
        let words = keydesk_api::UserState::parse(&recovery_row(&app, &id).0)
            .label()
            .to_owned();
        assert!(message.contains(&format!("is {words}:")), "{message}");
        assert!(
            app.tables() == before,
            "a refused resend for {email} changed the database"
        );
    }
}

// ---- The person's side ----

#[tokio::test]
async fn inspecting_a_link_names_the_person_and_when_it_expires() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE]).await);
    let (status, info) = inspect(&app, &app.recovery_token(ZOE).await).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["display_name"], "Zoë Lefèvre");

    let (created, expires): (String, String) = app
        .db()
        .query_row(
            "SELECT create_time, expire_time FROM recovery_links WHERE user_id = ?1",
            [app.id_of(ZOE)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(info["expire_time"], expires.as_str());
    let lifetime = humantime::parse_rfc3339(&expires)
        .unwrap()
        .duration_since(humantime::parse_rfc3339(&created).unwrap())
        .unwrap();
    assert_eq!(lifetime, app.config.recovery_link_ttl);
}

#[tokio::test]
async fn a_forged_link_is_not_found() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE]).await);
    let real = app.recovery_token(ZOE).await;
    let before = app.tables();
    for forged in [format!("{real}x"), "A".repeat(43), String::new()] {
        let message = expect_error(
            &inspect(&app, &forged).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert!(message.contains("not valid"), "{message}");
    }
    // Once is enough: accepting hashes the password first, slowly in a debug build.
    expect_error(
        &accept(&app, &format!("{real}x"), ZOE, PASSWORD).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert!(app.tables() == before, "a forged link changed the database");
}

#[tokio::test]
async fn accepting_with_the_wrong_email_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE]).await);
    let token = app.recovery_token(ZOE).await;
    let before = app.tables();
    let message = expect_error(
        &accept(&app, &token, JOSE, PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    assert!(message.contains("email"), "{message}");
    assert!(app.tables() == before, "a wrong email changed the database");
    // The link is not spent: the right address still works.
    assert_eq!(accept(&app, &token, ZOE, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn accepting_with_a_short_password_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE]).await);
    let token = app.recovery_token(ZOE).await;
    let before = app.tables();
    let short = "p".repeat(MIN_PASSWORD_CHARS - 1);
    let message = expect_error(
        &accept(&app, &token, ZOE, &short).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    assert!(message.contains("short"), "{message}");
    assert!(
        app.tables() == before,
        "a short password changed the database"
    );
    let just_long_enough = "p".repeat(MIN_PASSWORD_CHARS);
    assert_eq!(
        accept(&app, &token, ZOE, &just_long_enough).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn accepting_a_link_gives_a_secret_key_and_stores_only_hashes() {
    let app = TestApp::start().await;
    let zoe = app.id_of(ZOE);
    begun(app.begin_recovery(&[ZOE]).await);
    let token = app.recovery_token(ZOE).await;

    let (status, body) = accept(&app, &token, ZOE, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret_key = body["secret_key"].as_str().unwrap();
    let shape =
        regex::Regex::new(r"^A3(-[2-9A-HJ-NP-TV-Z]{6}){2}(-[2-9A-HJ-NP-TV-Z]{5}){5}$").unwrap();
    assert!(shape.is_match(secret_key), "{secret_key}");
    assert_eq!(recovery_row(&app, &zoe).0, "RECOVERY_ACCEPTED");

    let (password_hash, secret_key_hash): (String, String) = app
        .db()
        .query_row(
            "SELECT password_hash, secret_key_hash FROM credentials WHERE user_id = ?1",
            [&zoe],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(password_hash.starts_with("$argon2id$"), "{password_hash}");
    let stored = format!("{:?}", app.table("credentials"));
    assert!(
        !stored.contains(PASSWORD),
        "the password is stored in the clear"
    );
    assert!(
        !stored.contains(secret_key),
        "the Secret Key is stored in the clear"
    );
    assert_ne!(secret_key_hash, password_hash);
}

#[tokio::test]
async fn a_used_link_is_refused() {
    let app = TestApp::start().await;
    begun(app.begin_recovery(&[ZOE]).await);
    let token = app.recovery_token(ZOE).await;
    assert_eq!(accept(&app, &token, ZOE, PASSWORD).await.0, StatusCode::OK);
    let before = app.tables();
    let message = expect_error(
        &accept(&app, &token, ZOE, "another good password").await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("already been used"), "{message}");
    expect_error(
        &inspect(&app, &token).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(app.tables() == before, "a used link changed the database");
}

#[tokio::test]
async fn an_expired_link_is_refused_and_changes_nothing() {
    let app = TestApp::builder()
        .config(|config| config.recovery_link_ttl = Duration::from_secs(1))
        .start()
        .await;
    let zoe = app.id_of(ZOE);
    begun(app.begin_recovery(&[ZOE]).await);
    let token = app.recovery_token(ZOE).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let before = app.tables();
    let message = expect_error(
        &inspect(&app, &token).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("expired"), "{message}");
    let message = expect_error(
        &accept(&app, &token, ZOE, PASSWORD).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("expired"), "{message}");
    assert!(
        app.tables() == before,
        "an expired link changed the database"
    );
    assert_eq!(recovery_row(&app, &zoe).0, "RECOVERY_STARTED");
}

// ---- Completing ----

#[tokio::test]
async fn complete_recovery_activates_and_resets_two_factor_and_devices() {
    let app = TestApp::builder()
        .settings(ONE_PAIR_OF_EYES, &[])
        .start()
        .await;
    let zoe = app.id_of(ZOE);
    begin_and_accept(&app, ZOE).await;
    let (state, _, two_factor, devices) = recovery_row(&app, &zoe);
    assert_eq!(state, "RECOVERY_ACCEPTED");
    assert!(
        two_factor && devices > 0,
        "nothing to reset: {two_factor} {devices}"
    );

    let (status, body) = app.complete(&zoe).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let completed = user(body);
    assert_eq!(completed.state.as_str(), "ACTIVE");
    assert_eq!(completed.two_factor_enabled, Some(false));
    assert_eq!(completed.signed_in_devices, Some(0));
    let (state, _, two_factor, devices) = recovery_row(&app, &zoe);
    assert_eq!((state.as_str(), two_factor, devices), ("ACTIVE", false, 0));
}

#[tokio::test]
async fn complete_recovery_again_is_idempotent() {
    let app = TestApp::start().await;
    let lukasz = app.id_of(LUKASZ_RECOVERY_ACCEPTED);
    let (status, first) = app.complete(&lukasz).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let before = app.tables();
    assert_eq!(app.complete(&lukasz).await, (StatusCode::OK, first));
    assert!(
        app.tables() == before,
        "completing again changed the database"
    );
}

#[tokio::test]
async fn complete_recovery_is_refused_from_any_other_state() {
    let app = TestApp::start().await;
    // Recovered and completed, then suspended and reactivated: ACTIVE, but not just completed.
    let lukasz = app.id_of(LUKASZ_RECOVERY_ACCEPTED);
    let (status, body) = app.complete(&lukasz).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for method in ["suspend", "reactivate"] {
        let (status, body) = app.post(&method_path(&app, &lukasz, method)).await;
        assert_eq!(status, StatusCode::OK, "{method}: {body}");
    }
    for email in [
        ANA_RECOVERY_STARTED,
        ZOE,
        DMITRI_SUSPENDED,
        LUKASZ_RECOVERY_ACCEPTED,
    ] {
        let id = app.id_of(email);
        let before = app.tables();
        let message = expect_error(
            &app.complete(&id).await,
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
        );
        let words = keydesk_api::UserState::parse(&recovery_row(&app, &id).0)
            .label()
            .to_owned();
        assert!(
            message.contains(&format!("their state is {words}")),
            "{message}"
        );
        assert!(
            app.tables() == before,
            "a refused complete for {email} changed the database"
        );
    }
}

#[tokio::test]
async fn two_people_go_through_the_whole_lifecycle() {
    let app = TestApp::builder()
        .settings(ONE_PAIR_OF_EYES, &[])
        .start()
        .await;
    let people = [OLIVER, NGOZI];
    let users = begun(app.begin_recovery(&["oliver smith", "Ngozi Adeyemi"]).await);
    assert_eq!(emails(&users), people);

    for email in people {
        let token = app.recovery_token(email).await;
        assert_eq!(inspect(&app, &token).await.0, StatusCode::OK);
        let (status, body) = accept(&app, &token, email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{email}: {body}");
        assert_eq!(recovery_row(&app, &app.id_of(email)).0, "RECOVERY_ACCEPTED");
    }
    for user in &users {
        let (status, body) = app.complete(user.id.as_str()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for user in &users {
        let (state, started, two_factor, devices) = recovery_row(&app, user.id.as_str());
        assert_eq!(
            (state.as_str(), started, two_factor, devices),
            ("ACTIVE", None, false, 0)
        );
    }
}

// ---- Concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_begins_for_one_person_issue_one_link() {
    let app = Arc::new(TestApp::start().await);
    let mut calls = tokio::task::JoinSet::new();
    for name in [ZOE, "Zoë Lefèvre", "zoe lefevre", "ZOE.LEFEVRE@EXAMPLE.COM"].repeat(2) {
        let app = app.clone();
        calls.spawn(async move { app.begin_recovery(&[name]).await });
    }
    for answer in calls.join_all().await {
        assert_eq!(emails(&begun(answer)), [ZOE]);
    }
    assert_eq!(links_of(&app, &app.id_of(ZOE)), 1);
    assert_eq!(emails_to(&app, ZOE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completes_agree_on_one_activation() {
    let app = Arc::new(TestApp::start().await);
    let lukasz = app.id_of(LUKASZ_RECOVERY_ACCEPTED);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (app, lukasz) = (app.clone(), lukasz.clone());
        calls.spawn(async move { app.complete(&lukasz).await });
    }
    let answers = calls.join_all().await;
    let (state, update_time) = app.row(&app.id_of(LUKASZ_RECOVERY_ACCEPTED));
    assert_eq!(state, "ACTIVE");
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "ACTIVE");
        assert_eq!(body["update_time"], update_time.as_str());
    }
}

// ---- State counts and the outbox ----

/// `GET /api/state-counts` as a map, checked against the database's own count.
async fn state_counts(app: &TestApp) -> BTreeMap<String, u64> {
    let (status, body) = app.get_json("/api/state-counts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let counts: StateCounts = serde_json::from_value(body).unwrap();
    let counts: BTreeMap<String, u64> = counts
        .counts
        .into_iter()
        .map(|c| (c.state.to_string(), c.count))
        .collect();

    let conn = app.db();
    let mut statement = conn
        .prepare("SELECT state, COUNT(*) FROM users GROUP BY state")
        .unwrap();
    let in_database: BTreeMap<String, u64> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(counts, in_database);
    counts
}

#[tokio::test]
async fn state_counts_match_the_database_and_follow_a_begin() {
    let app = TestApp::start().await;
    let before = state_counts(&app).await;
    begun(app.begin_recovery(&[ZOE, JOSE]).await);
    let after = state_counts(&app).await;
    assert_eq!(after["ACTIVE"], before["ACTIVE"] - 2);
    assert_eq!(after["RECOVERY_STARTED"], before["RECOVERY_STARTED"] + 2);
}

#[tokio::test]
async fn the_outbox_lists_the_newest_email_first() {
    let app = TestApp::start().await;
    let seeded = app.outbox().await.len();
    begun(app.begin_recovery(&[ZOE]).await);
    begun(app.begin_recovery(&[JOSE]).await);
    begun(app.begin_recovery(&[OLIVER, NGOZI]).await);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), seeded + 4);
    let to: Vec<&str> = outbox.iter().take(4).map(|m| m.to.as_str()).collect();
    assert_eq!(to, [NGOZI, OLIVER, JOSE, ZOE]);
    for pair in outbox.windows(2) {
        assert!(pair[0].id > pair[1].id && pair[0].create_time >= pair[1].create_time);
    }
}

// ---- SMTP ----

/// A loopback port nothing listens on (until someone binds it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A real SMTP server, PyPI's aiosmtpd (`scripts/setup` installs it), that files every message
/// it receives in a maildir. Stopped when dropped.
struct MailServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl MailServer {
    async fn start() -> MailServer {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python3");
        let mut server = MailServer { child, port, dir };
        eventually("aiosmtpd to accept connections", || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited ({status}): is it installed? scripts/setup installs it");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .await;
        server
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far, as text with `\n` line ends.
    fn messages(&self) -> Vec<String> {
        let Ok(files) = std::fs::read_dir(self.dir.path().join("maildir/new")) else {
            return Vec::new();
        };
        files
            .map(|file| std::fs::read_to_string(file.unwrap().path()).unwrap())
            .map(|text| text.replace("\r\n", "\n"))
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of a header in a message's header block.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// `(sent_time, last_error, body, link)` of the outbox row of Oliver's email (the demo's own
/// recoveries have theirs too).
fn outbox_row(app: &TestApp) -> (Option<String>, Option<String>, String, Option<String>) {
    app.db()
        .query_row(
            "SELECT sent_time, last_error, body, link FROM outbox WHERE to_address = ?1",
            [OLIVER],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn recovery_email_goes_out_by_smtp_and_leaves_no_link_behind() {
    let mail = MailServer::start().await;
    let app = TestApp::builder()
        .config(|config| config.smtp_url = Some(mail.url()))
        .start()
        .await;
    begun(app.begin_recovery(&[OLIVER]).await);

    let message = eventually("the email at the mail server", || {
        mail.messages()
            .into_iter()
            .find(|m| m.contains(&format!("To: {OLIVER}")))
    })
    .await;
    let (headers, body) = message.split_once("\n\n").expect("headers, then a body");
    assert_eq!(header(headers, "To"), Some(OLIVER), "{headers}");
    assert_eq!(
        header(headers, "Subject"),
        Some("Recover your 1Password account")
    );
    assert!(
        header(headers, "From")
            .unwrap()
            .contains("keydesk@localhost"),
        "{headers}"
    );
    let link = regex::Regex::new(&format!(
        r"{}/recover#([A-Za-z0-9_-]+)",
        regex::escape(PUBLIC_URL)
    ))
    .unwrap();
    let token = &link
        .captures(body)
        .unwrap_or_else(|| panic!("no link in: {body}"))[1];
    let (status, info) = inspect(&app, token).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["display_name"], "Oliver Smith");

    // Sent: the outbox keeps that it was, not the live link.
    let (_, last_error, body, link) = eventually("the email to be marked sent", || {
        let row = outbox_row(&app);
        row.0.is_some().then_some(row)
    })
    .await;
    assert_eq!((last_error, body.as_str(), link), (None, "", None));
    let listed = app.outbox().await;
    assert_eq!(listed[0].to, OLIVER);
    assert!(listed[0].sent_time.is_some() && listed[0].link.is_none());
}

#[tokio::test]
async fn with_smtp_down_begin_still_succeeds_and_the_email_waits() {
    let closed = free_port();
    let app = TestApp::builder()
        .config(|config| config.smtp_url = Some(format!("smtp://127.0.0.1:{closed}")))
        .start()
        .await;
    let oliver = app.id_of(OLIVER);
    begun(app.begin_recovery(&[OLIVER]).await);
    assert_eq!(recovery_row(&app, &oliver).0, "RECOVERY_STARTED");

    let (sent_time, _, body, link) = eventually("the failed delivery to be recorded", || {
        let row = outbox_row(&app);
        row.1.is_some().then_some(row)
    })
    .await;
    assert_eq!(sent_time, None);
    let link = link.expect("an unsent email keeps its link");
    assert!(body.contains(&link), "{body}");
    // The person can still be given the link by hand.
    let token = app.recovery_token(OLIVER).await;
    assert_eq!(inspect(&app, &token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn accepting_links_is_rate_limited_by_address_for_people_not_signed_in() {
    let app = TestApp::builder()
        .settings("[rate_limit]\nrecovery_links_per_minute = 2\n", &[])
        .start()
        .await;
    let forged = "forged-token-that-keydesk-never-issued";
    for _ in 0..2 {
        let (status, body) = accept(&app, forged, "someone@example.com", "a long password").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    let (status, headers, body) = app
        .send_full(
            app.client
                .post(app.url("/api/recovery:accept"))
                .json(&json!({
                    "token": forged, "email": "someone@example.com", "password": "a long password"
                })),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn everyone_the_demo_has_in_recovery_started_has_a_live_link_and_its_email() {
    let app = TestApp::start().await;
    let started = app.ids_where("state = 'RECOVERY_STARTED'");
    assert!(started.len() >= 3, "{started:?}");
    let outbox = app.outbox().await;
    for id in started {
        let email: String = app
            .db()
            .query_row("SELECT email FROM users WHERE id = ?1", [&id], |row| {
                row.get(0)
            })
            .unwrap();
        let token = crate::common::token_in(outbox.clone(), &email);
        let (status, info) = inspect(&app, &token).await;
        assert_eq!(status, StatusCode::OK, "{email}: {info}");
    }
}

#[tokio::test]
async fn the_demos_recoveries_changed_when_they_began_and_were_accepted_recently() {
    let app = TestApp::start().await;
    let accepted = app.ids_where("state = 'RECOVERY_ACCEPTED'");
    assert!(accepted.len() >= 3, "{accepted:?}");
    let now = SystemTime::now();
    for id in accepted {
        let (created, started, updated): (String, String, String) = app
            .db()
            .query_row(
                "SELECT create_time, recovery_started_time, update_time FROM users WHERE id = ?1",
                [&id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        let at = |time: &str| humantime::parse_rfc3339(time).unwrap();
        // "Waiting since" reads update_time: the acceptance, not the account's creation.
        assert!(
            at(&updated) > at(&started),
            "{id}: {updated} before {started}"
        );
        assert!(
            at(&updated) > at(&created),
            "{id}: {updated} not after {created}"
        );
        assert!(now.duration_since(at(&updated)).unwrap() < Duration::from_secs(7 * 24 * 3600));
    }
    // Those whose recovery began last changed when it began.
    for id in app.ids_where("state = 'RECOVERY_STARTED'") {
        let (started, updated): (String, String) = app
            .db()
            .query_row(
                "SELECT recovery_started_time, update_time FROM users WHERE id = ?1",
                [&id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(updated, started, "{id}");
    }
}

#[tokio::test]
async fn beginning_again_says_that_no_new_email_went_out() {
    let app = TestApp::start().await;
    let (status, body) = app.begin_recovery(&[ZOE, ANA_RECOVERY_STARTED]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response: BeginRecoveryResponse = serde_json::from_value(body).unwrap();
    assert_eq!(response.users.len(), 2);
    // Zoë was active: an email went to her; Ana's recovery was already under way: none did.
    assert_eq!(
        response.emailed,
        [keydesk_api::UserId::parse(&app.id_of(ZOE)).unwrap()]
    );
    let outbox = app.outbox().await;
    assert_eq!(outbox.iter().filter(|m| m.to == ZOE).count(), 1);
    assert_eq!(
        outbox
            .iter()
            .filter(|m| m.to == ANA_RECOVERY_STARTED)
            .count(),
        1,
        "only the demo's own"
    );
}
