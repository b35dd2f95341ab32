//! Watching the real binary: metrics on their own address, JSON log lines with nothing secret in
//! them, and a SIGTERM that lets what is under way finish.

use std::{collections::BTreeMap, path::Path, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{
    common::{
        OAUTH_SECRET,
        fault_proxy::{Fault, Match},
        process::{LockHolder, Process},
    },
    upstream::{LIST_CALL, Setup, start_cloud, upstream_settings},
};

const ZOE: &str = "zoe.lefevre@example.com";
const OLIVER: &str = "oliver.smith@example.com";
const NGOZI: &str = "ngozi.adeyemi@example.com";
const ANA_RECOVERY_STARTED: &str = "ana.goncalves@example.com";

fn new_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    dir
}

fn users_url(process: &Process) -> String {
    let account = keydesk_api::AccountId::parse(keydesk_server::config::DEMO_ACCOUNT_ID).unwrap();
    format!("{}{}", process.url, keydesk_api::users_path(&account))
}

fn id_of(process: &Process, email: &str) -> String {
    let conn = rusqlite::Connection::open(process.data_dir.join("keydesk.db")).unwrap();
    conn.query_row("SELECT id FROM users WHERE email = ?1", [email], |row| {
        row.get(0)
    })
    .unwrap()
}

