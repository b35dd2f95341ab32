//! JSON log lines: one for each request, with the ID its audit record carries, and nothing
//! secret anywhere in the log.

use std::{path::Path, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{OLIVER, new_dir, users_url};
use crate::common::process::Process;

/// Run the binary at `settings` with JSON logs into `log`; `Process` writes `{dir}` files.
fn start_json(dir: &Path, settings: &str, log: &Path) -> Process {
    Process::start_with(dir, settings, &[("KEYDESK_LOG_FORMAT", "json")], Some(log))
}

const PROXY_SECRET: &str = "only-the-proxy-knows-this-0123456789";
const WRONG_SECRET: &str = "a-guess-at-the-proxy-secret-98765";
const CLIENT_SECRET: &str = "s3cr3t-of-the-oauth-client-for-logs";
const PASSWORD: &str = "correct horse battery staple";

/// The requests a test sent, and what the log line of each must say: request ID, method, route,
/// status.
#[derive(Default)]
struct Sent {
    lines: Vec<(String, String, &'static str, u16)>,
}

impl Sent {
    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        status: StatusCode,
        route: &'static str,
    ) -> reqwest::Response {
        let (client, request) = request.build_split();
        let request = request.unwrap();
        let method = request.method().to_string();
        let answer = client.execute(request).await.unwrap();
        assert_eq!(answer.status(), status, "{route}");
        let id = answer.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        self.lines.push((id, method, route, status.as_u16()));
        answer
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_give_each_request_a_line_and_never_a_secret() {
    let dir = new_dir();
    std::fs::write(dir.path().join("proxy-secret"), PROXY_SECRET).unwrap();
    let settings = format!(
        "[auth]\nmode = \"proxy\"\n\n[auth.proxy]\nsecret_header = \"X-Keydesk-Proxy-Secret\"\n\
         secret_file = \"{{dir}}/proxy-secret\"\n\n[recovery]\nfour_eyes = false\n\n\
         [rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n\n{}",
        crate::common::oauth_client("logs", None).replace(
            &crate::common::sha256_hex(crate::common::OAUTH_SECRET),
            &crate::common::sha256_hex(CLIENT_SECRET)
        )
    );
    let log = dir.path().join("keydesk.log");
    let process = start_json(dir.path(), &settings, &log);
    let client = Client::new();
    let admin = |request: reqwest::RequestBuilder| {
        request
            .header("X-Forwarded-Email", "amara.okafor@example.com")
            .header("X-Forwarded-Groups", "keydesk-admins")
            .header("X-Keydesk-Proxy-Secret", PROXY_SECRET)
    };
    let mut sent = Sent::default();
    let begun = sent
        .send(
            admin(client.post(format!("{}:beginRecovery", users_url(&process))))
                .json(&json!({ "users": [OLIVER] })),
            StatusCode::OK,
            "/v1beta1/accounts/{account_id}/users:beginRecovery",
        )
        .await;
    let begin_id = begun.headers()["x-request-id"].to_str().unwrap().to_owned();
    let outbox: keydesk_api::OutboxResponse = sent
        .send(
            admin(client.get(format!("{}/api/outbox", process.url))),
            StatusCode::OK,
            "/api/outbox",
        )
        .await
        .json()
        .await
        .unwrap();
    let link = outbox
        .messages
        .into_iter()
        .find(|m| m.to == OLIVER)
        .and_then(|m| m.link)
        .expect("a link for Oliver");
    let token = link.split_once('#').unwrap().1.to_owned();
    let link_call = |action: &str, body: Value| {
        client
            .post(format!("{}/api/recovery:{action}", process.url))
            .json(&body)
    };
    sent.send(
        link_call("inspect", json!({ "token": token })),
        StatusCode::OK,
        "/api/recovery:inspect",
    )
    .await;
    let accepted: Value = sent
        .send(
            link_call(
                "accept",
                json!({ "token": token, "email": OLIVER, "password": PASSWORD }),
            ),
            StatusCode::OK,
            "/api/recovery:accept",
        )
        .await
        .json()
        .await
        .unwrap();
    let secret_key = accepted["secret_key"].as_str().expect("a Secret Key");
    let issued: Value = sent
        .send(
            client
                .post(format!("{}/v1beta1/users/oauth2/token", process.url))
                .basic_auth("logs", Some(CLIENT_SECRET))
                .form(&[("grant_type", "client_credentials")]),
            StatusCode::OK,
            "/v1beta1/users/oauth2/token",
        )
        .await
        .json()
        .await
        .unwrap();
    let access_token = issued["access_token"].as_str().unwrap();
    sent.send(
        client.get(users_url(&process)).bearer_auth(access_token),
        StatusCode::OK,
        "/v1beta1/accounts/{account_id}/users",
    )
    .await;
    sent.send(
        client
            .get(format!("{}/api/session", process.url))
            .header("X-Forwarded-Email", "amara.okafor@example.com")
            .header("X-Forwarded-Groups", "keydesk-admins")
            .header("X-Keydesk-Proxy-Secret", WRONG_SECRET),
        StatusCode::UNAUTHORIZED,
        "/api/session",
    )
    .await;

    let records = crate::common::process::records(&process.data_dir.join("keydesk.db"));
    let mut process = process;
    process.terminate();
    assert!(process.exit_within(Duration::from_secs(10)).is_some());
    let written = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: not JSON: {line}"))
        })
        .collect();
    for (id, method, route, status) in &sent.lines {
        let line = lines
            .iter()
            .find(|l| l["target"] == "keydesk_server::request" && l["request_id"] == *id)
            .unwrap_or_else(|| panic!("no line for {method} {route} ({id}): {written}"));
        assert_eq!(
            (&line["method"], &line["route"], &line["status"]),
            (&json!(method), &json!(route), &json!(status)),
            "{line}"
        );
        assert!(line["latency_ms"].as_f64().unwrap() >= 0.0, "{line}");
        assert!(
            line["timestamp"].is_string() && line["level"] == "INFO",
            "{line}"
        );
    }
    // The log's ID is the audit record's.
    assert!(
        records
            .iter()
            .any(|r| r.action == "begin_recovery" && r.request_id == begin_id),
        "{records:#?}"
    );
    let basic = data_encoding::BASE64.encode(format!("logs:{CLIENT_SECRET}").as_bytes());
    for secret in [
        PROXY_SECRET,
        WRONG_SECRET,
        CLIENT_SECRET,
        &basic,
        PASSWORD,
        &token,
        &link,
        secret_key,
        access_token,
    ] {
        assert!(
            !written.contains(secret),
            "{secret} is in the log: {written}"
        );
    }
}
