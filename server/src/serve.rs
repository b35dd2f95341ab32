//! Accepting connections, bounded: a client gets a fixed time to send its request headers (over
//! TLS, its handshake included; one byte every few seconds no longer holds a connection open),
//! idle keep-alive connections close after the same time, headers are capped in size, and
//! beyond `max_connections` a new connection is answered 503 at once and closed, instead of
//! making everyone wait.
//!
//! axum's own `serve` offers none of these, so connections are served with hyper's own
//! settings, as axum's `serve-with-hyper` example does. HTTP/1.1 only: it is what an SSO proxy
//! speaks to Keydesk, and hyper's version detection for HTTP/2 would wait for a first byte with
//! no timeout at all, which is how idle connections used to pile up.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{ConnectInfo, Request},
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::{GracefulShutdown, Watcher},
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{Notify, Semaphore},
};
use tower::ServiceExt;

use crate::tls::{ClientCertificate, Tls};

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
    /// `[server.tls]`: Keydesk's own certificate, for HTTPS on its listener.
    pub tls: Option<crate::tls::TlsSettings>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
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

/// Serve `router` on `listener` (over TLS if `tls`) until `shutdown` resolves, then let requests
/// under way finish (up to `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerLimits,
    tls: Option<Arc<Tls>>,
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
            crate::metrics::connection_refused();
            // Over TLS nothing can be said before a handshake, which is what the limit spares:
            // the connection is just closed.
            if tls.is_none() {
                let _ = stream.try_write(&refusal);
            }
            continue;
        };
        let connection = Connection {
            peer,
            builder: builder.clone(),
            router: router.clone(),
            // Taken here, not in the task: a connection accepted before `shutdown` is told of it.
            watcher: graceful.watcher(),
            first_request: Arc::new(Notify::new()),
        };
        let tls = tls.clone();
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let first_request = connection.first_request.clone();
            let mut serving = std::pin::pin!(connection.serve(stream, tls));
            // The handshake and the first request's headers share one deadline, so a slow or
            // silent handshake holds its slot no longer than slow headers do. Later requests are
            // bounded by hyper's own timer.
            let in_time = tokio::select! {
                () = &mut serving => false,
                () = first_request.notified() => true,
                () = tokio::time::sleep(header_read_timeout) => false,
            };
            if in_time {
                serving.await;
            }
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

/// One accepted connection, before its handshake.
struct Connection {
    peer: SocketAddr,
    builder: http1::Builder,
    router: Router,
    watcher: Watcher,
    /// Told when the first request's headers are in.
    first_request: Arc<Notify>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<Arc<Tls>>) {
        match tls {
            None => self.serve_http(stream, None).await,
            Some(tls) => match tls.accept(stream).await {
                Ok((stream, certificate)) => self.serve_http(stream, certificate).await,
                // A client that does not trust Keydesk's certificate, a certificate the client
                // CA did not sign, a port scan: nothing to answer, nor Keydesk's error.
                Err(err) => {
                    tracing::debug!(peer = %self.peer, error = %err, "TLS handshake failed")
                }
            },
        }
    }

    /// Requests as axum's `into_make_service_with_connect_info` would pass them, plus what the
    /// handshake established, for `auth` to judge.
    async fn serve_http<I>(self, io: I, certificate: Option<ClientCertificate>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            builder,
            router,
            watcher,
            first_request,
        } = self;
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            first_request.notify_one();
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            router.clone().oneshot(request)
        });
        // A client that went away mid-request is not Keydesk's error.
        let _ = watcher
            .watch(builder.serve_connection(TokioIo::new(io), service))
            .await;
    }
}
