//! Accepting connections, bounded: a client gets a fixed time to send its request headers (one
//! byte every few seconds no longer holds a connection open), idle keep-alive connections close
//! after the same time, headers are capped in size, and beyond `max_connections` a new
//! connection is answered 503 at once and closed, instead of making everyone wait.
//!
//! axum's own `serve` offers none of these, so connections are served with hyper's own
//! settings, as axum's `serve-with-hyper` example does. HTTP/1.1 only: it is what an SSO proxy
//! speaks to Keydesk, and hyper's version detection for HTTP/2 would wait for a first byte with
//! no timeout at all, which is how idle connections used to pile up.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::{Service, ServiceExt};

/// What one Keydesk lets its clients hold (`[server]` in the configuration file).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Connections open at once; beyond this a new one is answered 503 and closed.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, and how long a keep-alive connection
    /// may sit idle.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a client has to send a request's body once its headers are in.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// How long stopping waits for requests under way.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The largest request body Keydesk reads. Its bodies are small JSON objects.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The most header bytes (names and values) one request may carry: an SSO proxy's identity and
/// groups fit many times over; a 300 KB groups header does not. The router refuses more with
/// the JSON error shape.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most header bytes hyper reads for one request before refusing it (431): the hard stop
/// behind [`MAX_HEADER_BYTES`].
const HYPER_MAX_HEADER_BUFFER: usize = 64 * 1024;

/// What a connection over the limit is told before it is closed: the one error shape.
fn too_many_connections() -> Vec<u8> {
    let body = serde_json::to_string(&keydesk_api::ApiError::new(
        keydesk_api::ErrorStatus::Unavailable,
        "Keydesk has too many connections open; try again in a moment.",
    ))
    .expect("plain data serialises");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serve `router` on `listener` until `shutdown` resolves, then let requests under way finish
/// (up to `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusal = too_many_connections();
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HYPER_MAX_HEADER_BUFFER)
        .max_headers(100);
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Never waits: the answer fits in the socket's buffer, or the client gets nothing.
            let _ = stream.try_write(&refusal);
            crate::metrics::connection_refused();
            continue;
        };
        let tower_service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let hyper_service = hyper::service::service_fn(move |request: Request<Incoming>| {
            tower_service.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away mid-request is not Keydesk's error.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("stopped with requests still under way");
        }
    }
}
