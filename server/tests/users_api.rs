//! The Users API over HTTP: listing, searching, sorting, paging, getting, suspending and
//! reactivating, and every way a request can be wrong.

use std::{collections::HashSet, sync::Arc};

use crate::common::{TestApp, expect_error, fold};
use keydesk_api::User;
use reqwest::{Method, StatusCode};

// Demo users the tests act on, named by email (their IDs come from the database).
const ZOE: &str = "zoe.lefevre@example.com";
const JOSE: &str = "jose.alvarez@example.com";
const WENDY_OWNER: &str = "wendy.appleseed@example.com";
const NIKOLAI_OWNER: &str = "nikolai.odegard@example.com";
const DMITRI_SUSPENDED: &str = "dmitri.ivanov@example.com";
const ANA_RECOVERY_STARTED: &str = "ana.goncalves@example.com";

#[tokio::test]
async fn q_finds_letters_unicode_does_not_decompose() {
    let app = TestApp::start().await;
    let found = app.list_page(&[("q", "lukasz wisniewski")]).await;
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].display_name, "Łukasz Wiśniewski");
    let found = app.list_page(&[("q", "nikolai odegard")]).await;
    assert_eq!(found.results.len(), 1);
    assert_eq!(found.results[0].email, NIKOLAI_OWNER);
}

fn ids(users: &[User]) -> Vec<String> {
    let mut ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    ids.sort();
    ids
}

/// What a list sorted by `order_by` must be non-decreasing (or, for `desc`, non-increasing) in.
fn assert_sorted(users: &[User], order_by: &str) {
    let (field, desc) = match order_by.split_once(' ') {
        Some((field, direction)) => (field, direction == "desc"),
        None => (order_by, false),
    };
    let key = |user: &User| match field {
        "display_name" => fold(&user.display_name),
        "email" => user.email.to_lowercase(),
        "state" => user.state.to_string(),
        "create_time" => user.create_time.clone(),
        other => panic!("no sort key for {other}"),
    };
    for pair in users.windows(2) {
        let (a, b) = (key(&pair[0]), key(&pair[1]));
        let in_order = if desc { a >= b } else { a <= b };
        assert!(in_order, "order_by {order_by}: {a:?} before {b:?}");
    }
}

fn suspend_path(app: &TestApp, id: &str) -> String {
    format!("{}:suspend", app.user_path(id))
}

fn reactivate_path(app: &TestApp, id: &str) -> String {
    format!("{}:reactivate", app.user_path(id))
}

fn user(body: serde_json::Value) -> User {
    serde_json::from_value(body).expect("a User")
}

// ---- Listing and paging ----

#[tokio::test]
async fn list_pages_by_25_with_a_token_only_while_more_remain() {
    let app = TestApp::start().await;
    let total = app.ids_where("1 = 1").len();
    // 25 is the Users API's documented default, not just whatever the server's constant says.
    assert!(total > 2 * 25, "the demo is too small: {total}");

    let mut seen = Vec::new();
    let mut page = app.list_page(&[]).await;
    loop {
        let remaining = total - seen.len();
        assert_eq!(page.results.len(), remaining.min(25));
        seen.extend(page.results);
        match page.next_page_token {
            Some(token) => {
                assert!(seen.len() < total, "a token after the last user");
                page = app.list_page(&[("page_token", &token)]).await;
            }
            None => break,
        }
    }
    assert_eq!(ids(&seen), app.ids_where("1 = 1"));
}

#[tokio::test]
async fn a_page_that_ends_on_the_last_user_has_no_token() {
    let app = TestApp::start().await;
    let total = app.ids_where("1 = 1").len().to_string();
    let one_less = (app.ids_where("1 = 1").len() - 1).to_string();

    let exact = app.list_page(&[("max_page_size", &total)]).await;
    assert_eq!(exact.results.len().to_string(), total);
    assert_eq!(exact.next_page_token, None);

    let short = app.list_page(&[("max_page_size", &one_less)]).await;
    let token = short.next_page_token.expect("one user is left");
    let last = app.list_page(&[("page_token", &token)]).await;
    assert_eq!(last.results.len(), 1);
    assert_eq!(last.next_page_token, None);
}

