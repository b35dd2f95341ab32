//! Everything besides the Users API itself: health, the page's configuration, serving the built
//! page, compression, and the OpenAPI document, held to what the server really does.

use crate::common::{
    INDEX_HTML, OAUTH_SECRET, RECORDS_HTML, RECOVER_HTML, TestApp, expect_error, oauth_client,
};
use keydesk_server::config::DEMO_ACCOUNT_ID;
use reqwest::{
    Method, StatusCode,
    header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY},
};
use serde_json::{Value, json};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A GET whose answer is not JSON: status, one header, body.
async fn get_raw(app: &TestApp, path: &str, header: &str) -> (StatusCode, Option<String>, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let value = response
        .headers()
        .get(header)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, value, response.text().await.unwrap())
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::start().await;
    assert_eq!(
        app.get_json("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn page_config_names_the_account_and_the_embedded_directory() {
    let app = TestApp::start().await;
    let (status, body) = app.get_json("/api/config").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["account_id"], DEMO_ACCOUNT_ID);
    assert_eq!(body["directory"], "embedded");
}

#[tokio::test]
async fn the_root_and_deep_links_get_the_page_uncached() {
    let app = TestApp::start().await;
    for path in [
        "/",
        "/users?q=x",
        "/users/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "/index.html",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name| response.headers()[name].to_str().unwrap().to_owned();
        assert!(header(CONTENT_TYPE).starts_with("text/html"), "{path}");
        assert_eq!(header(CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(response.text().await.unwrap(), INDEX_HTML, "{path}");
    }
}

#[tokio::test]
async fn the_recovery_link_gets_its_own_page_which_the_policy_lets_run() {
    let app = TestApp::start().await;
    for path in ["/recover", "/recover/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header(CACHE_CONTROL), "no-cache", "{path}");
        let csp = header(reqwest::header::CONTENT_SECURITY_POLICY);
        assert_eq!(response.text().await.unwrap(), RECOVER_HTML, "{path}");
        // Its inline loader is allowed by its hash, like the admin page's.
        use sha2::Digest;
        let script = "import init from '/recover/recover-0123456789abcdef.js';";
        let hash = data_encoding::BASE64.encode(&sha2::Sha256::digest(script));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    }
}

#[tokio::test]
async fn the_record_pages_get_their_own_program() {
    let app = TestApp::start().await;
    for path in ["/outbox", "/outbox/", "/audit", "/scheduled"] {
        let (status, cache, body) = get_raw(&app, path, "cache-control").await;
        assert_eq!(
            (status, cache.as_deref()),
            (StatusCode::OK, Some("no-cache")),
            "{path}"
        );
        assert_eq!(body, RECORDS_HTML, "{path}");
    }
}

// ---- The users list's first rows, written into the page ----

/// A built page with a `<body>` to write the first rows into, as Trunk's has.
const PAGE_WITH_BODY: &str = "<!doctype html><html><head><title>Keydesk test page</title>\
    </head><body><noscript>Keydesk needs JavaScript.</noscript></body></html>";

/// Put [`PAGE_WITH_BODY`] in the app's dist.
fn with_body(app: &TestApp) {
    std::fs::write(
        app.config.dist.as_deref().unwrap().join("index.html"),
        PAGE_WITH_BODY,
    )
    .unwrap();
}

/// The page at `path` as `sign` sends it for: status, `Cache-Control`, `Vary`, body.
async fn page_as(
    app: &TestApp,
    path: &str,
    sign: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, String, String, String) {
    let response = sign(app.client.get(app.url(path))).send().await.unwrap();
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (cache, vary) = (header(CACHE_CONTROL), header(VARY));
    assert!(header(CONTENT_TYPE).starts_with("text/html"), "{path}");
    (
        response.status(),
        cache,
        vary,
        response.text().await.unwrap(),
    )
}

/// The user IDs of the rows written into a page, in order.
fn boot_ids(html: &str) -> Vec<String> {
    let boot = html
        .split_once(r#"<div id="boot">"#)
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    regex::Regex::new(r#"<tr data-user-id="([^"]*)""#)
        .unwrap()
        .captures_iter(boot)
        .map(|c| c[1].to_owned())
        .collect()
}

/// The IDs the API lists for the page's first request of a view.
async fn first_page_ids(app: &TestApp, params: &[(&str, &str)]) -> Vec<String> {
    let rows = keydesk_api::USERS_PAGE_ROWS.to_string();
    let mut params = params.to_vec();
    params.push(("max_page_size", &rows));
    let page = app.list_page(&params).await;
    page.results.iter().map(|u| u.id.to_string()).collect()
}

#[tokio::test]
async fn a_signed_in_person_gets_the_first_rows_in_the_page_uncached_and_private() {
    let app = TestApp::start().await;
    with_body(&app);
    for path in ["/", "/users"] {
        let (status, cache, vary, html) = page_as(&app, path, |r| r).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cache, "no-cache, private", "{path}");
        assert!(vary.contains("cookie"), "{path}: Vary {vary}");
        // The page as built around them: the rows go first in the body.
        let (head, rest) = html.split_once(r#"<div id="boot">"#).unwrap();
        assert_eq!(
            head,
            "<!doctype html><html><head><title>Keydesk test page</title></head><body>"
        );
        assert!(rest.ends_with("<noscript>Keydesk needs JavaScript.</noscript></body></html>"));
        assert!(!html.contains("<script"), "no script of its own");
        // The page's default view: its page size, by name.
        let ids = boot_ids(&html);
        assert_eq!(ids.len(), keydesk_api::USERS_PAGE_ROWS as usize);
        assert_eq!(ids, first_page_ids(&app, &[]).await, "{path}");
        assert!(html.contains(r#"aria-sort="ascending" class="sortable">Name"#));
    }
    // One row as the app draws it (the page's own component): the name over the email, the
    // role in words, the badge's words and colour, the day.
    let dmitri = app.id_of("dmitri.ivanov@example.com");
    let (_, _, _, html) = page_as(&app, "/?q=dmitri", |r| r).await;
    assert_eq!(boot_ids(&html), std::slice::from_ref(&dmitri));
    assert!(html.contains(&format!(r#"<a href="/users/{dmitri}">Дмитрий Иванов</a>"#)));
    assert!(
        html.contains(r#"<span data-state="SUSPENDED" class="badge badge-stop">Suspended</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="email">dmitri.ivanov@example.com</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<td class="role">Member</td>"#), "{html}");
}

#[tokio::test]
async fn the_first_rows_follow_the_views_search_state_and_order() {
    let app = TestApp::start().await;
    with_body(&app);
    for (path, params) in [
        (
            "/?q=example.com&state=ACTIVE",
            &[("q", "example.com"), ("state", "ACTIVE")][..],
        ),
        ("/users?q=zo%C3%AB", &[("q", "zoë")][..]),
        (
            "/users?state=RECOVERY_ACCEPTED&order_by=email+desc",
            &[("state", "RECOVERY_ACCEPTED"), ("order_by", "email desc")][..],
        ),
        ("/?order_by=create_time", &[("order_by", "create_time")][..]),
    ] {
        let (status, cache, _, html) = page_as(&app, path, |r| r).await;
        assert_eq!(
            (status, cache.as_str()),
            (StatusCode::OK, "no-cache, private")
        );
        let expected = first_page_ids(&app, params).await;
        assert!(!expected.is_empty(), "{path}");
        assert_eq!(boot_ids(&html), expected, "{path}");
    }
    let (_, _, _, html) = page_as(&app, "/?state=RECOVERY_ACCEPTED", |r| r).await;
    assert!(html.contains("<h1>Recoveries awaiting completion</h1>"));
}

#[tokio::test]
async fn html_in_a_name_is_written_as_text() {
    let app = TestApp::start().await;
    with_body(&app);
    let (_, _, _, html) = page_as(&app, "/?q=html.injection", |r| r).await;
    assert_eq!(boot_ids(&html).len(), 1);
    assert!(
        html.contains("&lt;img src=x onerror=alert('pwned')&gt;"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
}

#[tokio::test]
async fn without_rows_to_show_the_page_goes_as_built() {
    let app = TestApp::start().await;
    with_body(&app);
    for path in [
        // A view the API refuses: the app shows why.
        "/?state=NOT_A_STATE",
        "/?q=nobody-is-called-this",
        // Not the users list.
        "/users/ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "/index.html",
    ] {
        let (status, cache, _, html) = page_as(&app, path, |r| r).await;
        assert_eq!(
            (status, cache.as_str(), html.as_str()),
            (StatusCode::OK, "no-cache", PAGE_WITH_BODY),
            "{path}"
        );
    }
    // An OAuth client is not a person opening the page.
    let (_, cache, _, html) = page_as(&app, "/", |r| r.bearer_auth("whatever")).await;
    assert_eq!(
        (cache.as_str(), html.as_str()),
        ("no-cache", PAGE_WITH_BODY)
    );
}

#[tokio::test]
async fn only_people_who_may_read_users_get_the_first_rows() {
    let app = TestApp::builder()
        .settings("[auth]\nmode = \"proxy\"\n\n[auth.proxy]\n", &[])
        .start()
        .await;
    with_body(&app);
    // No headers at all for nobody; the SSO proxy's for a person.
    let person = |who: Option<(&'static str, &'static str)>| {
        move |request: reqwest::RequestBuilder| match who {
            None => request,
            Some((email, groups)) => request
                .header("X-Forwarded-Email", email)
                .header("X-Forwarded-Groups", groups),
        }
    };
    // Not signed in, and signed in with groups that give no role: the page as built, which
    // says why once the app asks the API; it still varies by who asks.
    for (who, sign) in [
        ("nobody", person(None)),
        (
            "no role",
            person(Some(("someone@example.com", "marketing"))),
        ),
    ] {
        let (status, cache, vary, html) = page_as(&app, "/", sign).await;
        assert_eq!(
            (status, cache.as_str(), html.as_str()),
            (StatusCode::OK, "no-cache", PAGE_WITH_BODY),
            "{who}"
        );
        assert!(
            vary.to_lowercase().contains("x-forwarded-email"),
            "{who}: {vary}"
        );
    }
    // Viewers may read users: the least role that sees the list.
    let (_, cache, vary, html) = page_as(
        &app,
        "/",
        person(Some(("taro.yamada@example.com", "keydesk-viewers"))),
    )
    .await;
    assert_eq!(cache, "no-cache, private");
    assert!(vary.to_lowercase().contains("x-forwarded-groups"), "{vary}");
    assert_eq!(boot_ids(&html).len(), keydesk_api::USERS_PAGE_ROWS as usize);
    // Nothing of this is audited: the page is not an API call.
    assert!(app.audit_records().is_empty());
}

#[tokio::test]
async fn the_page_with_rows_is_compressed_on_the_fly() {
    let app = TestApp::start().await;
    with_body(&app);
    let response = app
        .client
        .get(app.url("/"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    let vary = response.headers().get_all(VARY).iter().count();
    assert!(vary >= 2, "Vary for the encoding and for the person");
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_and_others_are_not() {
    let app = TestApp::start().await;
    for (file, cache) in [
        ("keydesk-0123456789abcdef.js", IMMUTABLE),
        ("keydesk-0123456789abcdef_bg.wasm", IMMUTABLE),
        ("style-fedcba9876543210.css", IMMUTABLE),
        ("keydesk.js", "no-cache"),
        // Trunk prints its hash without leading zeros: 15 digits happen (main-acca2c689de7cc8.css).
        ("main-acca2c689de7cc8.css", IMMUTABLE),
        ("keydesk-0123.js", "no-cache"),
        ("keydesk-release.js", "no-cache"),
    ] {
        let content = format!("content of {file}");
        std::fs::write(app.config.dist.as_deref().unwrap().join(file), &content).unwrap();
        let answer = get_raw(&app, &format!("/{file}"), CACHE_CONTROL.as_str()).await;
        assert_eq!(answer, (StatusCode::OK, Some(cache.to_owned()), content));
    }
}

/// A stale page asking for an asset that is gone gets the SPA fallback: that answer must not be
/// pinned in caches for a year under the asset's name.
#[tokio::test]
async fn a_missing_hashed_asset_is_not_cached_for_good() {
    let app = TestApp::start().await;
    let (_, cache, _) = get_raw(&app, "/keydesk-0123456789abcdef.js", CACHE_CONTROL.as_str()).await;
    assert_eq!(cache.as_deref(), Some("no-cache"));
}

#[tokio::test]
async fn an_unbuilt_page_is_a_json_503_and_the_api_still_works() {
    let app = TestApp::start().await;
    std::fs::remove_file(app.config.dist.as_deref().unwrap().join("index.html")).unwrap();
    let message = expect_error(
        &app.get_json("/users").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    assert!(message.contains("built"), "{message}");
    assert_eq!(app.get_json("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn posting_to_the_page_is_a_json_405() {
    let app = TestApp::start().await;
    expect_error(
        &app.post("/users").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn json_is_gzipped_for_clients_that_accept_it() {
    let app = TestApp::start().await;
    let url = app.url(&format!("{}?max_page_size=100", app.users_path()));

    let plain = app.client.get(&url).send().await.unwrap();
    assert_eq!(plain.headers().get(CONTENT_ENCODING), None);
    let plain_len = plain.bytes().await.unwrap().len();

    let gzipped = app
        .client
        .get(&url)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()[CONTENT_ENCODING], "gzip");
    let body = gzipped.bytes().await.unwrap();
    assert_eq!(body[..2], [0x1f, 0x8b], "not a gzip stream");
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert!(body.len() < plain_len, "{} >= {plain_len}", body.len());
}

// ---- The OpenAPI document, held to the server ----

async fn openapi_document(app: &TestApp) -> Value {
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// A validator for one schema of the document, its `$ref`s resolved against the document's
/// own components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&schema).expect("the document's schema compiles")
}

fn component(doc: &Value, name: &str) -> jsonschema::Validator {
    validator(
        doc,
        &json!({"$ref": format!("#/components/schemas/{name}")}),
    )
}

/// The routes the server answers, as `router.rs` lists them.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1beta1/accounts/{account_id}/users"),
    ("get", "/v1beta1/accounts/{account_id}/users/{user_id}"),
    (
        "post",
        "/v1beta1/accounts/{account_id}/users/{user_id}:suspend",
    ),
    (
        "post",
        "/v1beta1/accounts/{account_id}/users/{user_id}:reactivate",
    ),
    (
        "post",
        "/v1beta1/accounts/{account_id}/users/{user_id}:completeRecovery",
    ),
    (
        "post",
        "/v1beta1/accounts/{account_id}/users/{user_id}:resendRecovery",
    ),
    ("post", "/v1beta1/accounts/{account_id}/users:beginRecovery"),
    ("post", "/api/recovery:inspect"),
    ("post", "/api/recovery:accept"),
    ("get", "/api/outbox"),
    ("get", "/api/session"),
    ("get", "/api/audit"),
    ("get", "/api/audit/export"),
    ("get", "/api/audit/verify"),
    ("get", "/api/state-counts"),
    ("get", "/api/config"),
    ("get", "/api/users/{user_id}/last-change"),
    ("post", "/api/users/{user_id}/confirm-identity"),
    ("get", "/api/users.csv"),
    ("get", "/api/events"),
    ("get", "/api/scheduled"),
    ("post", "/api/scheduled"),
    ("post", "/api/scheduled/{id}/cancel"),
    ("post", "/api/scheduled/{id}/run"),
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("post", "/v1beta1/users/oauth2/token"),
    ("post", "/v1beta1/users/oauth2/revoke"),
];

#[tokio::test]
async fn the_openapi_document_is_3_1() {
    let app = TestApp::start().await;
    let doc = openapi_document(&app).await;
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "{version}");
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document() {
    let app = TestApp::start().await;
    let doc = openapi_document(&app).await;
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

/// The real body of each operation that takes one, given two fresh recovery links (one to
/// inspect, one to accept): `None` for the others.
/// Suspend `user_id` in a day.
fn schedule_body(user_id: &str) -> Value {
    let due = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    json!({
        "user_id": user_id, "action": "suspend", "reason": "last day",
        "due_time": humantime::format_rfc3339_seconds(due).to_string(),
    })
}

fn real_body(
    scheduled_person: &str,
    template: &str,
    inspect: &(String, String),
    accept: &(String, String),
) -> Option<Value> {
    match template {
        t if t.ends_with("users:beginRecovery") => {
            Some(json!({"users": ["jose.alvarez@example.com"]}))
        }
        "/api/scheduled" => Some(schedule_body(scheduled_person)),
        t if t.ends_with(":completeRecovery") || t.ends_with("/confirm-identity") => Some(json!({
            "reason": "verified on a call", "ticket": "INC-1", "checked": crate::common::checklist()
        })),
        t if t.contains("{user_id}:") => Some(json!({"reason": "as asked", "ticket": "INC-1"})),
        "/api/recovery:inspect" => Some(json!({"token": inspect.1})),
        "/api/recovery:accept" => Some(json!({
            "token": accept.1, "email": accept.0, "password": "correct horse battery staple"
        })),
        _ => None,
    }
}

/// Call every operation the document lists, with real values and with values it documents as
/// wrong: each answer must be a route the server has, with a status the document lists, and a
/// body that fits the schema the document gives for that status. Request bodies must fit the
/// document's request schemas too.
#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let app = TestApp::builder()
        .settings(&oauth_client(OAUTH_CLIENT, None), &[])
        .start()
        .await;
    let doc = openapi_document(&app).await;
    let active = app.id_of("zoe.lefevre@example.com");
    // A scheduled change to cancel and one to make now, each for someone nothing else touches.
    let mut pending = Vec::new();
    for email in ["bjorn.svensson@example.com", "minjun.kim@example.com"] {
        let (status, body) = app
            .post_json("/api/scheduled", &schedule_body(&app.id_of(email)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pending.push(body["id"].to_string());
    }
    let (to_cancel, to_run) = (pending[0].clone(), pending[1].clone());
    let soren = app.id_of("soren.kierkegaard@example.com");
    let suspended = app.id_of("dmitri.ivanov@example.com");
    let recovery_started = app.id_of("ana.goncalves@example.com");
    let recovery_accepted = app.id_of("lukasz.wisniewski@example.com");
    let mut links = Vec::new();
    for email in ["oliver.smith@example.com", "ngozi.adeyemi@example.com"] {
        assert_eq!(app.begin_recovery(&[email]).await.0, StatusCode::OK);
        links.push((email.to_owned(), app.recovery_token(email).await));
    }
    let paths = doc["paths"].as_object().unwrap();
    let distinct: std::collections::BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    assert_eq!(paths.len(), distinct.len(), "{:?}", paths.keys());

    let mut calls = 0;
    for (template, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            if template.starts_with("/v1beta1/users/oauth2/") {
                calls += check_oauth_operation(&app, &doc, template, operation).await;
                continue;
            }
            let user = match template.rsplit_once(':').map(|(_, m)| m) {
                Some("reactivate") => &suspended,
                Some("resendRecovery") => &recovery_started,
                Some("completeRecovery") => &recovery_accepted,
                _ => &active,
            };
            let body = (method == "post")
                .then(|| real_body(&soren, template, &links[0], &links[1]))
                .flatten();
            let request_schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(
                body.is_some(),
                request_schema.is_object(),
                "{method} {template}: which body?"
            );
            if let Some(body) = &body
                && let Err(err) = validator(&doc, request_schema).validate(body)
            {
                panic!("{method} {template}: a real body does not fit its schema: {err}\n{body}");
            }
            let scheduled = match template.rsplit('/').next() {
                Some("run") => &to_run,
                _ => &to_cancel,
            };
            let real = template
                .replace("{account_id}", app.account())
                .replace("{user_id}", user)
                .replace("{id}", scheduled);
            // Confirming for 1Password's console is upstream's: the embedded directory refuses.
            let succeeds = !template.ends_with("/confirm-identity");
            let mut cases = vec![(real.clone(), body.clone(), succeeds)];
            if template.contains("{id}") {
                cases.push((template.replace("{id}", "999999"), body.clone(), false));
            }
            let real_path = real.clone();
            if template.contains("{account_id}") {
                let other = template
                    .replace("{account_id}", &"B".repeat(26))
                    .replace("{user_id}", user);
                cases.push((other, body.clone(), false));
            }
            if template.contains("{user_id}") {
                let malformed = template
                    .replace("{account_id}", app.account())
                    .replace("{user_id}", "not-an-id");
                cases.push((malformed, body.clone(), false));
            }
            if let Some(mut forged) = body.clone().filter(|b| b.get("token").is_some()) {
                forged["token"] = json!("not-a-token");
                cases.push((real, Some(forged), false));
            }
            // An operation whose success is not JSON (the JSON Lines and CSV exports) is checked
            // for its documented content type and that every line is JSON, or every row has the
            // header's fields.
            let success_content = operation["responses"]["200"]["content"]
                .as_object()
                .and_then(|content| content.keys().next().cloned());
            if let Some(content_type) = success_content.filter(|c| c != "application/json") {
                let response = app.client.get(app.url(&real_path)).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{method} {template}");
                let header = response.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(header, content_type, "{method} {template}");
                if content_type == "text/event-stream" {
                    // Endless: its first event is enough.
                    let mut response = response;
                    let first = response.chunk().await.unwrap().unwrap();
                    assert!(first.starts_with(b"event: hello"), "{first:?}");
                    calls += 2;
                    continue;
                }
                let text = response.text().await.unwrap();
                assert!(!text.is_empty(), "{method} {template}: nothing exported");
                if content_type.starts_with("text/csv") {
                    let mut reader = csv::Reader::from_reader(text.as_bytes());
                    let fields = reader.headers().unwrap().len();
                    assert!(reader.records().all(|r| r.unwrap().len() == fields));
                } else {
                    for line in text.lines() {
                        serde_json::from_str::<Value>(line).expect("every line is JSON");
                    }
                }
                calls += 2;
                continue;
            }
            for (path, body, should_succeed) in cases {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let mut request = app.client.request(method.clone(), app.url(&path));
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let (status, answer) = app.send(request).await;
                calls += 1;
                assert_eq!(
                    status.is_success(),
                    should_succeed,
                    "{method} {path} {body:?}: {answer}"
                );
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                let documented = &operation["responses"][status.as_str()];
                assert!(
                    documented.is_object(),
                    "{method} {path} answered {status}, which the document does not list"
                );
                if let Some(schema) = documented["content"]["application/json"].get("schema")
                    && let Err(err) = validator(&doc, schema).validate(&answer)
                {
                    panic!("{method} {path}: the answer does not fit its schema: {err}\n{answer}");
                }
            }
        }
    }
    // Every operation once for real, and those with an account, ID or token once or twice
    // more with a wrong one.
    let with_parameters = ROUTES
        .iter()
        .filter(|(_, path)| path.contains('{') || path.starts_with("/api/recovery"))
        .count();
    assert!(
        calls >= ROUTES.len() + with_parameters,
        "only {calls} calls"
    );
}

/// The OAuth client [`every_documented_operation_answers_as_documented`] configures.
const OAUTH_CLIENT: &str = "documented";

/// Call one of the OAuth endpoints (form bodies, RFC 6749's answers) with the right client
/// credentials and with a wrong secret: each answer must be one the document lists, fitting its
/// schema, and the real form must fit the documented request schema. Gives the number of calls.
async fn check_oauth_operation(
    app: &TestApp,
    doc: &Value,
    template: &str,
    operation: &Value,
) -> usize {
    let endpoint = template.rsplit('/').next().unwrap();
    let form = match endpoint {
        "token" => vec![("grant_type", "client_credentials".to_owned())],
        _ => vec![("token", app.bearer_token(OAUTH_CLIENT).await)],
    };
    let request_schema =
        &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert!(request_schema.is_object(), "{template}: no form schema");
    let as_object: serde_json::Map<String, Value> = form
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    if let Err(err) = validator(doc, request_schema).validate(&Value::Object(as_object)) {
        panic!("{template}: a real form does not fit its schema: {err}");
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    for (secret, expected) in [
        (OAUTH_SECRET, StatusCode::OK),
        ("wrong", StatusCode::UNAUTHORIZED),
    ] {
        let (status, _, body) = app
            .oauth_post(endpoint, Some((OAUTH_CLIENT, secret)), &form)
            .await;
        assert_eq!(status, expected, "{template}: {body}");
        let documented = &operation["responses"][status.as_str()];
        assert!(
            documented.is_object(),
            "{template} answered {status}, which the document does not list"
        );
        match documented["content"]["application/json"].get("schema") {
            Some(schema) => {
                let answer: Value = serde_json::from_str(&body).expect("a JSON answer");
                if let Err(err) = validator(doc, schema).validate(&answer) {
                    panic!("{template}: the answer does not fit its schema: {err}\n{answer}");
                }
            }
            None => assert_eq!(body, "", "{template}: an undocumented body"),
        }
    }
    2
}

#[tokio::test]
async fn real_answers_fit_the_list_and_error_schemas() {
    let app = TestApp::start().await;
    let doc = openapi_document(&app).await;
    let list_schema = component(&doc, "ListUsersResponse");
    let error_schema = component(&doc, "ApiError");

    let (_, list) = app.list(&[("max_page_size", "10")]).await;
    let (_, error) = app.list(&[("max_page_size", "0")]).await;
    assert!(list["next_page_token"].is_string());
    list_schema.validate(&list).unwrap();
    error_schema.validate(&error).unwrap();

    // The validators bite: each refuses the other's answer, and a user without an email.
    assert!(!list_schema.is_valid(&error));
    assert!(!error_schema.is_valid(&list));
    let mut broken = list.clone();
    broken["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("email");
    assert!(!list_schema.is_valid(&broken));
}
