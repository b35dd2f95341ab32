//! A fault-injecting HTTP proxy, for testing the upstream connector against a real server with the
//! network misbehaving in scripted ways.
//!
//! ```ignore
//! let app = TestApp::start().await;
//! let proxy = FaultProxy::start(app.address()).await;
//! proxy.inject(Fault::too_many(2), Match::PathContains(":suspend"));
//! // … point the connector at proxy.url(), act, then:
//! assert_eq!(proxy.requests().len(), 2);
//! ```
//!
//! Every request is forwarded to the upstream unchanged (method, path and query, headers, body)
//! unless a queued fault matches it. Faults are one-shot and taken in the order they were queued:
//! a request takes the oldest queued fault whose [`Match`] fits it.
//!
//! Connections are served with hyper directly rather than `axum::serve` because [`Fault::Drop`]
//! must close the connection without an answer, and only the code that owns the connection task
//! can do that: the request handler signals the task, which drops the connection.

use std::{
    collections::{BTreeMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, Method, Request, Response, StatusCode, header},
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::Notify, task::JoinSet};

/// What goes wrong with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then forward. The forward happens even if the client gave up meanwhile,
    /// as a request already on the wire would.
    Latency(Duration),
    /// Answer this without forwarding. A body that starts with `{` is sent as JSON.
    Status {
        status: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// Read the request, then close the connection without answering. Nothing is forwarded.
    Drop,
    /// Forward (so the change happens upstream), then close the connection instead of answering:
    /// the client cannot tell whether its request took effect.
    DropAfterForward,
    /// 401 with a JSON error, as a request with an expired token gets. Nothing is forwarded.
    Unauthorized,
}

impl Fault {
    /// 429 with `Retry-After: <seconds>`.
    pub fn too_many(retry_after_secs: u64) -> Fault {
        Fault::error(
            429,
            "RESOURCE_EXHAUSTED",
            "too many requests",
            Some(retry_after_secs.to_string()),
        )
    }

    /// 503, with `Retry-After` (seconds or an HTTP date) when given.
    pub fn unavailable(retry_after: Option<&str>) -> Fault {
        Fault::error(
            503,
            "UNAVAILABLE",
            "the service is unavailable",
            retry_after.map(str::to_owned),
        )
    }

    /// 500 without `Retry-After`.
    pub fn server_error() -> Fault {
        Fault::error(500, "INTERNAL", "internal error", None)
    }

    /// The upstream's error body is not published; the embedded server's shape will do.
    fn error(status: u16, name: &str, message: &str, retry_after: Option<String>) -> Fault {
        let body =
            serde_json::json!({"error": {"code": status, "status": name, "message": message}});
        Fault::Status {
            status,
            retry_after,
            body: body.to_string(),
        }
    }

    /// How [`Seen::fault`] names it: `Latency(150ms)`, `Status(429)`, `Drop`, …
    fn name(&self) -> String {
        match self {
            Fault::Latency(delay) => format!("Latency({delay:?})"),
            Fault::Status { status, .. } => format!("Status({status})"),
            other => format!("{other:?}"),
        }
    }
}

/// Which requests a queued fault applies to.
#[derive(Clone, Debug)]
pub enum Match {
    Any,
    /// The path and query contain this text (`":suspend"`, `"/oauth2/token"`).
    PathContains(&'static str),
    Method(Method),
    /// Both of the above.
    MethodAndPath(Method, &'static str),
}

impl Match {
    fn fits(&self, method: &Method, path_and_query: &str) -> bool {
        match self {
            Match::Any => true,
            Match::PathContains(text) => path_and_query.contains(text),
            Match::Method(m) => m == method,
            Match::MethodAndPath(m, text) => m == method && path_and_query.contains(text),
        }
    }
}

/// One request as the proxy received it, in order of arrival.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    /// Lower-case names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body, lossily decoded as UTF-8 (a token request's form, say).
    pub body: String,
    /// Whether the upstream answered it (so it took effect there).
    pub forwarded: bool,
    /// The fault it met, named as [`Fault`]'s variants are (`Status(429)`).
    pub fault: Option<String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Default)]
struct Script {
    faults: VecDeque<(Fault, Match)>,
    seen: Vec<Seen>,
}

struct Shared {
    upstream: SocketAddr,
    client: reqwest::Client,
    script: Mutex<Script>,
}