fn audit_rows(process: &Process) -> i64 {
    let conn = rusqlite::Connection::open(process.data_dir.join("keydesk.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
        .unwrap()
}

/// `/api/events`, once its first event has come.
async fn open_events(process: &Process) -> reqwest::Response {
    let mut stream = reqwest::get(format!("{}/api/events", process.url))
        .await
        .unwrap();
    assert!(stream.chunk().await.unwrap().is_some(), "hello");
    stream
}

/// One series of a scrape: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// Prometheus' text format, read series by series (comments left aside).
fn parse_scrape(text: &str) -> BTreeMap<Series, f64> {
    let mut series = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (key, value) = line.rsplit_once(' ').expect("a value");
        let (name, labels) = match key.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("closed labels")),
            None => (key, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((label, after)) = rest.split_once("=\"") {
            let end = after.find('"').expect("a closed label value");
            map.insert(label.to_owned(), after[..end].to_owned());
            rest = after[end + 1..].trim_start_matches(',');
        }
        series.insert((name.to_owned(), map), value.parse().expect("a number"));
    }
    series
}

async fn scrape(process: &Process) -> (String, BTreeMap<Series, f64>) {
    let url = process.metrics_url.as_ref().expect("metrics are served");
    let answer = reqwest::get(url).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let text = answer.text().await.unwrap();
    let parsed = parse_scrape(&text);
    (text, parsed)
}

/// The value of the series `name` with exactly `labels`, or 0 when it is not there yet.
fn value(scraped: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    scraped
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

const SUSPEND_ROUTE: &str = "/v1beta1/accounts/{account_id}/users/{user_id}:suspend";

fn requests(scraped: &BTreeMap<Series, f64>, method: &str, route: &str, status: &str) -> f64 {
    value(
        scraped,
        "keydesk_http_request_duration_seconds_count",
        &[("method", method), ("route", route), ("status", status)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_requests_changes_refusals_and_streams_on_their_own_address() {
    let dir = new_dir();
    let settings = "[rate_limit]\nactions_per_minute = 3\nrecovery_links_per_minute = 0\n";
    let process = Process::start_with(
        dir.path(),
        settings,
        &[("KEYDESK_METRICS_LISTEN", "127.0.0.1:0")],
        None,
    );
    let client = Client::new();
    let (_, before) = scrape(&process).await;
    assert_eq!(
        value(
            &before,
            "keydesk_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(
        value(&before, "keydesk_audit_records_written_total", &[]),
        0.0
    );
    let records_at_start = audit_rows(&process);

    let stream = open_events(&process).await;
    let users = users_url(&process);
    let zoe = id_of(&process, ZOE);
    let suspend = |id: &str| client.post(format!("{users}/{id}:suspend")).send();
    assert_eq!(suspend(&zoe).await.unwrap().status(), StatusCode::OK);
    // Someone in recovery cannot be suspended: denied.
    let ana = id_of(&process, ANA_RECOVERY_STARTED);
    assert_eq!(suspend(&ana).await.unwrap().status(), StatusCode::CONFLICT);
    let scheduled = client
        .post(format!("{}/api/scheduled", process.url))
        .json(&json!({
            "user_id": id_of(&process, OLIVER), "action": "suspend",
            "due_time": humantime::format_rfc3339_seconds(
                std::time::SystemTime::now() + Duration::from_secs(30 * 24 * 3600)
            ).to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        scheduled.status(),
        StatusCode::OK,
        "{}",
        scheduled.text().await.unwrap()
    );
    // The fourth change in a minute, over the limit of three.
    let ngozi = id_of(&process, NGOZI);
    assert_eq!(
        suspend(&ngozi).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let refused = client
        .get(&users)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let (text, after) = scrape(&process).await;
    assert_eq!(
        requests(&after, "POST", SUSPEND_ROUTE, "200"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&after, "POST", SUSPEND_ROUTE, "409"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&after, "POST", SUSPEND_ROUTE, "429"),
        1.0,
        "{text}"
    );
    assert_eq!(
        requests(&after, "GET", "/v1beta1/accounts/{account_id}/users", "401"),
        1.0,
        "{text}"
    );
    assert_eq!(requests(&after, "GET", "/api/events", "200"), 1.0, "{text}");
    let changes = |action: &str, outcome: &str| {
        value(
            &after,
            "keydesk_changes_total",
            &[("action", action), ("outcome", outcome)],
        )
    };
    assert_eq!(changes("suspend", "succeeded"), 1.0, "{text}");
    // The conflict and the rate limit's refusal.
    assert_eq!(changes("suspend", "denied"), 2.0, "{text}");
    assert_eq!(
        value(
            &after,
            "keydesk_rate_limited_total",
            &[("limit", "actions")]
        ),
        1.0
    );
    assert_eq!(value(&after, "keydesk_sign_ins_refused_total", &[]), 1.0);
    assert_eq!(
        value(&after, "keydesk_audit_records_written_total", &[]),
        (audit_rows(&process) - records_at_start) as f64,
        "{text}"
    );
    assert_eq!(value(&after, "keydesk_scheduled_changes_pending", &[]), 1.0);
    assert_eq!(value(&after, "keydesk_event_streams_open", &[]), 1.0);
    // Templates only: no person's ID, and the embedded directory has no snapshot to age.
    for id in [&zoe, &ana, &ngozi] {
        assert!(!text.contains(id.as_str()), "{id} in {text}");
    }
    assert!(!text.contains("keydesk_upstream_snapshot_age_seconds "));

    drop(stream);

    // Not on the main listener, where the SSO proxy sends everyone: there it is the page's
    // fallback, like any path no route matches.
    let main = client
        .get(format!("{}/metrics", process.url))
        .send()
        .await
        .unwrap();
    let main_text = main.text().await.unwrap();
    assert!(!main_text.contains("keydesk_"), "{main_text}");
    let (text, later) = scrape(&process).await;
    assert!(
        later.keys().any(|(name, labels)| {
            name == "keydesk_http_request_duration_seconds_count"
                && labels.get("route").map(String::as_str) == Some("fallback")
        }),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_calls_to_1password_its_retries_and_the_snapshots_age() {
    let setup = Setup::default();
    let (cloud, proxy) = start_cloud(&setup).await;
    // The first reading meets a busy 1Password, and tries again as it says.
    proxy.inject_times(
        Fault::unavailable(Some("0")),
        Match::PathContains(LIST_CALL),
        1,
    );
    let dir = new_dir();
    std::fs::write(dir.path().join("client-secret"), OAUTH_SECRET).unwrap();
    let process = Process::start_with(
        dir.path(),
        &upstream_settings(&cloud, &proxy.url(), &setup),
        &[("KEYDESK_METRICS_LISTEN", "127.0.0.1:0")],
        None,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while reqwest::get(users_url(&process)).await.unwrap().status() != StatusCode::OK {
        assert!(
            std::time::Instant::now() < deadline,
            "the snapshot is not read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (text, scraped) = scrape(&process).await;
    let calls = |outcome: &str| {
        value(
            &scraped,
            "keydesk_upstream_calls_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(calls("busy"), 1.0, "{text}");
    // The token, and the list read again.
    assert!(calls("success") >= 2.0, "{text}");
    assert_eq!(calls("lost"), 0.0, "{text}");
    assert_eq!(
        value(&scraped, "keydesk_upstream_retries_total", &[]),
        1.0,
        "{text}"
    );
    let age = value(&scraped, "keydesk_upstream_snapshot_age_seconds", &[]);
    assert!(
        text.contains("keydesk_upstream_snapshot_age_seconds ") && (0.0..10.0).contains(&age),
        "{text}"
    );
    let (_, later) = {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        scrape(&process).await
    };
    assert!(
        value(&later, "keydesk_upstream_snapshot_age_seconds", &[]) >= age + 1.0,
        "the snapshot ages"
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_change_under_way_finish_with_its_record_and_ends_event_streams() {
    let dir = new_dir();
    // Long enough to wait out the lock below; the grace is what SIGTERM waits at most.
    let settings = "[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n\n\
                    [storage]\nlock_timeout = \"8s\"\n\n[server]\nshutdown_grace = \"6s\"\n";
    let mut process = Process::start_with(dir.path(), settings, &[], None);
    let client = Client::new();
    let mut stream = open_events(&process).await;
    let db = process.data_dir.join("keydesk.db");
    let zoe = id_of(&process, ZOE);

    // The change waits for the lock another process holds: it is under way at SIGTERM.
    let holder = LockHolder::hold(&db);
    let url = format!("{}/{zoe}:suspend", users_url(&process));
    let change = tokio::spawn(client.post(url).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = std::time::Instant::now();
    process.terminate();
    // The stream ends cleanly (the body's end, not a broken connection) at once.
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while stream.chunk().await.expect("a clean end").is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream did not end");
    // No new connection is taken while the change finishes.
    let refused = Client::new()
        .get(format!("{}/healthz", process.url))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "a stopping Keydesk took a new request");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop(holder);

    let answer = change.await.unwrap().expect("the change is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let user: keydesk_api::User = answer.json().await.unwrap();
    assert_eq!(user.state.as_str(), "SUSPENDED");
    let status = process
        .exit_within(Duration::from_secs(6))
        .expect("Keydesk stopped within its grace");
    assert!(status.success(), "{status:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(8));
    let records = crate::common::process::records(&db);
    let record = records
        .iter()
        .find(|r| r.request_id == request_id)
        .expect("the change's record");
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("suspend", "succeeded")
    );
    assert_eq!(record.targets, [zoe]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        keydesk_server::audit::chain::verify(&conn).unwrap().1,
        None,
        "the chain is broken"
    );
}
