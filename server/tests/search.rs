//! `q` over HTTP beyond the basics in users_api.rs: queries too short for the trigram index, `%`
//! in a name, people written into the database by something else, state changes, and paging
//! through a generated crowd in every order.

use std::collections::HashSet;

use crate::common::{TestApp, fold};
use keydesk_api::User;
use reqwest::StatusCode;

fn matches(user: &User, q: &str) -> bool {
    let needle = fold(q.trim());
    fold(&user.display_name).contains(&needle)
        || fold(&user.email).contains(&needle)
        || user.id.as_str().to_lowercase().contains(&needle)
}

fn ids(users: &[User]) -> Vec<String> {
    let mut ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn one_and_two_character_queries_find_exactly_who_contains_them() {
    let app = TestApp::start().await;
    let everyone = app.list_all(&[("max_page_size", "1000")]).await;
    for q in ["z", "Ø", "é", "ov", "山", "@e", "7", "Zo"] {
        let found = app.list_all(&[("q", q), ("max_page_size", "7")]).await;
        let expected: Vec<User> = everyone.iter().filter(|u| matches(u, q)).cloned().collect();
        assert_eq!(ids(&found), ids(&expected), "q={q:?}");
    }
}

/// Someone written straight into the database, as an import would, with the derived keys the
/// server writes itself.
fn insert(app: &TestApp, id: &str, name: &str, email: &str) {
    let name_key = fold(name);
    let search_key = format!("{name_key}\n{}\n{}", fold(email), id.to_lowercase());
    app.db()
        .execute(
            "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                                update_time, name_key, email_key, search_key)
             VALUES (?1, ?2, ?3, 'ACTIVE', 'MEMBER', 'MEMBER', '2024-01-01T00:00:00Z',
                     '2024-01-01T00:00:00Z', ?4, ?2, ?5)",
            rusqlite::params![id, email, name, name_key, search_key],
        )
        .unwrap();
}

#[tokio::test]
async fn percent_and_underscore_in_a_name_are_found_literally() {
    let app = TestApp::start().await;
    insert(
        &app,
        "PERCENTAAAAAAAAAAAAAAAAAAA",
        "Ann 100% Remote",
        "ann.remote@example.com",
    );
    insert(
        &app,
        "UNDERSCOREAAAAAAAAAAAAAAAA",
        "Bo_Berg",
        "bo.berg@example.com",
    );
    for (q, who) in [
        ("0% r", vec!["Ann 100% Remote"]),
        ("%", vec!["Ann 100% Remote"]),
        ("100%", vec!["Ann 100% Remote"]),
        ("o_b", vec!["Bo_Berg"]),
        ("_", vec!["Bo_Berg"]),
        ("100_", vec![]),
        ("o%b", vec![]),
    ] {
        let found = app.list_all(&[("q", q)]).await;
        let names: Vec<&str> = found.iter().map(|u| u.display_name.as_str()).collect();
        assert_eq!(names, who, "q={q:?}");
    }
}

#[tokio::test]
async fn search_follows_a_state_change() {
    let app = TestApp::start().await;
    let zoe = app.id_of("zoe.lefevre@example.com");
    let suspended_zoe = || app.list_page(&[("q", "zoë"), ("state", "SUSPENDED")]);
    assert!(suspended_zoe().await.results.is_empty());

    let (status, body) = app.post(&format!("{}:suspend", app.user_path(&zoe))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = suspended_zoe().await.results;
    assert_eq!(ids(&found), [zoe]);
    assert_eq!(found[0].state.as_str(), "SUSPENDED");
    let active = app
        .list_page(&[("q", "lefevre"), ("filter", "user.isActive()")])
        .await;
    assert!(active.results.is_empty(), "{:?}", active.results);
}

/// A query's pages, in every order, hold each person who matches exactly once, in order, across
/// page boundaries: whichever way the server finds them (few matches, many, or under three
/// characters).
#[tokio::test]
async fn paging_a_search_of_thousands_misses_and_repeats_nobody() {
    let app = TestApp::builder().generated_users(3_000).start().await;
    let everyone = app.list_all(&[("max_page_size", "1000")]).await;
    assert_eq!(everyone.len(), 3_000);
    for q in ["zoltán", "son", "ada abara", "a", "12", "example", "nobody"] {
        let expected: Vec<User> = everyone.iter().filter(|u| matches(u, q)).cloned().collect();
        for order_by in ["display_name", "email desc", "state", "create_time desc"] {
            let params = [("q", q), ("order_by", order_by), ("max_page_size", "97")];
            let found = app.list_all(&params).await;
            let unique: HashSet<&str> = found.iter().map(|u| u.id.as_str()).collect();
            assert_eq!(unique.len(), found.len(), "{params:?} repeats someone");
            assert_eq!(ids(&found), ids(&expected), "{params:?}");
        }
    }
}
