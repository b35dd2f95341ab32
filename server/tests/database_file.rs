//! What the embedded directory keeps on disk: one SQLite file, seeded once, that outlives the
//! server.

use crate::common::TestApp;
use reqwest::StatusCode;

fn count_users(app: &TestApp) -> i64 {
    app.db()
        .query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))
        .unwrap()
}

fn seeded_with(app: &TestApp) -> String {
    app.db()
        .query_row("SELECT value FROM meta WHERE key = 'seeded'", [], |row| {
            row.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn the_first_start_creates_the_file_and_seeds_the_demo() {
    let app = TestApp::start().await;
    // The harness hands the server a data directory that does not exist yet.
    assert!(app.config.data_dir.join("keydesk.db").is_file());
    assert_eq!(seeded_with(&app), "demo");
    let listed = app.list_all(&[("max_page_size", "1000")]).await;
    assert_eq!(listed.len() as i64, count_users(&app));
    assert!(listed.len() > 50, "only {} demo users", listed.len());
}

#[tokio::test]
async fn a_generated_directory_is_not_seeded_with_the_demo() {
    let app = TestApp::builder().generated_users(40).start().await;
    assert_eq!(count_users(&app), 40);
    assert_eq!(seeded_with(&app), "generated");
    assert!(
        app.ids_where("email = 'wendy.appleseed@example.com'")
            .is_empty()
    );
    assert_eq!(app.list_all(&[]).await.len(), 40);
}

#[tokio::test]
async fn a_restart_keeps_changes_and_does_not_seed_again() {
    let app = TestApp::start().await;
    let zoe = app.id_of("zoe.lefevre@example.com");
    let users = count_users(&app);
    let (status, body) = app.post(&format!("{}:suspend", app.user_path(&zoe))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let app = app.restart().await;
    assert_eq!(count_users(&app), users);
    let (status, body) = app.get_json(&app.user_path(&zoe)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "SUSPENDED");
}

#[tokio::test]
async fn page_tokens_survive_a_restart() {
    let app = TestApp::start().await;
    let params = [("max_page_size", "10"), ("order_by", "email desc")];
    let token = app.list_page(&params).await.next_page_token.unwrap();
    let mut next = params.to_vec();
    next.push(("page_token", &token));
    let before = app.list_page(&next).await;

    let app = app.restart().await;
    let after = app.list_page(&next).await;
    assert_eq!(after, before);
}
