//! The Users API's contract, as ../shared/1PASSWORD.md documents it: the documented example
//! payloads decode into Keydesk's wire types with nothing lost, and the embedded server (the
//! stand-in for the cloud the connector is tested against) answers an OAuth client with every
//! documented field in its documented form. Together they keep the connector and the stand-in
//! honest against the same text rather than against each other.

use std::collections::HashSet;

use crate::common::{TestApp, expect_error, oauth_client};
use keydesk_api::{ListUsersResponse, User, UserState};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The User object exactly as the documentation shows it.
const DOCUMENTED_USER: &str = r#"{"id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "email": "wendy_appleseed@agilebits.com",
 "display_name": "Wendy Appleseed", "state": "ACTIVE",
 "create_time": "2024-01-15T10:30:00Z", "path": "accounts/ACCOUNT123/users/IR7VJHJ36JHINBFAD7V2T5MP3E"}"#;

const DOCUMENTED_FIELDS: [&str; 6] = [
    "id",
    "email",
    "display_name",
    "state",
    "create_time",
    "path",
];

const CLIENT_ID: &str = "contract";

fn documented_user() -> Value {
    serde_json::from_str(DOCUMENTED_USER).unwrap()
}

/// A list response in the documented shape: `{"results": [User…], "next_page_token": "…"}`.
fn documented_list(next_page_token: Option<&str>) -> Value {
    let mut second = documented_user();
    second["id"] = json!("Q2A3B4C5D6E7F2G3H4I5J6K7LM");
    second["email"] = json!("suspended@agilebits.com");
    second["state"] = json!("SUSPENDED");
    second["path"] = json!("accounts/ACCOUNT123/users/Q2A3B4C5D6E7F2G3H4I5J6K7LM");
    let mut list = json!({"results": [documented_user(), second]});
    if let Some(token) = next_page_token {
        list["next_page_token"] = json!(token);
    }
    list
}

#[test]
fn the_documented_user_decodes_with_nothing_lost() {
    let user: User = serde_json::from_str(DOCUMENTED_USER).expect("the documented User decodes");
    assert_eq!(user.id.as_str(), "IR7VJHJ36JHINBFAD7V2T5MP3E");
    assert_eq!(user.email, "wendy_appleseed@agilebits.com");
    assert_eq!(user.display_name, "Wendy Appleseed");
    assert_eq!(user.state, UserState::Active);
    assert_eq!(user.create_time, "2024-01-15T10:30:00Z");
    assert_eq!(
        user.path,
        "accounts/ACCOUNT123/users/IR7VJHJ36JHINBFAD7V2T5MP3E"
    );
    // No Keydesk extension is invented on the way back out.
    assert_eq!(serde_json::to_value(&user).unwrap(), documented_user());
}

#[test]
fn states_the_api_does_not_document_survive_the_round_trip() {
    for state in ["STATE_UNSPECIFIED", "TRANSFER_PENDING", "SOMETHING_NEW"] {
        let mut documented = documented_user();
        documented["state"] = json!(state);
        let user: User = serde_json::from_value(documented.clone()).expect("an open set");
        assert_eq!(user.state.as_str(), state);
        assert_eq!(serde_json::to_value(&user).unwrap(), documented);
    }
}

#[test]
fn the_documented_list_decodes_with_nothing_lost() {
    for token in [Some("eyJvZmZzZXQiOjEwMDB9"), None] {
        let documented = documented_list(token);
        let list: ListUsersResponse =
            serde_json::from_value(documented.clone()).expect("the documented list decodes");
        assert_eq!(list.results.len(), 2);
        assert_eq!(list.results[1].state, UserState::Suspended);
        assert_eq!(list.next_page_token.as_deref(), token);
        assert_eq!(list.snapshot_time, None);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            documented,
            "{token:?}"
        );
    }
    let empty: ListUsersResponse = serde_json::from_value(json!({"results": []})).unwrap();
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({"results": []})
    );
}

/// The embedded server as the connector meets it: development sign-in, one OAuth client.
async fn cloud() -> (TestApp, String) {
    let cloud = TestApp::builder()
        .settings(&oauth_client(CLIENT_ID, None), &[])
        .start()
        .await;
    let token = cloud.bearer_token(CLIENT_ID).await;
    (cloud, token)
}

