//! Who is acting ([`identity`]), and the [`Guard`] every state-changing request passes.
//!
//! Identity comes from the SSO proxy's headers (believed only from trusted proxy addresses, and
//! only with the shared secret when one is configured), or, in development mode, from a fixed
//! identity that only works on loopback. On the Users API, an OAuth client's bearer token
//! ([`oauth`]) speaks instead, and then the SSO headers are not looked at.

mod guard;
mod identity;
pub mod oauth;

pub use self::guard::Guard;
pub(crate) use self::identity::printable;

use std::{net::IpAddr, net::SocketAddr, num::NonZeroU32, time::Instant};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use keydesk_api::{AuditAction, AuditOutcome, ErrorStatus, Permission, Session};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    audit::Entry,
    error::AppError,
    settings::{AuthMode, ProxySettings, Settings},
};

/// How identities are established, built once from the settings.
pub struct Authenticator {
    mode: AuthMode,
    dev_email: String,
    dev_groups: Vec<String>,
    proxy: Option<ProxySettings>,
    /// SHA-256 of the shared secret, so comparing takes the same time whatever the guess.
    proxy_secret: Option<[u8; 32]>,
    roles: crate::settings::RoleSettings,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// Uses of recovery links (inspect and accept), per client address.
    link_limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// The OAuth clients of the Users API and their bearer tokens.
    pub oauth: oauth::TokenStore,
}

impl Authenticator {
    pub fn new(settings: &Settings, dev_email: &str) -> anyhow::Result<Self> {
        let proxy = settings.auth.proxy.clone();
        let proxy_secret = match &proxy {
            Some(ProxySettings {
                secret_header: Some(_),
                secret_file,
                ..
            }) => {
                let secret = match (secret_file, std::env::var("KEYDESK_PROXY_SECRET")) {
                    (Some(path), _) => std::fs::read_to_string(path).map_err(|err| {
                        anyhow::anyhow!("reading the proxy secret {}: {err}", path.display())
                    })?,
                    (None, Ok(value)) => value,
                    (None, Err(_)) => anyhow::bail!(
                        "[auth.proxy] secret_header is set: give the secret in secret_file or KEYDESK_PROXY_SECRET"
                    ),
                };
                let secret = secret.trim();
                anyhow::ensure!(
                    secret.len() >= 16,
                    "the proxy secret must be at least 16 characters"
                );
                Some(Sha256::digest(secret.as_bytes()).into())
            }
            _ => None,
        };
        let limiter = NonZeroU32::new(settings.rate_limit.actions_per_minute)
            .map(|per_minute| RateLimiter::keyed(Quota::per_minute(per_minute)));
        let link_limiter = NonZeroU32::new(settings.rate_limit.recovery_links_per_minute)
            .map(|per_minute| RateLimiter::keyed(Quota::per_minute(per_minute)));
        Ok(Authenticator {
            mode: settings.auth.mode,
            dev_email: dev_email.to_owned(),
            dev_groups: settings.auth.development.groups.clone(),
            proxy,
            proxy_secret,
            roles: settings.roles.clone(),
            limiter,
            link_limiter,
            oauth: oauth::TokenStore::new(&settings.oauth),
        })
    }

    fn session(
        &self,
        email: String,
        name: Option<String>,
        groups: Vec<String>,
        development: bool,
    ) -> Session {
        let (roles, permissions) = self.roles.resolve(&groups);
        Session {
            email,
            name,
            groups,
            roles,
            permissions,
            development,
            recent_tickets: Vec::new(),
        }
    }

    /// The request headers a person's identity is read from, for `Vary` on answers that depend
    /// on who asks: the SSO proxy's headers, and the cookie and bearer token that it or a client
    /// may send.
    pub(crate) fn identity_headers(&self) -> Vec<&str> {
        let mut names = vec!["cookie", "authorization"];
        if self.mode == AuthMode::Proxy
            && let Some(proxy) = &self.proxy
        {
            names.extend(proxy.headers.all());
        }
        names
    }

    /// Seconds to wait before this person may act again; `None` when they may act now.
    fn wait_before_acting(&self, email: &str) -> Option<u64> {
        wait_for(self.limiter.as_ref()?, email.to_lowercase())
    }

    /// Seconds to wait before this address may use a recovery link again (look at one, or
    /// accept one): whoever holds a link is not signed in, so guessing is limited by address.
    fn wait_before_using_link(&self, client_address: &str) -> Option<u64> {
        wait_for(self.link_limiter.as_ref()?, client_address.to_owned())
    }
}

/// What the audit trail records about where a request came from.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_address: String,
}

