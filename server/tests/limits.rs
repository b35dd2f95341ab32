//! Held by its resources, not by its attackers: slow and idle connections are cut off, the
//! connection count and header size are bounded, guessing at recovery links is limited and
//! counted, and nothing a caller sends can forge a line of the log.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, process::Process};

const LIMITS: &str = "[server]\nheader_read_timeout = \"1s\"\nmax_connections = 8\n";

/// Read until the server closes the connection (or `within` passes); what it sent.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&answer).into_owned())
        }
        Err(_) => None, // still open
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_are_cut_off() {
    let app = TestApp::builder().settings(LIMITS, &[]).start().await;
    let address = app.address();
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        let started = Instant::now();
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if stream.write_all(&[*byte]).is_err() || started.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        closed_after < Duration::from_secs(4),
        "still open after {closed_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_the_excess_refused_at_once() {
    let app = TestApp::builder().settings(LIMITS, &[]).start().await;
    let address = app.address();
    let outcome = tokio::task::spawn_blocking(move || {
        // Eight connections that say nothing fill every slot…
        let idle: Vec<TcpStream> = (0..8)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        // …so a ninth is told so, and closed, without waiting.
        let started = Instant::now();
        let mut ninth = TcpStream::connect(address).unwrap();
        let refusal = read_until_closed(&mut ninth, Duration::from_secs(2));
        let refused_in = started.elapsed();
        // The idle ones are closed after the header read timeout.
        let mut idle_closed = 0;
        for mut stream in idle {
            if read_until_closed(&mut stream, Duration::from_secs(3)).is_some() {
                idle_closed += 1;
            }
        }
        (refusal, refused_in, idle_closed)
    })
    .await
    .unwrap();
    let (refusal, refused_in, idle_closed) = outcome;
    let refusal = refusal.expect("the ninth connection is closed");
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    let body: Value = serde_json::from_str(refusal.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAVAILABLE");
    assert!(refused_in < Duration::from_secs(1), "{refused_in:?}");
    assert_eq!(idle_closed, 8);
    // And once they are gone, everyone is answered again.
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_headers_are_refused_and_nothing_of_them_is_kept() {
    let app = TestApp::start().await;
    let big = "g".repeat(20 * 1024);
    let (status, body) = app
        .send(
            app.client
                .get(app.url("/api/session"))
                .header("X-Forwarded-Groups", &big),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16 KiB"),
        "{body}"
    );
    // Far larger, hyper stops reading before the router sees it.
    let huge = "g".repeat(300 * 1024);
    let answer = app
        .client
        .get(app.url("/api/session"))
        .header("X-Forwarded-Groups", &huge)
        .send()
        .await;
    if let Ok(answer) = answer {
        assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    assert_eq!(app.get_json("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn guessing_recovery_links_is_limited_by_address_and_counted_not_written_each_time() {
    let app = TestApp::start().await;
    let mut statuses = Vec::new();
    for n in 0..40 {
        let guess = format!("guess-{n:04}-{}", "x".repeat(30));
        // A made-up forwarded address changes nothing: no proxy vouches for it.
        let request = app
            .client
            .post(app.url("/api/recovery:inspect"))
            .header("X-Forwarded-For", format!("203.0.113.{n}"))
            .json(&json!({ "token": guess }));
        statuses.push(app.send(request).await.0.as_u16());
    }
    let limit = 10; // [rate_limit] recovery_links_per_minute, by default
    assert_eq!(statuses[..limit], [404; 10]);
    assert!(statuses[limit..].iter().all(|s| *s == 429), "{statuses:?}");
    // Accepting shares the limit.
    let (status, _) = app
        .post_json(
            "/api/recovery:accept",
            &json!({ "token": "another-guess", "email": "a@example.com", "password": "a long enough password" }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let records_before_closing = app.audit_records().len();
    assert!(records_before_closing <= 3, "{:#?}", app.audit_records());
    let inspected = app.refusals(|r| r.action == "inspect_recovery").await;
    assert_eq!(inspected, 40);
    let records = app.audit_records();
    assert!(records.len() <= 5, "{records:#?}");
    assert!(
        records.iter().all(|r| r.client_address == "127.0.0.1"),
        "{records:#?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.reason.contains("faster than Keydesk allows")),
        "{records:#?}"
    );
}

#[tokio::test]
async fn nothing_a_caller_sends_forges_a_line_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let log = dir.path().join("keydesk.log");
    let process = Process::start_logging(dir.path(), &log);
    let forged = "nobody\n2026-11-28T00:00:00.000000Z  INFO keydesk_server: FORGED";
    let account = keydesk_api::AccountId::parse(keydesk_server::config::DEMO_ACCOUNT_ID).unwrap();
    // A name with a line break is refused outright…
    let answer = reqwest::Client::new()
        .post(format!(
            "{}{}",
            process.url,
            keydesk_api::begin_recovery_path(&account)
        ))
        .json(&json!({ "users": [forged] }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.text().await.unwrap().contains("control character"));
    // …and one that reaches the log through a path is written escaped.
    let user = format!(
        "{}{}/U4F2WUGM4IR24AYU7AMXPKZQYG:x%0A2026-11-28T00:00:00.000000Z%20%20INFO%20keydesk_server:%20FORGED",
        process.url,
        keydesk_api::users_path(&account)
    );
    let answer = reqwest::Client::new().post(user).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    process.kill();
    let written = std::fs::read_to_string(&log).unwrap();
    // The attempt is in the log, its line break written as `\n`, on the line of its record.
    assert!(
        written.contains(r"x\\n2026-11-28T00:00:00.000000Z"),
        "the attempt is logged escaped: {written}"
    );
    assert!(
        !written
            .lines()
            .any(|line| line.starts_with("2026-11-28T00:00:00")),
        "{written}"
    );
}
