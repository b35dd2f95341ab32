//! What an operator watches: metrics in Prometheus' text format, served on an address of their
//! own (`KEYDESK_METRICS_LISTEN`, off by default) and never on the main listener, which the SSO
//! proxy exposes to everyone who may open the page.
//!
//! Counted with the `metrics` crate's macros where each thing happens, and rendered by
//! `metrics-exporter-prometheus`. What is kept elsewhere is read when scraped: changes from the
//! audit trail (so the two never disagree), pending scheduled changes from their table, the
//! snapshot's age from the upstream directory. Every series, and the one place it comes from:
//!
//! - `keydesk_http_request_duration_seconds{method, route, status}`, histogram: each request,
//!   from its arrival to its response's head (an event stream's life is not in it); its `_count`
//!   is the number of requests. `route` is the matched route's template, with a user's custom
//!   method (`/v1beta1/accounts/{account_id}/users/{user_id}:suspend`), or `fallback` for the
//!   page, its files and any path no route matches: never the raw path. `method` is `other`
//!   beyond the usual seven. ([`observe_request`])
//! - `keydesk_changes_total{action, outcome}`: attempts at a change as the audit trail records
//!   them (`suspend`, `succeeded`), a counted refusal's repeats included; refused sign-ins are
//!   not changes. Read from the trail when scraped.
//! - `keydesk_audit_records_written_total`: records added to the audit trail since Keydesk
//!   started. Read from the trail when scraped.
//! - `keydesk_sign_ins_refused_total`: requests refused for want of a verified identity, a role,
//!   a valid bearer token or an OAuth client's credentials (`auth::record_refused_sign_in`).
//! - `keydesk_rate_limited_total{limit}`: changes refused by `[rate_limit]`, `limit` being
//!   `actions` (per person) or `recovery_links` (per address) (`auth::Guard::admit`).
//! - `keydesk_upstream_calls_total{outcome}`: each exchange with 1Password: `success`, `busy`
//!   (429 or 503), `refused` (any other status) or `lost` (no answer) (`upstream::call::send`).
//! - `keydesk_upstream_retries_total`: exchanges with 1Password tried again after a busy or lost
//!   answer, by the upstream client's one retry policy.
//! - `keydesk_upstream_snapshot_age_seconds`, gauge: since the snapshot was last read whole from
//!   1Password (since Keydesk started, before the first reading). Upstream only.
//! - `keydesk_upstream_op_runs_total{command}`: runs of the 1Password CLI, by their first two
//!   words (`user list`, `user recovery`, `whoami`, `signin`) (`upstream::op::Op::run`).
//! - `keydesk_upstream_op_ready`, gauge: 1 while recovery can be begun (`op` configured and
//!   signed in), 0 otherwise; read from the directory when scraped. Upstream only.
//! - `keydesk_scheduled_changes_pending`, gauge: scheduled changes not yet made.
//! - `keydesk_event_streams_open`, gauge: pages listening to `/api/events` ([`StreamOpen`]).
//! - `keydesk_connections_refused_total`: connections over `[server] max_connections`.
//! - `keydesk_build_info{version}`, gauge, always 1.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use anyhow::Context as _;
use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::{Keydesk, auth::RequestContext, router::USER_PATH};

const REQUEST_DURATION: &str = "keydesk_http_request_duration_seconds";
const CHANGES: &str = "keydesk_changes_total";
const AUDIT_RECORDS: &str = "keydesk_audit_records_written_total";
const SIGN_INS_REFUSED: &str = "keydesk_sign_ins_refused_total";
const RATE_LIMITED: &str = "keydesk_rate_limited_total";
const UPSTREAM_CALLS: &str = "keydesk_upstream_calls_total";
const UPSTREAM_RETRIES: &str = "keydesk_upstream_retries_total";
const SNAPSHOT_AGE: &str = "keydesk_upstream_snapshot_age_seconds";
const OP_RUNS: &str = "keydesk_upstream_op_runs_total";
const OP_READY: &str = "keydesk_upstream_op_ready";
const SCHEDULED_PENDING: &str = "keydesk_scheduled_changes_pending";
const EVENT_STREAMS: &str = "keydesk_event_streams_open";
const CONNECTIONS_REFUSED: &str = "keydesk_connections_refused_total";
const BUILD_INFO: &str = "keydesk_build_info";

/// Prometheus' own default buckets, and longer ones: a change waits up to `[storage]
/// lock_timeout` for a lock, and a call to a busy 1Password up to `max_retry_wait` per try.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Start recording, process-wide. Before Keydesk is built, so that nothing it counts is lost.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(DURATION_BUCKETS)?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Requests, by route template and status, until the response's head"
    );
    describe_counter!(
        CHANGES,
        "Attempted changes, as the audit trail records them"
    );
    describe_counter!(AUDIT_RECORDS, "Records added to the audit trail");
    describe_counter!(SIGN_INS_REFUSED, "Refused sign-ins");
    describe_counter!(RATE_LIMITED, "Changes refused by the rate limit");
    describe_counter!(UPSTREAM_CALLS, "Exchanges with 1Password, by outcome");
    describe_counter!(UPSTREAM_RETRIES, "Exchanges with 1Password tried again");
    describe_counter!(OP_RUNS, "Runs of the 1Password CLI, by command");
    describe_gauge!(
        OP_READY,
        "1 while recovery can be begun (op configured and signed in), 0 otherwise"
    );
    describe_gauge!(
        SNAPSHOT_AGE,
        Unit::Seconds,
        "Since the upstream snapshot was last read whole"
    );
    describe_gauge!(SCHEDULED_PENDING, "Scheduled changes not yet made");
    describe_gauge!(EVENT_STREAMS, "Open event streams (/api/events)");
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections refused over [server] max_connections"
    );
    describe_gauge!(BUILD_INFO, "Keydesk's version");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// What a scrape reads besides the recorder.