fn wait_for(limiter: &DefaultKeyedRateLimiter<String>, key: String) -> Option<u64> {
    limiter.check_key(&key).err().map(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

pub(crate) fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// For every request: an ID (echoed in `X-Request-Id`) and the client's address: as forwarded
/// by a verified proxy (its address and its secret), otherwise the connection's own. Anything
/// else could be made up by the caller.
pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = data_encoding::HEXLOWER.encode(&rand::random::<[u8; 8]>());
    let peer = peer(&request);
    let forwarded = state
        .auth
        .verified_proxy(peer, request.headers())
        .is_ok()
        .then(|| request.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .and_then(|v| v.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string());
    let client_address =
        forwarded.unwrap_or_else(|| peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()));
    request.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client_address,
    });
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Record a refused sign-in (a person's, or an OAuth client's) in the audit trail: the first
/// from an address for a reason at once, its repeats within the minute as one count.
pub async fn record_refused_sign_in(
    state: &AppState,
    context: Option<RequestContext>,
    actor: String,
    groups: Vec<String>,
    reason: String,
) -> Result<(), AppError> {
    crate::metrics::sign_in_refused();
    let entry = Entry {
        actor_email: actor,
        actor_groups: groups,
        action: AuditAction::SignIn,
        targets: Vec::new(),
        outcome: AuditOutcome::Denied,
        reason,
        request_id: context
            .as_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default(),
        client_address: context.map(|c| c.client_address).unwrap_or_default(),
        count: 1,
        settles: None,
        note: Default::default(),
    };
    Ok(state.audit.record_refusal(entry).await?)
}

/// Refuse a sign-in, recording it in the audit trail first.
async fn refuse_sign_in(
    state: &AppState,
    context: Option<RequestContext>,
    actor: String,
    groups: Vec<String>,
    status: ErrorStatus,
    reason: String,
) -> Response {
    match record_refused_sign_in(state, context, actor, groups, reason.clone()).await {
        Ok(()) => AppError::new(status, reason).into_response(),
        Err(err) => err.into_response(),
    }
}

/// For every protected route: no identity, no access; no role, no access.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let context = request.extensions().get::<RequestContext>().cloned();
    let refuse = |actor: String, groups: Vec<String>, status: ErrorStatus, reason: String| {
        refuse_sign_in(&state, context.clone(), actor, groups, status, reason)
    };
    if let Some(token) = oauth::bearer(request.headers()) {
        // A bearer token speaks for an OAuth client, and for nobody else: whatever SSO headers
        // came with it are not looked at. Which routes take it is the router's business.
        let Some(client) = state.auth.oauth.client_for(token, Instant::now()) else {
            let mut response = refuse(
                "unverified: bearer token".into(),
                Vec::new(),
                ErrorStatus::Unauthenticated,
                "The bearer token is unknown, expired or revoked: ask the token endpoint for a new one."
                    .into(),
            )
            .await;
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        };
        request.extensions_mut().insert(client.session());
        request.extensions_mut().insert(client);
        return next.run(request).await;
    }
    match state.auth.identify(peer(&request), request.headers()) {
        Err(reason) => {
            // Whatever the request claimed, for the record; it is not believed.
            let claimed = state
                .auth
                .claimed_email(request.headers())
                .map(|email| format!("unverified: {}", printable(email)))
                .unwrap_or_else(|| "unknown".into());
            refuse(
                claimed,
                Vec::new(),
                ErrorStatus::Unauthenticated,
                format!("You are not signed in: {reason}."),
            )
            .await
        }
        Ok(session) if session.permissions.is_empty() => {
            let reason = format!(
                "You are signed in as {}, but none of your groups ({}) gives access to Keydesk.",
                session.email,
                if session.groups.is_empty() {
                    "none".to_owned()
                } else {
                    printable(&session.groups.join(", "))
                }
            );
            refuse(
                session.email,
                session.groups,
                ErrorStatus::PermissionDenied,
                reason,
            )
            .await
        }
        Ok(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
    }
}

/// The signed-in person (or OAuth client, with its scopes), for handlers of protected routes.
pub struct Signed(pub Session, pub Option<oauth::Client>);

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .map(|session| Signed(session, parts.extensions.get::<oauth::Client>().cloned()))
            .ok_or_else(|| AppError::new(ErrorStatus::Unauthenticated, "You are not signed in."))
    }
}

impl Signed {
    /// Reads need the permission too, but are not audited.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        match &self.1 {
            Some(client) => client.require(permission),
            None if self.0.may(permission) => Ok(()),
            None => Err(guard::missing(&self.0, permission)),
        }
    }

    /// For an OAuth client, the one scope of the Users API call it makes (`get_user` and
    /// `list_users` both grant reading, but each only its own call). A person passes.
    pub fn require_scope(&self, scope: crate::settings::Scope) -> Result<(), AppError> {
        self.1
            .as_ref()
            .map_or(Ok(()), |client| client.require_scope(scope))
    }
}
