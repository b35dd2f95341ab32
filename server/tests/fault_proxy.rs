//! The upstream connector's test kit, tested: the fault-injecting proxy in front of a real
//! Keydesk (the `op` stand-in's own tests are in `op_standin.rs`).

use std::time::{Duration, Instant};

use crate::common::{
    TestApp,
    fault_proxy::{Fault, FaultProxy, Match},
    plain_members as members,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A test app and a proxy in front of it.
async fn proxied() -> (TestApp, FaultProxy) {
    let app = TestApp::start().await;
    let proxy = FaultProxy::start(app.address()).await;
    (app, proxy)
}

fn state(app: &TestApp, id: &str) -> String {
    app.row(id).0
}

#[tokio::test]
async fn proxy_forwards_requests_and_records_them() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let path = format!(
        "{}?filter=user.isSuspended()&max_page_size=2",
        app.users_path()
    );

    let direct: Value = client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = client
        .get(format!("{}{path}", proxy.url()))
        .header("user-agent", "Keydesk/test")
        .header("x-request-id", "trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.unwrap(), direct);

    let person = &members(&app, "user.isActive()").await[0];
    let begin = keydesk_api::begin_recovery_path(&app.config.account_id);
    let body = json!({"users": [person.email]}).to_string();
    let response = client
        .post(format!("{}{begin}", proxy.url()))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state(&app, person.id.as_str()), "RECOVERY_STARTED");

    let seen = proxy.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path_and_query, path);
    assert_eq!(seen[0].header("User-Agent"), Some("Keydesk/test"));
    assert_eq!(seen[0].headers["x-request-id"], "trace-1");
    assert!(seen[0].forwarded && seen[0].fault.is_none());
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].path_and_query, begin);
    assert_eq!(seen[1].body, body);
    assert!(seen[1].forwarded && seen[1].fault.is_none());

    // Credentials pass through too; what the server makes of this token is not our business.
    client
        .get(format!("{}{path}", proxy.url()))
        .bearer_auth("opaque")
        .send()
        .await
        .unwrap();
    let seen = proxy.requests();
    assert_eq!(seen[2].header("authorization"), Some("Bearer opaque"));
    assert!(seen[2].forwarded);
}

#[tokio::test]
async fn latency_delays_then_forwards() {
    let (app, proxy) = proxied().await;
    proxy.inject(Fault::Latency(Duration::from_millis(300)), Match::Any);

    let started = Instant::now();
    let response = reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();

    let seen = proxy.requests();
    assert_eq!(seen[0].fault.as_deref(), Some("Latency(300ms)"));
    assert!(seen[0].forwarded);
    assert_eq!(seen[1].fault, None);
}

#[tokio::test]
async fn too_many_carries_retry_after_and_reaches_only_matching_requests() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::too_many(7), Match::PathContains(":suspend"));

    // A list does not match, so it passes and leaves the fault queued.
    let list = client
        .get(format!("{}{}", proxy.url(), app.users_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(proxy.pending_faults(), 1);

    let refused = client.post(&suspend).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "7");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429, "{body}");
    assert_eq!(
        state(&app, &id),
        "ACTIVE",
        "a refused request never reached the server"
    );

    let retried = client.post(&suspend).send().await.unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(state(&app, &id), "SUSPENDED");

    let seen = proxy.requests();
    let faults: Vec<_> = seen
        .iter()
        .map(|s| (s.fault.as_deref(), s.forwarded))
        .collect();
    assert_eq!(
        faults,
        [(None, true), (Some("Status(429)"), false), (None, true)]
    );
}

#[tokio::test]
async fn faults_are_taken_in_the_order_queued() {
    let (app, proxy) = proxied().await;
    let url = format!("{}{}", proxy.url(), app.users_path());
    proxy.inject_times(Fault::server_error(), Match::Method(Method::GET), 2);
    proxy.inject(Fault::unavailable(Some("1")), Match::Any);
    proxy.inject(
        Fault::Unauthorized,
        Match::MethodAndPath(Method::GET, "/users"),
    );

    let mut answers = Vec::new();
    for _ in 0..5 {
        let response = reqwest::get(&url).await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        answers.push((response.status().as_u16(), retry_after));
    }
    assert_eq!(
        answers,
        [
            (500, None),
            (500, None),
            (503, Some("1".to_owned())),
            (401, None),
            (200, None)
        ]
    );
    assert_eq!(proxy.pending_faults(), 0);

    proxy.inject_times(Fault::server_error(), Match::Any, 3);
    proxy.clear_faults();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unauthorized_answers_as_an_expired_token_would() {
    let (app, proxy) = proxied().await;
    proxy.inject(Fault::Unauthorized, Match::Any);

    let response = reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{body}");
    assert!(!proxy.requests()[0].forwarded);
}

#[tokio::test]
async fn drop_closes_the_connection_and_forwards_nothing() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::Drop, Match::Method(Method::POST));

    let err = client.post(&suspend).send().await.expect_err("no answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(state(&app, &id), "ACTIVE");

    // The proxy itself carries on, and the client did not retry behind our back.
    assert_eq!(
        client.post(&suspend).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(state(&app, &id), "SUSPENDED");
    let seen = proxy.requests();
    let faults: Vec<_> = seen
        .iter()
        .map(|s| (s.fault.as_deref(), s.forwarded))
        .collect();
    assert_eq!(faults, [(Some("Drop"), false), (None, true)]);
}

#[tokio::test]
async fn drop_after_forward_changes_the_state_but_the_client_sees_an_error() {
    let (app, proxy) = proxied().await;
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::DropAfterForward, Match::PathContains(":suspend"));

    let err = reqwest::Client::new()
        .post(&suspend)
        .send()
        .await
        .expect_err("no answer");
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(state(&app, &id), "SUSPENDED", "it happened upstream");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].fault.as_deref(), Some("DropAfterForward"));
    assert!(seen[0].forwarded);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let proxy = FaultProxy::start(address).await;

    let response = reqwest::get(format!("{}/v1beta1/accounts", proxy.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(!proxy.requests()[0].forwarded);
}
