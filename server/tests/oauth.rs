//! The embedded server as a stand-in for the 1Password cloud's Users API authentication: OAuth 2
//! client credentials at `/v1beta1/users/oauth2/token`, revocation, and bearer tokens on the
//! Users API's four calls, with their scopes, expiry, audit and rate limit.
//!
//! Keydesk runs in proxy mode here, with no proxy in front: a request that gets in without a
//! bearer token would have to be an SSO person, and none is vouched for unless a test says so.

use std::{collections::HashSet, time::Duration};

use crate::common::{OAUTH_SECRET, TestApp, expect_error, oauth_client};
use keydesk_api::User;
use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, PRAGMA, WWW_AUTHENTICATE},
};
use serde_json::{Value, json};

/// Every scope (the default).
const CONNECTOR: &str = "keydesk-connector";
/// `get_user` only.
const READER: &str = "reader";

const ZOE_ACTIVE: &str = "zoe.lefevre@example.com";
const DMITRI_SUSPENDED: &str = "dmitri.ivanov@example.com";
const LUKASZ_RECOVERY_ACCEPTED: &str = "lukasz.wisniewski@example.com";

/// An administrator as the SSO proxy (on loopback, trusted) would vouch for them.
const ADMIN_EMAIL: &str = "amara.okafor@example.com";

/// Proxy mode on loopback, two OAuth clients, and `extra` tables.
async fn app_with(extra: &str) -> TestApp {
    let settings = format!(
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n{extra}\n\n{}\n{}",
        oauth_client(CONNECTOR, None),
        oauth_client(READER, Some(&["get_user"])),
    );
    TestApp::builder().settings(&settings, &[]).start().await
}

async fn app() -> TestApp {
    app_with("").await
}

fn as_admin(request: RequestBuilder) -> RequestBuilder {
    request
        .header("X-Forwarded-Email", ADMIN_EMAIL)
        .header("X-Forwarded-Groups", "keydesk-admins")
}

/// The OAuth error of a refused token or revocation request: its `error`, after checking it is
/// RFC 6749 §5.2's shape and not cached.
fn oauth_error(
    (status, headers, body): &(StatusCode, HeaderMap, String),
    expected: StatusCode,
) -> String {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    let body: Value = serde_json::from_str(body).expect("a JSON error");
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().expect("an error code").to_owned()
}