async fn bearer_get(
    cloud: &TestApp,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    cloud
        .send(
            cloud
                .client
                .get(cloud.url(path))
                .query(params)
                .bearer_auth(token),
        )
        .await
}

/// Check one user object as the server sent it: every documented field, in its documented form.
fn check_documented_fields(cloud: &TestApp, raw: &Value) {
    let object = raw.as_object().expect("a User is an object");
    for field in DOCUMENTED_FIELDS {
        assert!(object[field].is_string(), "{field} is a string: {raw}");
    }
    let id = raw["id"].as_str().unwrap();
    assert!(
        id.len() == 26
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "26 characters of upper-case base32: {id}"
    );
    assert!(raw["email"].as_str().unwrap().contains('@'), "{raw}");
    assert!(!raw["display_name"].as_str().unwrap().is_empty(), "{raw}");
    let state = raw["state"].as_str().unwrap();
    assert!(
        !state.is_empty() && state.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
        "a state name: {state}"
    );
    let created = raw["create_time"].as_str().unwrap();
    humantime::parse_rfc3339(created).unwrap_or_else(|err| panic!("{created}: {err}"));
    assert_eq!(
        raw["path"],
        format!("accounts/{}/users/{id}", cloud.account()),
        "{raw}"
    );
    // Keydesk's type carries everything the server sent: nothing is lost decoding it.
    let user: User = serde_json::from_value(raw.clone()).expect("decodes into User");
    assert_eq!(&serde_json::to_value(&user).unwrap(), raw);
}

#[tokio::test]
async fn the_embedded_server_answers_lists_and_users_as_documented() {
    let (cloud, token) = cloud().await;
    let path = cloud.users_path();

    // Default page size 25, a token while more remain, none (absent, not null) on the last.
    let mut seen = HashSet::new();
    let mut page_token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = Vec::new();
        if let Some(t) = &page_token {
            params.push(("page_token", t.as_str()));
        }
        let (status, body) = bearer_get(&cloud, &token, &path, &params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        let keys: HashSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let results = body["results"].as_array().expect("results is an array");
        for raw in results {
            check_documented_fields(&cloud, raw);
            assert!(
                seen.insert(raw["id"].as_str().unwrap().to_owned()),
                "once each"
            );
        }
        match body.get("next_page_token") {
            Some(next) => {
                assert_eq!(
                    keys,
                    HashSet::from(["results", "next_page_token"]),
                    "{body}"
                );
                assert_eq!(results.len(), 25);
                let next = next.as_str().expect("a string token");
                assert!(!next.is_empty());
                page_token = Some(next.to_owned());
            }
            None => {
                assert_eq!(keys, HashSet::from(["results"]), "{body}");
                break;
            }
        }
    }
    let everyone = cloud.ids_where("1 = 1");
    assert_eq!(seen.len(), everyone.len());
    assert!(pages >= 3, "{pages} pages");

    // Up to 1000 a page: everyone at once, and no token.
    let (_, body) = bearer_get(&cloud, &token, &path, &[("max_page_size", "1000")]).await;
    assert_eq!(body["results"].as_array().unwrap().len(), everyone.len());
    assert!(body.get("next_page_token").is_none(), "{body}");
    let answer = bearer_get(&cloud, &token, &path, &[("max_page_size", "1001")]).await;
    expect_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    // The documented filters, and nothing else.
    for (filter, state) in [
        ("user.isActive()", "ACTIVE"),
        ("user.isSuspended()", "SUSPENDED"),
    ] {
        let (status, body) = bearer_get(
            &cloud,
            &token,
            &path,
            &[("filter", filter), ("max_page_size", "1000")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let results = body["results"].as_array().unwrap();
        assert!(!results.is_empty());
        assert!(results.iter().all(|u| u["state"] == state), "{filter}");
    }
    let answer = bearer_get(&cloud, &token, &path, &[("filter", "user.isDeleted()")]).await;
    expect_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");

    // One user: the same object as in the list.
    let (_, list) = bearer_get(&cloud, &token, &path, &[("max_page_size", "5")]).await;
    for listed in list["results"].as_array().unwrap() {
        let id = listed["id"].as_str().unwrap();
        let (status, got) = bearer_get(&cloud, &token, &cloud.user_path(id), &[]).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        check_documented_fields(&cloud, &got);
        assert_eq!(&got, listed);
    }
}