struct Exporter {
    handle: PrometheusHandle,
    audit: Arc<crate::audit::AuditLog>,
    directory: Arc<dyn crate::directory::Directory>,
    scheduler: Arc<crate::schedule::Scheduler>,
    /// The last audit record counted: only later ones are counted at the next scrape.
    counted: tokio::sync::Mutex<i64>,
}

/// Serve `/metrics` on `address` with its own small router, on Keydesk's runtime, for as long as
/// the process runs; says where on stdout, as the main listener does. Anything else there is a
/// plain 404.
pub async fn serve(
    address: SocketAddr,
    handle: PrometheusHandle,
    keydesk: &Keydesk,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening for metrics on {address} (KEYDESK_METRICS_LISTEN)"))?;
    let counted = keydesk
        .audit
        .last_seq()
        .await
        .context("reading the audit trail's last record")?;
    let exporter = Arc::new(Exporter {
        handle,
        audit: keydesk.audit.clone(),
        directory: keydesk.directory.clone(),
        scheduler: keydesk.scheduler.clone(),
        counted: tokio::sync::Mutex::new(counted),
    });
    // Every series that can be known at zero is there from the first scrape: a rate, or an
    // alert on one, needs a first sample before the first event.
    counter!(SIGN_INS_REFUSED).increment(0);
    for limit in ["actions", "recovery_links"] {
        counter!(RATE_LIMITED, "limit" => limit).increment(0);
    }
    counter!(CONNECTIONS_REFUSED).increment(0);
    gauge!(EVENT_STREAMS).increment(0.0);
    if keydesk.directory.snapshot_age().is_some() {
        for outcome in ["success", "busy", "refused", "lost"] {
            counter!(UPSTREAM_CALLS, "outcome" => outcome).increment(0);
        }
        counter!(UPSTREAM_RETRIES).increment(0);
    }
    println!(
        "Keydesk serves metrics at http://{}/metrics",
        listener.local_addr()?
    );
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(exporter);
    // With the main listener's bounds, and still answering while Keydesk drains.
    let limits = keydesk.limits.clone();
    tokio::spawn(async move {
        crate::serve::serve(listener, router, &limits, None, std::future::pending()).await;
    });
    Ok(())
}

/// Bring what is read when scraped up to date, then render everything.
async fn scrape(State(exporter): State<Arc<Exporter>>) -> Response {
    {
        let mut counted = exporter.counted.lock().await;
        match exporter.audit.tally_after(*counted).await {
            Ok((tallies, last)) => {
                for tally in tallies {
                    counter!(AUDIT_RECORDS).increment(tally.records);
                    if tally.action != keydesk_api::AuditAction::SignIn.as_str() {
                        counter!(CHANGES, "action" => tally.action, "outcome" => tally.outcome)
                            .increment(tally.attempts);
                    }
                }
                *counted = last;
            }
            Err(err) => tracing::warn!(error = %err, "metrics: could not read the audit trail"),
        }
    }
    match exporter.scheduler.pending().await {
        Ok(pending) => gauge!(SCHEDULED_PENDING).set(pending as f64),
        Err(err) => tracing::warn!(error = %err, "metrics: could not count scheduled changes"),
    }
    if let Some(age) = exporter.directory.snapshot_age() {
        gauge!(SNAPSHOT_AGE).set(age.as_secs_f64());
        let ready = exporter.directory.readiness().recovery.available;
        gauge!(OP_READY).set(if ready { 1.0 } else { 0.0 });
    }
    exporter.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        exporter.handle.render(),
    )
        .into_response()
}

/// Around every request: its duration in [`REQUEST_DURATION`], and one line in the log (target
/// `keydesk_server::request`) with its request ID, the same as in its audit record and its
/// `X-Request-Id`. Only templates and numbers: a path can carry a user ID or worse.
pub async fn observe_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = route_label(&request);
    let request_id = request
        .extensions()
        .get::<RequestContext>()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics::histogram!(REQUEST_DURATION, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        target: "keydesk_server::request",
        request_id,
        method,
        route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The matched route's template; a user's custom method named when it is one Keydesk knows.
fn route_label(request: &Request) -> String {
    let Some(matched) = request.extensions().get::<MatchedPath>() else {
        return "fallback".to_owned();
    };
    let method = request
        .uri()
        .path()
        .rsplit_once(':')
        .and_then(|(_, name)| keydesk_api::UserMethod::parse(name));
    match method {
        Some(method) if matched.as_str() == USER_PATH => format!("{USER_PATH}:{}", method.as_str()),
        _ => matched.as_str().to_owned(),
    }
}

pub fn sign_in_refused() {
    counter!(SIGN_INS_REFUSED).increment(1);
}

/// `limit`: `actions` or `recovery_links`.
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// `outcome`: `success`, `busy`, `refused` or `lost`.
pub fn upstream_call(outcome: &'static str) {
    counter!(UPSTREAM_CALLS, "outcome" => outcome).increment(1);
}

/// One run of the 1Password CLI; `command` its first two words (`user list`, `whoami`).
pub fn op_run(command: String) {
    counter!(OP_RUNS, "command" => command).increment(1);
}

pub fn upstream_retry() {
    counter!(UPSTREAM_RETRIES).increment(1);
}

pub fn connection_refused() {
    counter!(CONNECTIONS_REFUSED).increment(1);
}

/// An open event stream, counted until it is dropped (the page left, or Keydesk stops).
pub struct StreamOpen(());

impl StreamOpen {
    pub fn count() -> Self {
        gauge!(EVENT_STREAMS).increment(1.0);
        StreamOpen(())
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        gauge!(EVENT_STREAMS).decrement(1.0);
    }
}