impl TestApp {
    /// A request to `path` with a bearer token.
    fn bearer(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub(crate) async fn bearer_call(
        &self,
        method: Method,
        path: &str,
        token: &str,
    ) -> (StatusCode, Value) {
        self.send(self.bearer(method, path, token)).await
    }

    async fn bearer_list(&self, token: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
        let path = self.users_path();
        self.send(self.bearer(Method::GET, &path, token).query(params))
            .await
    }

    fn method_path(&self, email: &str, method: &str) -> String {
        format!("{}:{method}", self.user_path(&self.id_of(email)))
    }
}

/// An invalid bearer token's answer: 401 in Keydesk's error shape, with RFC 6750's challenge.
fn expect_invalid_token((status, headers, body): (StatusCode, HeaderMap, Value)) {
    expect_error(&(status, body), StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(headers[WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
}

// ---- The token endpoint ----

#[tokio::test]
async fn a_token_is_issued_for_the_right_client_credentials() {
    let app = app().await;
    let (status, headers, body) = app
        .oauth_post(
            "token",
            Some((CONNECTOR, OAUTH_SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[PRAGMA], "no-cache");
    let body: Value = serde_json::from_str(&body).unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": 900})
    );
    assert!(token.len() >= 40, "{token}");
    // Without `scope` too, and every token is new.
    let again = app.bearer_token(CONNECTOR).await;
    assert_ne!(again, token);
    // The token is not something a client could build from what it knows.
    assert!(!token.contains(CONNECTOR) && !token.contains(OAUTH_SECRET));
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_invalid_client() {
    let app = app().await;
    let grant = [("grant_type", "client_credentials")];
    for credentials in [
        Some((CONNECTOR, "wrong secret")),
        Some((CONNECTOR, "")),
        Some(("nobody", OAUTH_SECRET)),
        // A prefix of the right secret is as wrong as any other guess.
        Some((CONNECTOR, &OAUTH_SECRET[..10])),
        None,
    ] {
        for endpoint in ["token", "revoke"] {
            let form: &[(&str, &str)] = if endpoint == "token" {
                &grant
            } else {
                &[("token", "anything")]
            };
            let answer = app.oauth_post(endpoint, credentials, form).await;
            assert_eq!(
                oauth_error(&answer, StatusCode::UNAUTHORIZED),
                "invalid_client",
                "{endpoint} {credentials:?}"
            );
            assert!(
                answer.1[WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic "),
                "{:?}",
                answer.1
            );
        }
    }
    // Each refusal is a refused sign-in in the audit trail, naming the client ID it claimed,
    // never the secret.
    assert_eq!(app.refusals(|_| true).await, 10);
    let records = app.audit_records();
    assert!(
        records
            .iter()
            .all(|r| r.action == "sign_in" && r.outcome == "denied")
    );
    assert!(
        records
            .iter()
            .any(|r| r.actor_email == format!("unverified: oauth-client:{CONNECTOR}"))
    );
    assert!(
        records
            .iter()
            .all(|r| !r.reason.contains("wrong secret") && !r.reason.contains(OAUTH_SECRET))
    );
}

#[tokio::test]
async fn only_the_client_credentials_grant_is_offered() {
    let app = app().await;
    let credentials = Some((CONNECTOR, OAUTH_SECRET));
    for (form, expected) in [
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (
            vec![("grant_type", "authorization_code")],
            "unsupported_grant_type",
        ),
        (vec![], "invalid_request"),
        (vec![("scope", "openid")], "invalid_request"),
        (
            vec![("grant_type", "client_credentials"), ("scope", "admin")],
            "invalid_scope",
        ),
    ] {
        let answer = app.oauth_post("token", credentials, &form).await;
        assert_eq!(
            oauth_error(&answer, StatusCode::BAD_REQUEST),
            expected,
            "{form:?}"
        );
    }
    // JSON is not the form the endpoint takes.
    let response = app
        .client
        .post(app.url("/v1beta1/users/oauth2/token"))
        .basic_auth(CONNECTOR, Some(OAUTH_SECRET))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let answer = (
        response.status(),
        response.headers().clone(),
        response.text().await.unwrap(),
    );
    assert_eq!(
        oauth_error(&answer, StatusCode::BAD_REQUEST),
        "invalid_request"
    );
    // And the token endpoint takes no GET.
    let response = app
        .client
        .get(app.url("/v1beta1/users/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

// ---- Bearer tokens on the Users API ----

#[tokio::test]
async fn a_bearer_client_lists_gets_suspends_and_reactivates() {
    let app = app().await;
    // No bearer, no SSO person: nobody.
    expect_error(
        &app.list(&[]).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    let token = app.bearer_token(CONNECTOR).await;

    let (status, body) = app.bearer_list(&token, &[("max_page_size", "5")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 5);

    let zoe = app.id_of(ZOE_ACTIVE);
    let (status, body) = app
        .bearer_call(Method::GET, &app.user_path(&zoe), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user: User = serde_json::from_value(body).unwrap();
    assert_eq!(user.email, ZOE_ACTIVE);

    let suspend = app.method_path(ZOE_ACTIVE, "suspend");
    let (status, body) = app.bearer_call(Method::POST, &suspend, &token).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("SUSPENDED")),
        "{body}"
    );
    assert_eq!(app.row(&zoe).0, "SUSPENDED");

    let reactivate = app.method_path(ZOE_ACTIVE, "reactivate");
    let (status, body) = app.bearer_call(Method::POST, &reactivate, &token).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("ACTIVE")),
        "{body}"
    );
    assert_eq!(app.row(&zoe).0, "ACTIVE");
}

/// The stand-in answers a Users API client as 1Password does, never more: three states, the
/// documented fields, none of Keydesk's list parameters.
#[tokio::test]
async fn a_bearer_client_is_answered_as_1passwords_users_api() {
    let app = app().await;
    let token = app.bearer_token(CONNECTOR).await;
    let (status, body) = app.bearer_list(&token, &[("max_page_size", "1000")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users = body["results"].as_array().unwrap();
    assert_eq!(users.len(), app.ids_where("1").len());
    for user in users {
        let fields: Vec<&String> = user.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "create_time",
                "display_name",
                "email",
                "id",
                "path",
                "state"
            ]
        );
        let state = user["state"].as_str().unwrap();
        assert!(
            ["ACTIVE", "SUSPENDED", "STATE_UNSPECIFIED"].contains(&state),
            "{user}"
        );
    }
    let lukasz = app.id_of(LUKASZ_RECOVERY_ACCEPTED);
    assert_eq!(app.row(&lukasz).0, "RECOVERY_ACCEPTED");
    let (_, body) = app
        .bearer_call(Method::GET, &app.user_path(&lukasz), &token)
        .await;
    assert_eq!(body["state"], "ACTIVE", "{body}");
    assert!(body.get("type").is_none() && body.get("role").is_none());
    for extension in ["q", "state", "order_by"] {
        let answer = app.bearer_list(&token, &[(extension, "ACTIVE")]).await;
        let message = expect_error(&answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
        assert!(
            message.contains(&format!("{extension} is not a parameter")),
            "{message}"
        );
    }
    // A person's page still sees Keydesk's own states and extensions.
    let (_, body) = app
        .send(as_admin(app.client.get(app.url(&app.user_path(&lukasz)))))
        .await;
    assert_eq!(body["state"], "RECOVERY_ACCEPTED", "{body}");
}

/// An account with automated provisioning: 1Password refuses the Users API to it (how is not
/// documented; the stand-in answers 403 in 1Password's own words). The token still comes.
#[tokio::test]
async fn automated_provisioning_refuses_every_users_api_call() {
    let app = app_with("[oauth]\nautomated_provisioning = true\n").await;
    let token = app.bearer_token(CONNECTOR).await;
    let zoe = app.id_of(ZOE_ACTIVE);
    let answers = [
        app.bearer_list(&token, &[]).await,
        app.bearer_call(Method::GET, &app.user_path(&zoe), &token)
            .await,
        app.bearer_call(
            Method::POST,
            &app.method_path(ZOE_ACTIVE, "suspend"),
            &token,
        )
        .await,
    ];
    for answer in &answers {
        let message = expect_error(answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert!(message.contains("automated provisioning"), "{message}");
    }
    assert_eq!(app.row(&zoe).0, "ACTIVE");
}

#[tokio::test]
async fn a_call_needing_a_scope_the_client_lacks_is_403_naming_it() {
    let app = app().await;
    let token = app.bearer_token(READER).await;
    let zoe = app.id_of(ZOE_ACTIVE);
    let before = app.tables();

    let (status, _) = app
        .bearer_call(Method::GET, &app.user_path(&zoe), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "get_user is the reader's one scope");

    let message = expect_error(
        &app.bearer_list(&token, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert!(message.contains("'list_users'"), "{message}");
    for (email, method, scope) in [
        (ZOE_ACTIVE, "suspend", "suspend_users"),
        (DMITRI_SUSPENDED, "reactivate", "reactivate_users"),
    ] {
        let answer = app
            .bearer_call(Method::POST, &app.method_path(email, method), &token)
            .await;
        let message = expect_error(&answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert!(message.contains(&format!("'{scope}'")), "{message}");
    }
    // Keydesk's extensions are beyond every scope, even the connector's.
    let connector = app.bearer_token(CONNECTOR).await;
    let answer = app
        .bearer_call(
            Method::POST,
            &app.method_path(LUKASZ_RECOVERY_ACCEPTED, "completeRecovery"),
            &connector,
        )
        .await;
    expect_error(&answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert_eq!(app.tables(), before, "a refused call changes nothing");

    // The refused changes are audited as the client's attempts.
    let denied: Vec<(String, String)> = app
        .audit_records()
        .into_iter()
        .filter(|r| r.outcome == "denied")
        .map(|r| (r.actor_email, r.action.to_string()))
        .collect();
    assert_eq!(
        denied,
        [
            ("oauth-client:reader".to_owned(), "suspend".to_owned()),
            ("oauth-client:reader".to_owned(), "reactivate".to_owned()),
            (
                "oauth-client:keydesk-connector".to_owned(),
                "complete_recovery".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = app().await;
    let token = app.bearer_token(CONNECTOR).await;
    let other = app.bearer_token(CONNECTOR).await;
    let reader_token = app.bearer_token(READER).await;
    assert_eq!(app.bearer_list(&token, &[]).await.0, StatusCode::OK);

    // Another client may not revoke it: answered the same, and the token still works.
    let (status, _, body) = app
        .oauth_post("revoke", Some((READER, OAUTH_SECRET)), &[("token", &token)])
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(app.bearer_list(&token, &[]).await.0, StatusCode::OK);

    let (status, headers, body) = app
        .oauth_post(
            "revoke",
            Some((CONNECTOR, OAUTH_SECRET)),
            &[("token", &token)],
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    expect_invalid_token(
        app.send_full(app.bearer(Method::GET, &app.users_path(), &token))
            .await,
    );
    // Whatever SSO headers come with it: the bearer speaks, and it says nobody.
    expect_invalid_token(
        app.send_full(as_admin(app.bearer(Method::GET, &app.users_path(), &token)))
            .await,
    );
    // The client's other token, and the other client's, are untouched.
    assert_eq!(app.bearer_list(&other, &[]).await.0, StatusCode::OK);
    let zoe = app.id_of(ZOE_ACTIVE);
    let (status, _) = app
        .bearer_call(Method::GET, &app.user_path(&zoe), &reader_token)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Revoking again, or a token that never was: 200 all the same (RFC 7009).
    for gone in [token.as_str(), "never-issued"] {
        let (status, _, _) = app
            .oauth_post(
                "revoke",
                Some((CONNECTOR, OAUTH_SECRET)),
                &[("token", gone)],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let answer = app
        .oauth_post("revoke", Some((CONNECTOR, OAUTH_SECRET)), &[])
        .await;
    assert_eq!(
        oauth_error(&answer, StatusCode::BAD_REQUEST),
        "invalid_request"
    );
    // A token never issued is refused like a revoked one, and both are refused sign-ins.
    expect_invalid_token(
        app.send_full(app.bearer(Method::GET, &app.users_path(), "never-issued"))
            .await,
    );
    let refused = app
        .refusals(|r| r.action == "sign_in" && r.actor_email == "unverified: bearer token")
        .await;
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn a_token_expires_after_its_lifetime() {
    let app = app_with("[oauth]\ntoken_lifetime = \"2s\"").await;
    let body = app.token_answer(CONNECTOR).await;
    assert_eq!(body["expires_in"], 2);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.bearer_list(token, &[]).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    expect_invalid_token(
        app.send_full(app.bearer(Method::GET, &app.users_path(), token))
            .await,
    );
    // A new one works again.
    let fresh = app.bearer_token(CONNECTOR).await;
    assert_eq!(app.bearer_list(&fresh, &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_bearer_token_is_refused_beyond_the_users_api() {
    let app = app().await;
    let token = app.bearer_token(CONNECTOR).await;
    let begin = keydesk_api::begin_recovery_path(&app.config.account_id);
    for (method, path) in [
        (Method::GET, "/api/session"),
        (Method::GET, "/api/config"),
        (Method::GET, "/api/state-counts"),
        (Method::GET, "/api/outbox"),
        (Method::GET, "/api/audit"),
        (Method::GET, "/api/audit/export"),
        (Method::GET, "/api/audit/verify"),
        (Method::POST, begin.as_str()),
    ] {
        let mut request = app.bearer(method.clone(), path, &token);
        if method == Method::POST {
            request = request.json(&json!({"users": [ZOE_ACTIVE]}));
        }
        let message = expect_error(
            &app.send(request).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
        assert!(message.contains("Users API"), "{method} {path}: {message}");
        // The bearer wins over SSO headers: an administrator's headers do not get it in.
        let mut request = as_admin(app.bearer(method.clone(), path, &token));
        if method == Method::POST {
            request = request.json(&json!({"users": [ZOE_ACTIVE]}));
        }
        assert_eq!(
            app.send(request).await.0,
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
    }
    assert!(app.no_email_to_zoe().await, "no recovery began");
    let refused = app
        .refusals(|r| {
            r.action == "sign_in"
                && r.outcome == "denied"
                && r.actor_email == "oauth-client:keydesk-connector"
        })
        .await;
    assert_eq!(refused, 16);
    // The same administrator without the bearer token is let in: the headers were not the
    // reason.
    let (status, body) = app
        .send(as_admin(app.client.get(app.url("/api/session"))))
        .await;
    assert_eq!(
        (status, body["email"].as_str()),
        (StatusCode::OK, Some(ADMIN_EMAIL))
    );
}

impl TestApp {
    /// No email went to Zoe: nobody began her recovery (the demo's own recoveries have theirs).
    async fn no_email_to_zoe(&self) -> bool {
        let (status, body) = self
            .send(as_admin(self.client.get(self.url("/api/outbox"))))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        !body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["to"] == ZOE_ACTIVE)
    }
}

#[tokio::test]
async fn bearer_changes_are_audited_and_rate_limited_as_the_client() {
    let app = app_with("[rate_limit]\nactions_per_minute = 2").await;
    let token = app.bearer_token(CONNECTOR).await;
    let zoe = app.id_of(ZOE_ACTIVE);
    let suspend = app.method_path(ZOE_ACTIVE, "suspend");
    // From a browser on another site, a bearer token still works: no browser sends it by itself,
    // so there is no forgery to stop.
    let request = app
        .bearer(Method::POST, &suspend, &token)
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "https://elsewhere.example");
    assert_eq!(app.send(request).await.0, StatusCode::OK);
    let (status, _) = app.bearer_call(Method::POST, &suspend, &token).await;
    assert_eq!(status, StatusCode::OK, "idempotent");
    // The third action within the minute is one too many, for this client, on any token.
    let fresh = app.bearer_token(CONNECTOR).await;
    let (status, headers, body) = app
        .send_full(app.bearer(
            Method::POST,
            &app.method_path(ZOE_ACTIVE, "reactivate"),
            &fresh,
        ))
        .await;
    expect_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
    );
    assert!(headers.contains_key("retry-after"));
    assert_eq!(app.row(&zoe).0, "SUSPENDED");
    // An SSO person is counted apart.
    let (status, body) = app
        .send(as_admin(
            app.client
                .post(app.url(&app.method_path(ZOE_ACTIVE, "reactivate"))),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let records: Vec<(String, String, Vec<String>, String)> = app
        .audit_records()
        .into_iter()
        .map(|r| {
            (
                r.actor_email,
                r.action.to_string(),
                r.targets,
                r.outcome.to_string(),
            )
        })
        .collect();
    let client = "oauth-client:keydesk-connector".to_owned();
    assert_eq!(
        records,
        [
            (
                client.clone(),
                "suspend".into(),
                vec![zoe.clone()],
                "succeeded".into()
            ),
            (
                client.clone(),
                "suspend".into(),
                vec![zoe.clone()],
                "succeeded".into()
            ),
            (
                client,
                "reactivate".into(),
                vec![zoe.clone()],
                "denied".into()
            ),
            (
                ADMIN_EMAIL.into(),
                "reactivate".into(),
                vec![zoe],
                "succeeded".into()
            ),
        ]
    );
}

// ---- The documented filters and paging, for a bearer client ----

#[tokio::test]
async fn filters_and_paging_work_for_a_bearer_client() {
    let app = app().await;
    let token = app.bearer_token(CONNECTOR).await;
    let ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let everyone = app.ids_where("1");
    assert!(
        everyone.len() > 25,
        "the demo has more than one default page"
    );
    // The Users API's filters by the API's own states: people in recovery or transfer are
    // ACTIVE to it.
    for (filter, condition) in [
        (
            "user.isActive()",
            "state = 'ACTIVE' OR state LIKE 'RECOVERY_%' OR state LIKE 'TRANSFER_%'",
        ),
        ("user.isSuspended()", "state = 'SUSPENDED'"),
        ("", "1"),
    ] {
        let (status, body) = app
            .bearer_list(&token, &[("filter", filter), ("max_page_size", "1000")])
            .await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body}");
        assert!(
            body.get("next_page_token").is_none(),
            "{filter}: one page holds all"
        );
        let expected = app.ids_where(condition);
        assert!(!expected.is_empty(), "{condition}");
        assert_eq!(sorted(ids(&body)), expected, "{filter}");
    }
    for filter in [
        "user.isDeleted()",
        "user.isActive",
        "state = ACTIVE",
        "true",
    ] {
        expect_error(
            &app.bearer_list(&token, &[("filter", filter)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
    }
    for size in ["0", "1001", "many"] {
        expect_error(
            &app.bearer_list(&token, &[("max_page_size", size)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
    }
    let (_, body) = app.bearer_list(&token, &[]).await;
    assert_eq!(ids(&body).len(), 25, "25 by default");

    // Walking every page with page_token finds everyone exactly once.
    let mut seen = Vec::new();
    let mut page_token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = vec![("max_page_size", "7")];
        if let Some(page_token) = &page_token {
            params.push(("page_token", page_token.as_str()));
        }
        let (status, body) = app.bearer_list(&token, &params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        let page = ids(&body);
        assert!(page.len() <= 7);
        seen.extend(page);
        match body["next_page_token"].as_str() {
            Some(next) => page_token = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "paging never ends");
    }
    assert_eq!(pages, everyone.len().div_ceil(7));
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no one twice"
    );
    assert_eq!(sorted(seen), everyone);
    // A page token of one filter is refused with another.
    let (_, first) = app
        .bearer_list(
            &token,
            &[("max_page_size", "2"), ("filter", "user.isActive()")],
        )
        .await;
    let next = first["next_page_token"].as_str().unwrap();
    expect_error(
        &app.bearer_list(
            &token,
            &[
                ("max_page_size", "2"),
                ("filter", "user.isSuspended()"),
                ("page_token", next),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

#[test]
fn a_configuration_with_a_malformed_digest_or_a_duplicate_client_is_refused() {
    let listen = "127.0.0.1".parse().unwrap();
    let parse = |toml: &str| {
        toml::from_str::<keydesk_server::settings::Settings>(toml)
            .map_err(|e| e.to_string())
            .and_then(|s| s.check(listen).map_err(|e| e.to_string()))
    };
    let err = parse("[[oauth.clients]]\nclient_id = \"a\"\nsecret_sha256 = \"abc\"").unwrap_err();
    assert!(err.contains("64 hex digits"), "{err}");
    let err = parse(&format!(
        "{}{}",
        oauth_client("a", None),
        oauth_client("a", None)
    ))
    .unwrap_err();
    assert!(err.contains("twice"), "{err}");
    let err = parse(&oauth_client("a:b", None)).unwrap_err();
    assert!(err.contains("':'"), "{err}");
    let err = parse(&oauth_client("a", Some(&["delete_users"]))).unwrap_err();
    assert!(err.contains("delete_users"), "{err}");
    let err = parse(&format!(
        "[oauth]\ntoken_lifetime = \"0s\"\n{}",
        oauth_client("a", None)
    ))
    .unwrap_err();
    assert!(err.contains("token_lifetime"), "{err}");
    assert!(
        parse(&format!(
            "[oauth]\ntoken_lifetime = \"1h\"\n{}",
            oauth_client("a", None)
        ))
        .is_ok()
    );
}