/// The proxy; it stops, closing its connections, when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let address = listener.local_addr().unwrap();
        let client = reqwest::Client::builder()
            // Redirects and the environment's proxies are the client's business, not ours.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            upstream,
            client,
            script: Mutex::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            address,
            shared,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Queue `fault` for the next request that `matches`.
    pub fn inject(&self, fault: Fault, matches: Match) {
        self.inject_times(fault, matches, 1);
    }

    /// Queue `fault` for the next `times` requests that `matches`.
    pub fn inject_times(&self, fault: Fault, matches: Match, times: usize) {
        let mut script = self.shared.script.lock().unwrap();
        script
            .faults
            .extend(std::iter::repeat_n((fault, matches), times));
    }

    /// How many queued faults no request has met yet.
    pub fn pending_faults(&self) -> usize {
        self.shared.script.lock().unwrap().faults.len()
    }

    /// Forget the faults still queued: from now on everything is forwarded.
    pub fn clear_faults(&self) {
        self.shared.script.lock().unwrap().faults.clear();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.shared.script.lock().unwrap().seen.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        connections.spawn(async move {
            // A handler that must drop the connection notifies this, and the select below then
            // drops the connection future, which closes the socket without a response.
            let kill = Arc::new(Notify::new());
            let handler_kill = kill.clone();
            let service =
                service_fn(move |request| handle(request, shared.clone(), handler_kill.clone()));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
            }
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    kill: Arc<Notify>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(Body::new(body), usize::MAX)
        .await
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| *joined = format!("{joined}, {value}"))
            .or_insert_with(|| value.into_owned());
    }

    // Recorded on arrival, so a request whose client gave up still shows.
    let (fault, index) = {
        let mut script = shared.script.lock().unwrap();
        let position = script
            .faults
            .iter()
            .position(|(_, m)| m.fits(&parts.method, &path_and_query));
        let fault = position
            .and_then(|i| script.faults.remove(i))
            .map(|(fault, _)| fault);
        script.seen.push(Seen {
            method: parts.method.clone(),
            path_and_query: path_and_query.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            forwarded: false,
            fault: fault.as_ref().map(Fault::name),
        });
        (fault, script.seen.len() - 1)
    };

    let latency = match &fault {
        Some(Fault::Drop) => return drop_connection(&kill).await,
        Some(Fault::Status {
            status,
            retry_after,
            body,
        }) => {
            return Ok(answer(*status, retry_after.as_deref(), body.clone()));
        }
        Some(Fault::Unauthorized) => {
            let body = serde_json::json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": "the access token has expired"}});
            let mut response = answer(401, None, body.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            return Ok(response);
        }
        Some(Fault::Latency(delay)) => *delay,
        Some(Fault::DropAfterForward) | None => Duration::ZERO,
    };

    // In a task of its own, so that once decided the forward completes whatever the client does.
    let forward = tokio::spawn({
        let shared = shared.clone();
        let url = format!("http://{}{path_and_query}", shared.upstream);
        let mut request = shared.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            if !is_hop_by_hop(name) && name != header::HOST && name != header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        async move {
            tokio::time::sleep(latency).await;
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            shared.script.lock().unwrap().seen[index].forwarded = true;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
    });
    match forward.await.expect("the forwarding task panicked") {
        Ok(_) if fault == Some(Fault::DropAfterForward) => drop_connection(&kill).await,
        Ok((status, headers, body)) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if !is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
                    response.headers_mut().append(name, value.clone());
                }
            }
            Ok(response)
        }
        Err(err) => {
            let body = serde_json::json!({"error": {"code": 502, "status": "BAD_GATEWAY",
                "message": format!("fault proxy: the upstream did not answer: {err}")}});
            Ok(answer(502, None, body.to_string()))
        }
    }
}

/// Have the connection task close the connection, and never answer.
async fn drop_connection(kill: &Notify) -> Result<Response<Body>, Infallible> {
    kill.notify_one();
    std::future::pending().await
}

fn answer(status: u16, retry_after: Option<&str>, body: String) -> Response<Body> {
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status code");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(retry_after) = retry_after {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(retry_after).unwrap(),
        );
    }
    response
}

/// Headers about one connection, which a proxy must not pass along.
fn is_hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}
