//! `/metrics` on its own address: what moves when requests, changes, refusals, streams and
//! calls to 1Password happen.

use std::{collections::BTreeMap, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::json;

use super::{
    ANA_RECOVERY_STARTED, NGOZI, OLIVER, ZOE, audit_rows, id_of, new_dir, open_events, users_url,
};
use crate::{
    common::{
        OAUTH_SECRET,
        fault_proxy::{Fault, Match},
        process::Process,
    },
    upstream::{LIST_CALL, OP_PASSWORD, Setup, start_cloud, upstream_settings},
};

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
    // At zero from the start, so that a rate has a first sample.
    for name in [
        "keydesk_sign_ins_refused_total",
        "keydesk_connections_refused_total",
        "keydesk_event_streams_open",
    ] {
        assert!(
            before.contains_key(&(name.to_owned(), BTreeMap::new())),
            "{name}"
        );
    }
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
    for (name, contents) in [
        ("client-secret", OAUTH_SECRET),
        ("password", OP_PASSWORD),
        ("op-password", OP_PASSWORD),
    ] {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
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
    // op: one run of `op user list` per reading, and signed in, so recovery can be begun.
    assert!(
        value(
            &scraped,
            "keydesk_upstream_op_runs_total",
            &[("command", "user list")]
        ) >= 1.0,
        "{text}"
    );
    let (_, later) = {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        scrape(&process).await
    };
    assert_eq!(value(&later, "keydesk_upstream_op_ready", &[]), 1.0);
    assert!(
        value(&later, "keydesk_upstream_snapshot_age_seconds", &[]) >= age + 1.0,
        "the snapshot ages"
    );
}

#[test]
fn metrics_refuse_the_main_listeners_address_and_a_format_it_cannot_write() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let dir = new_dir();
    let refused = |env: &[(&str, &str)]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_keydesk-server"))
            .env("KEYDESK_LISTEN", &address)
            .env("KEYDESK_DATA_DIR", dir.path().join("data"))
            .env("KEYDESK_DIST", dir.path().join("dist"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let same = refused(&[("KEYDESK_METRICS_LISTEN", address.as_str())]);
    assert!(
        same.contains("KEYDESK_METRICS_LISTEN is KEYDESK_LISTEN")
            && same.contains("an address of their own"),
        "{same}"
    );
    let garbled = refused(&[("KEYDESK_METRICS_LISTEN", "localhost")]);
    assert!(
        garbled.contains("--metrics-listen") && garbled.contains("localhost"),
        "{garbled}"
    );
    let format = refused(&[("KEYDESK_LOG_FORMAT", "xml")]);
    assert!(
        format.contains("--log-format") && format.contains("xml") && format.contains("json"),
        "{format}"
    );
}