#[tokio::test]
async fn max_page_size_accepts_1_to_1000() {
    let app = TestApp::start().await;
    let one = app.list_page(&[("max_page_size", "1")]).await;
    assert_eq!(one.results.len(), 1);
    assert!(one.next_page_token.is_some());

    let all = app.list_page(&[("max_page_size", "1000")]).await;
    assert_eq!(ids(&all.results), app.ids_where("1 = 1"));
    assert_eq!(all.next_page_token, None);
}

#[tokio::test]
async fn max_page_size_outside_1_to_1000_is_refused() {
    let app = TestApp::start().await;
    for bad in [
        "0",
        "1001",
        "-1",
        "+5",
        "abc",
        "2.5",
        "99999999999999999999",
    ] {
        let message = expect_error(
            &app.list(&[("max_page_size", bad)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("max_page_size"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn filter_returns_only_active_or_only_suspended_users() {
    let app = TestApp::start().await;
    for (filter, state) in [
        ("user.isActive()", "ACTIVE"),
        ("user.isSuspended()", "SUSPENDED"),
    ] {
        let users = app.list_all(&[("filter", filter)]).await;
        assert!(users.iter().all(|u| u.state.as_str() == state), "{filter}");
        assert_eq!(
            ids(&users),
            app.ids_where(&format!("state = '{state}'")),
            "{filter}"
        );
    }
}

#[tokio::test]
async fn any_other_filter_is_refused_by_name() {
    let app = TestApp::start().await;
    for bad in [
        "user.isDeleted()",
        "isActive",
        "user.isActive() OR user.isSuspended()",
        "state = ACTIVE",
    ] {
        let message = expect_error(
            &app.list(&[("filter", bad)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("filter"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn state_selects_any_known_state_and_refuses_unknown_ones() {
    let app = TestApp::start().await;
    let recovering = app.list_all(&[("state", "RECOVERY_STARTED")]).await;
    assert!(!recovering.is_empty());
    assert_eq!(
        ids(&recovering),
        app.ids_where("state = 'RECOVERY_STARTED'")
    );

    for bad in ["FROZEN", "recovery_started", "ACTIVE,SUSPENDED"] {
        let message = expect_error(
            &app.list(&[("state", bad)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("state"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn q_ignores_case_and_accents_and_matches_name_email_or_id() {
    let app = TestApp::start().await;
    let everyone = app.list_all(&[("max_page_size", "1000")]).await;
    let zoe = app.id_of(ZOE);
    let jose = app.id_of(JOSE);
    let zoe_id_part = &zoe[5..15];

    for (q, must_find) in [
        ("zoe", &zoe),
        ("LEFEVRE", &zoe),
        ("Zoë", &zoe),
        // With a space, only the display name can match: the email has a dot there.
        ("zoe lefevre", &zoe),
        ("ZOË LEFÈVRE", &zoe),
        ("jose alvarez", &jose),
        ("JOSÉ", &jose),
        ("  e.lefevre@exa  ", &zoe),
        (zoe_id_part, &zoe),
        (&zoe_id_part.to_lowercase(), &zoe),
    ] {
        let found = app.list_all(&[("q", q)]).await;
        assert!(
            found.iter().any(|u| u.id.as_str() == must_find),
            "q={q:?} misses {must_find}"
        );
        // Nobody else sneaks in and nobody who matches is left out.
        let needle = fold(q.trim());
        let expected: Vec<User> = everyone
            .iter()
            .filter(|u| {
                fold(&u.display_name).contains(&needle)
                    || fold(&u.email).contains(&needle)
                    || u.id.as_str().to_lowercase().contains(&needle)
            })
            .cloned()
            .collect();
        assert_eq!(ids(&found), ids(&expected), "q={q:?}");
    }
}

#[tokio::test]
async fn q_takes_percent_and_underscore_literally() {
    let app = TestApp::start().await;
    let exact = app.list_page(&[("q", "wendy.appleseed")]).await;
    assert_eq!(exact.results.len(), 1);
    // As LIKE wildcards these would match the same person; taken literally they match nobody.
    for q in ["wendy_appleseed", "wendy%appleseed", "%", "_", "\\"] {
        let page = app.list_page(&[("q", q)]).await;
        assert!(page.results.is_empty(), "q={q:?} found {:?}", page.results);
    }
}

#[tokio::test]
async fn a_too_long_q_is_refused() {
    let app = TestApp::start().await;
    let long = "a".repeat(201);
    let message = expect_error(
        &app.list(&[("q", &long)]).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    assert!(message.contains("q"), "{message}");
}

#[tokio::test]
async fn order_by_sorts_every_field_both_ways() {
    let app = TestApp::start().await;
    let everyone = app.ids_where("1 = 1");
    for field in ["display_name", "email", "state", "create_time"] {
        for order_by in [
            field.to_owned(),
            format!("{field} asc"),
            format!("{field} desc"),
        ] {
            let users = app
                .list_page(&[("order_by", &order_by), ("max_page_size", "1000")])
                .await
                .results;
            assert_eq!(ids(&users), everyone, "{order_by}");
            assert_sorted(&users, &order_by);
        }
    }
}

#[tokio::test]
async fn display_name_order_ignores_accents() {
    let app = TestApp::start().await;
    let names: Vec<String> = app
        .list_page(&[("order_by", "display_name"), ("max_page_size", "1000")])
        .await
        .results
        .into_iter()
        .map(|u| u.display_name)
        .collect();
    let at = |name: &str| names.iter().position(|n| n == name).expect(name);
    // By code point "Ö" sorts after every ASCII letter; folded, "Ömer" sits among the O's.
    assert!(at("Oliver Smith") < at("Ömer Çelik"), "{names:?}");
    assert!(at("Ömer Çelik") < at("Pedro Santos"), "{names:?}");
}

#[tokio::test]
async fn an_unknown_order_by_is_refused() {
    let app = TestApp::start().await;
    for bad in [
        "password",
        "email sideways",
        "email desc extra",
        "display_name,email",
        "DISPLAY_NAME",
    ] {
        let message = expect_error(
            &app.list(&[("order_by", bad)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("order_by"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn an_altered_or_foreign_page_token_is_refused() {
    let app = TestApp::start().await;
    let token = app
        .list_page(&[("max_page_size", "10")])
        .await
        .next_page_token
        .unwrap();
    let (payload, signature) = token.split_once('.').unwrap();
    let flip = |text: &str, at: usize| -> String {
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    };
    let other_server = TestApp::start().await;
    let foreign = other_server
        .list_page(&[("max_page_size", "10")])
        .await
        .next_page_token
        .unwrap();

    for bad in [
        format!("{}.{signature}", flip(payload, 5)),
        format!("{payload}.{}", flip(signature, 5)),
        payload.to_owned(),
        "garbage".to_owned(),
        "a.b".to_owned(),
        foreign,
    ] {
        let message = expect_error(
            &app.list(&[("max_page_size", "10"), ("page_token", &bad)])
                .await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("page_token"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn a_page_token_only_continues_its_own_query() {
    let app = TestApp::start().await;
    let token = app
        .list_page(&[("q", "a"), ("max_page_size", "5")])
        .await
        .next_page_token
        .unwrap();
    // The same query goes on, even at another page size.
    app.list_page(&[("q", "a"), ("max_page_size", "7"), ("page_token", &token)])
        .await;
    for changed in [
        vec![("q", "b")],
        vec![("q", "a"), ("order_by", "email")],
        vec![("q", "a"), ("filter", "user.isActive()")],
        vec![("q", "a"), ("state", "ACTIVE")],
    ] {
        let mut params = changed.clone();
        params.push(("page_token", &token));
        let message = expect_error(
            &app.list(&params).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(
            message.contains("different query"),
            "{changed:?}: {message}"
        );
    }
}

/// Keyset paging over thousands of people: every walk, in every order and filter, visits each
/// person exactly once and in order, ties included (there are only a few distinct states).
#[tokio::test]
async fn walking_every_page_misses_and_repeats_nobody() {
    let app = TestApp::builder().generated_users(3_000).start().await;
    // (filter, order_by, the same people in SQL)
    let walks = [
        ("", "display_name", "1 = 1"),
        ("", "email desc", "1 = 1"),
        ("", "state", "1 = 1"),
        ("", "state desc", "1 = 1"),
        ("", "create_time", "1 = 1"),
        ("user.isActive()", "state desc", "state = 'ACTIVE'"),
        (
            "user.isSuspended()",
            "create_time desc",
            "state = 'SUSPENDED'",
        ),
    ];
    assert_eq!(app.ids_where("1 = 1").len(), 3_000);
    for (filter, order_by, condition) in walks {
        let params = [
            ("filter", filter),
            ("order_by", order_by),
            ("max_page_size", "97"),
        ];
        let users = app.list_all(&params).await;
        let unique: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(unique.len(), users.len(), "{params:?} repeats someone");
        assert_eq!(ids(&users), app.ids_where(condition), "{params:?}");
        assert_sorted(&users, order_by);
    }
}

// ---- Getting one user ----

#[tokio::test]
async fn get_user_returns_what_the_database_holds() {
    let app = TestApp::start().await;
    let id = app.id_of(ZOE);
    let (status, body) = app.get_json(&app.user_path(&id)).await;
    assert_eq!(status, StatusCode::OK);
    let zoe = user(body);
    assert_eq!(zoe.id.as_str(), id);
    assert_eq!(zoe.email, ZOE);
    assert_eq!(zoe.display_name, "Zoë Lefèvre");
    assert_eq!(zoe.path, format!("accounts/{}/users/{id}", app.account()));
    let (state, update_time) = app.row(&id);
    assert_eq!(zoe.state.as_str(), state);
    assert_eq!(zoe.update_time, Some(update_time));
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let app = TestApp::start().await;
    let nobody = "A".repeat(26);
    assert!(app.ids_where(&format!("id = '{nobody}'")).is_empty());
    let message = expect_error(
        &app.get_json(&app.user_path(&nobody)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert!(message.contains(&nobody), "{message}");
}

#[tokio::test]
async fn a_malformed_user_id_is_refused() {
    let app = TestApp::start().await;
    let real = app.id_of(ZOE);
    let with = |digit: char| format!("{}{digit}", &real[..25]);
    for bad in [
        "ABC".to_owned(),
        real.to_lowercase(),
        with('0'),
        with('1'),
        with('8'),
        with('9'),
        format!("{real}A"),
    ] {
        let message = expect_error(
            &app.get_json(&app.user_path(&bad)).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("user ID"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn another_account_is_not_found_and_a_malformed_one_is_refused() {
    let app = TestApp::start().await;
    let zoe = app.id_of(ZOE);
    let other = "B".repeat(26);
    assert_ne!(other, app.account());
    let malformed = app.account().to_lowercase();
    for (account, expected, canonical) in [
        (other.as_str(), StatusCode::NOT_FOUND, "NOT_FOUND"),
        ("demo", StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
        (
            malformed.as_str(),
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        ),
    ] {
        let users = format!("/v1beta1/accounts/{account}/users");
        let message = expect_error(&app.get_json(&users).await, expected, canonical);
        assert!(message.contains("account"), "{account}: {message}");
        expect_error(
            &app.get_json(&format!("{users}/{zoe}")).await,
            expected,
            canonical,
        );
        expect_error(
            &app.post(&format!("{users}/{zoe}:suspend")).await,
            expected,
            canonical,
        );
    }
    assert_eq!(app.row(&zoe).0, "ACTIVE", "a refused call changed the user");
}

// ---- Suspending and reactivating ----

#[tokio::test]
async fn suspend_turns_an_active_user_suspended_in_the_database() {
    let app = TestApp::start().await;
    let id = app.id_of(ZOE);
    let (state_before, time_before) = app.row(&id);
    assert_eq!(state_before, "ACTIVE");

    let (status, body) = app.post(&suspend_path(&app, &id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let suspended = user(body);
    assert_eq!(suspended.state.as_str(), "SUSPENDED");
    let (state, update_time) = app.row(&id);
    assert_eq!(state, "SUSPENDED");
    assert_ne!(update_time, time_before, "update_time did not move");
    assert_eq!(suspended.update_time, Some(update_time));
    // Suspended means signed out everywhere, as the dialog says.
    assert_eq!(suspended.signed_in_devices, Some(0));
}

/// Call a custom method on someone already in its target state: a 200 with the user exactly as
/// the database had them, and the row untouched, `update_time` included.
async fn assert_changes_nothing(app: &TestApp, path: &str, id: &str) {
    let (state, update_time) = app.row(id);
    let (status, body) = app.post(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = user(body);
    assert_eq!(answer.state.as_str(), state);
    assert_eq!(answer.update_time.as_ref(), Some(&update_time));
    assert_eq!(app.row(id), (state, update_time));
}

#[tokio::test]
async fn suspend_is_idempotent() {
    let app = TestApp::start().await;
    // Suspended long ago (their update_time is old, so a rewrite would show)...
    let dmitri = app.id_of(DMITRI_SUSPENDED);
    assert_changes_nothing(&app, &suspend_path(&app, &dmitri), &dmitri).await;
    // ...or a moment ago.
    let zoe = app.id_of(ZOE);
    app.post(&suspend_path(&app, &zoe)).await;
    assert_changes_nothing(&app, &suspend_path(&app, &zoe), &zoe).await;
}

#[tokio::test]
async fn reactivate_turns_a_suspended_user_active_in_the_database() {
    let app = TestApp::start().await;
    let id = app.id_of(DMITRI_SUSPENDED);
    let (state_before, time_before) = app.row(&id);
    assert_eq!(state_before, "SUSPENDED");

    let (status, body) = app.post(&reactivate_path(&app, &id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let active = user(body);
    assert_eq!(active.state.as_str(), "ACTIVE");
    let (state, update_time) = app.row(&id);
    assert_eq!(state, "ACTIVE");
    assert_ne!(update_time, time_before, "update_time did not move");
    assert_eq!(active.update_time, Some(update_time));
}

#[tokio::test]
async fn reactivate_is_idempotent() {
    let app = TestApp::start().await;
    // Active all along...
    let jose = app.id_of(JOSE);
    assert_changes_nothing(&app, &reactivate_path(&app, &jose), &jose).await;
    // ...or reactivated a moment ago.
    let dmitri = app.id_of(DMITRI_SUSPENDED);
    app.post(&reactivate_path(&app, &dmitri)).await;
    assert_changes_nothing(&app, &reactivate_path(&app, &dmitri), &dmitri).await;
}

#[tokio::test]
async fn reactivating_a_recovering_user_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let id = app.id_of(ANA_RECOVERY_STARTED);
    let row = app.row(&id);
    assert_eq!(row.0, "RECOVERY_STARTED");
    let message = expect_error(
        &app.post(&reactivate_path(&app, &id)).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(
        message.contains("their state is Recovery started"),
        "{message}"
    );
    assert_eq!(app.row(&id), row);
}

#[tokio::test]
async fn suspending_anyone_neither_active_nor_suspended_is_refused() {
    let app = TestApp::start().await;
    let others = app.ids_where("state NOT IN ('ACTIVE', 'SUSPENDED')");
    assert!(others.len() >= 5, "the demo lacks other states");
    for id in others {
        let row = app.row(&id);
        let message = expect_error(
            &app.post(&suspend_path(&app, &id)).await,
            StatusCode::CONFLICT,
            "FAILED_PRECONDITION",
        );
        // In words: "their state is Transfer started".
        let words = keydesk_api::UserState::parse(&row.0).label().to_owned();
        assert!(
            message.contains(&format!("their state is {words}")),
            "{}: {message}",
            row.0
        );
        assert_eq!(app.row(&id), row);
    }
}

#[tokio::test]
async fn suspending_the_last_owner_is_refused() {
    let app = TestApp::start().await;
    let wendy = app.id_of(WENDY_OWNER);
    let nikolai = app.id_of(NIKOLAI_OWNER);
    assert_eq!(
        app.ids_where("role = 'OWNER' AND state = 'ACTIVE'").len(),
        2
    );

    let (status, body) = app.post(&suspend_path(&app, &wendy)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = expect_error(
        &app.post(&suspend_path(&app, &nikolai)).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    assert!(message.contains("last"), "{message}");
    assert_eq!(app.row(&nikolai).0, "ACTIVE");

    // With the other owner back, the refusal lifts.
    app.post(&reactivate_path(&app, &wendy)).await;
    let (status, body) = app.post(&suspend_path(&app, &nikolai)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_unknown_custom_method_is_not_found() {
    let app = TestApp::start().await;
    let id = app.id_of(ZOE);
    for method in ["delete", "Suspend", ""] {
        let message = expect_error(
            &app.post(&format!("{}:{method}", app.user_path(&id))).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert!(message.contains(":suspend"), "{method}: {message}");
    }
    assert_eq!(app.row(&id).0, "ACTIVE");
}

#[tokio::test]
async fn custom_methods_need_post_and_post_needs_a_custom_method() {
    let app = TestApp::start().await;
    let id = app.id_of(ZOE);
    let message = expect_error(
        &app.get_json(&suspend_path(&app, &id)).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert!(message.contains("POST"), "{message}");
    expect_error(
        &app.post(&app.user_path(&id)).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert_eq!(app.row(&id).0, "ACTIVE");
}

#[tokio::test]
async fn custom_methods_take_an_empty_body_or_a_json_object_only() {
    let app = TestApp::start().await;
    let id = app.id_of(ZOE);
    let call = |body: String| {
        app.client
            .post(app.url(&suspend_path(&app, &id)))
            .header("content-type", "application/json")
            .body(body)
    };
    for bad in ["[1]", "not json", "\"text\"", "{", "\r"] {
        let message = expect_error(
            &app.send(call(bad.to_owned())).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains("body"), "{bad}: {message}");
    }
    let padding = "x".repeat(20 * 1024);
    expect_error(
        &app.send(call(format!(r#"{{"pad":"{padding}"}}"#))).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    assert_eq!(app.row(&id).0, "ACTIVE", "a refused body suspended them");

    for good in ["", "{}", "null"] {
        let (status, body) = app.send(call(good.to_owned())).await;
        assert_eq!(status, StatusCode::OK, "{good:?}: {body}");
        assert_eq!(app.row(&id).0, "SUSPENDED");
    }
}

// ---- Routes ----

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = TestApp::start().await;
    let zoe = app.id_of(ZOE);
    for path in [
        "/v1beta1".to_owned(),
        "/v1beta1/nope".to_owned(),
        format!("/v1beta1/accounts/{}/groups", app.account()),
        format!("{}/{zoe}/devices", app.users_path()),
        format!("{}/", app.users_path()),
        "/api".to_owned(),
        "/api/nope".to_owned(),
        "/api/config/extra".to_owned(),
    ] {
        let message = expect_error(
            &app.get_json(&path).await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
        assert!(message.contains("no route"), "{path}: {message}");
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_a_json_405() {
    let app = TestApp::start().await;
    let zoe = app.user_path(&app.id_of(ZOE));
    for (method, path) in [
        (Method::DELETE, app.users_path()),
        (Method::POST, app.users_path()),
        (Method::PUT, zoe.clone()),
        (Method::DELETE, zoe.clone()),
        (Method::PATCH, format!("{zoe}:suspend")),
        (Method::POST, "/api/config".to_owned()),
        (Method::PUT, "/healthz".to_owned()),
        (Method::DELETE, "/openapi.json".to_owned()),
    ] {
        let message = expect_error(
            &app.send(app.client.request(method.clone(), app.url(&path)))
                .await,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        );
        assert!(
            message.contains(method.as_str()),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(app.row(&app.id_of(ZOE)).0, "ACTIVE");
}

/// Inputs meant to trip a parser: each is refused or answered, never a server error (`send`
/// checks that every answer here is JSON and not a 500).
#[tokio::test]
async fn odd_input_is_never_a_server_error() {
    let app = TestApp::start().await;
    let users = app.users_path();
    let zoe = app.id_of(ZOE);
    for path in [
        format!("{users}?max_page_size=1&max_page_size=2"),
        format!("{users}?q=%FF%FE"),
        format!("{users}?q=%00"),
        format!("{users}?q=%"),
        format!("{users}?order_by=%20"),
        format!("{users}?page_token=..."),
        format!("{users}?page_token=%FF.%FF"),
        format!("{users}/%FF"),
        format!("{users}/{}", "A".repeat(10_000)),
        format!("{users}/{zoe}:suspend:suspend"),
        "/v1beta1/accounts/%FF/users".to_owned(),
        format!("/v1beta1/accounts/{}/users/{zoe}%3Asuspend", app.account()),
    ] {
        let (status, body) = app.get_json(&path).await;
        assert!(!status.is_server_error(), "{path}: {status} {body}");
    }
    for path in [
        format!("{users}/{zoe}::suspend"),
        format!("{users}/{zoe}:suspend:suspend"),
        format!("{users}/:suspend"),
        format!("{users}/%FF:suspend"),
    ] {
        let (status, body) = app.post(&path).await;
        assert!(status.is_client_error(), "{path}: {status} {body}");
    }
    assert_eq!(app.row(&zoe).0, "ACTIVE");
}

// ---- Concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_suspends_of_one_user_all_agree() {
    let app = Arc::new(TestApp::start().await);
    let id = app.id_of(ZOE);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, path) = (app.clone(), suspend_path(&app, &id));
        calls.spawn(async move { app.post(&path).await });
    }
    let answers = calls.join_all().await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
    // One change happened: every answer shows the same SUSPENDED user, as the database does.
    let (state, update_time) = app.row(&id);
    assert_eq!(state, "SUSPENDED");
    for (_, body) in &answers {
        assert_eq!(body["state"], "SUSPENDED");
        assert_eq!(body["update_time"], update_time.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_suspends_of_both_owners_leave_one_active() {
    let app = Arc::new(TestApp::start().await);
    let owners = [app.id_of(WENDY_OWNER), app.id_of(NIKOLAI_OWNER)];
    for round in 0..10 {
        let mut calls = tokio::task::JoinSet::new();
        for id in owners.clone() {
            let app = app.clone();
            calls.spawn(async move { (app.post(&suspend_path(&app, &id)).await.0, id) });
        }
        let answers = calls.join_all().await;
        let suspended: Vec<&String> = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .map(|(_, id)| id)
            .collect();
        let refused = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::CONFLICT)
            .count();
        assert_eq!(
            (suspended.len(), refused),
            (1, 1),
            "round {round}: {answers:?}"
        );
        assert_eq!(
            app.ids_where("role = 'OWNER' AND state = 'ACTIVE'").len(),
            1,
            "round {round}"
        );
        assert_eq!(app.row(suspended[0]).0, "SUSPENDED");
        app.post(&reactivate_path(&app, suspended[0])).await;
    }
}

#[tokio::test]
async fn nobody_suspends_or_reactivates_themselves_and_the_refusal_is_denied() {
    let app = TestApp::start().await;
    let me = app.id_of(crate::common::DEV_USER);
    for method in ["suspend", "reactivate"] {
        let (status, body) = app.post(&format!("{}:{method}", app.user_path(&me))).await;
        let message = expect_error(&(status, body), StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert!(message.contains("is your own account"), "{message}");
        assert!(
            message.contains(&format!("nobody may {method} their own account")),
            "{message}"
        );
        let record = app.audit_records().pop().unwrap();
        assert_eq!(
            (record.action.as_str(), record.outcome.as_str()),
            (method, "denied")
        );
    }
    assert_eq!(app.row(&me).0, "ACTIVE");
}

#[tokio::test]
async fn a_refusal_by_a_rule_is_denied_and_an_error_failed() {
    let app = TestApp::start().await;
    // A state that does not allow it: someone suspended cannot have recovery completed.
    let suspended = app.ids_where("state = 'SUSPENDED'").remove(0);
    let (status, _) = app.complete(&suspended).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.audit_records().pop().unwrap().outcome.as_str(),
        "denied"
    );
    // Someone who is not there: an error.
    let (status, _) = app
        .post(&format!(
            "{}:suspend",
            app.user_path("NOSUCHUSERAAAAAAAAAAAAAAAA")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.audit_records().pop().unwrap().outcome.as_str(),
        "failed"
    );
}
