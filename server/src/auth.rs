//! Who is acting, and the guard every state-changing request passes: same-site check,
//! permission, rate limit, and an audit record of the outcome before the response leaves.
//!
//! Identity comes from the SSO proxy's headers (believed only from trusted proxy addresses, and
//! only with the shared secret when one is configured), or, in development mode, from a fixed
//! identity that only works on loopback. On the Users API, an OAuth client's bearer token
//! ([`oauth`]) speaks instead, and then the SSO headers are not looked at.

pub mod oauth;

use std::{net::IpAddr, net::SocketAddr, num::NonZeroU32, time::Instant};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use keydesk_api::{ErrorStatus, Permission, Session};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    audit::{Entry, Outcome},
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
        Ok(Authenticator {
            mode: settings.auth.mode,
            dev_email: dev_email.to_owned(),
            dev_groups: settings.auth.development.groups.clone(),
            proxy,
            proxy_secret,
            roles: settings.roles.clone(),
            limiter,
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
        }
    }

    fn trusts(&self, peer: Option<IpAddr>) -> bool {
        match (&self.proxy, peer) {
            (Some(proxy), Some(peer)) => {
                proxy.trusted_proxies.iter().any(|net| net.contains(&peer))
            }
            _ => false,
        }
    }

    /// The person behind a request, or why Keydesk cannot tell.
    pub(crate) fn identify(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<Session, String> {
        if self.mode == AuthMode::Development {
            return Ok(self.session(self.dev_email.clone(), None, self.dev_groups.clone(), true));
        }
        let proxy = self.proxy.as_ref().ok_or("no SSO proxy is configured")?;
        if !self.trusts(peer) {
            return Err("the request did not come through the SSO proxy".into());
        }
        if let (Some(name), Some(expected)) = (&proxy.secret_header, &self.proxy_secret) {
            let given = single(headers, name)?.unwrap_or_default();
            let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            if &given != expected {
                return Err("the SSO proxy's shared secret is missing or wrong".into());
            }
        }
        // A header spelled like an identity header with underscores may be turned into the real
        // one by some server on the way, after the proxy let it through: refuse outright.
        for name in headers.keys() {
            let spelled = name.as_str();
            if spelled.contains('_') {
                let normalised = spelled.replace('_', "-");
                if proxy
                    .headers
                    .all()
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&normalised))
                    || proxy
                        .secret_header
                        .as_ref()
                        .is_some_and(|h| h.eq_ignore_ascii_case(&normalised))
                {
                    return Err(format!(
                        "the request carries a disguised identity header '{spelled}'"
                    ));
                }
            }
        }
        let email = single(headers, &proxy.headers.email)?
            .filter(|email| !email.trim().is_empty())
            .ok_or("the SSO proxy sent no email address")?;
        let email = email.trim().to_owned();
        if email.len() > 320 || !email.contains('@') {
            return Err("the SSO proxy's email header is not an email address".into());
        }
        let name = single(headers, &proxy.headers.preferred_username)?
            .or(single(headers, &proxy.headers.user)?)
            .filter(|n| !n.trim().is_empty());
        // Groups may come as several header lines, each possibly comma-separated (oauth2-proxy)
        // or pipe-separated (authentik).
        let mut groups: Vec<String> = Vec::new();
        for value in headers.get_all(proxy.headers.groups.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| "the groups header is not text")?;
            for group in value
                .split([',', '|'])
                .map(str::trim)
                .filter(|g| !g.is_empty())
            {
                if !groups.iter().any(|g| g == group) {
                    groups.push(group.to_owned());
                }
            }
        }
        Ok(self.session(email, name, groups, false))
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

    /// The email a refused request claimed, by the configured header name (for the audit only).
    fn claimed_email<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let name = self
            .proxy
            .as_ref()
            .map_or("x-forwarded-email", |p| p.headers.email.as_str());
        headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Seconds to wait before this person may act again; `None` when they may act now.
    fn wait_before_acting(&self, email: &str) -> Option<u64> {
        let limiter = self.limiter.as_ref()?;
        limiter
            .check_key(&email.to_lowercase())
            .err()
            .map(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }
}

/// One value of a header that must not be repeated.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("the request carries {name} more than once"));
    }
    first
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| format!("{name} is not text"))
        })
        .transpose()
}

/// What the audit trail records about where a request came from.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub client_address: String,
}

pub(crate) fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// For every request: an ID (echoed in `X-Request-Id`) and the client's address as forwarded.
pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = data_encoding::HEXLOWER.encode(&rand::random::<[u8; 8]>());
    let peer = peer(&request);
    let forwarded = state
        .auth
        .trusts(peer)
        .then(|| request.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned());
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

/// Record a refused sign-in (a person's, or an OAuth client's) in the audit trail.
pub async fn record_refused_sign_in(
    state: &AppState,
    context: Option<RequestContext>,
    actor: String,
    groups: Vec<String>,
    reason: String,
) -> Result<(), AppError> {
    let entry = Entry {
        actor_email: actor,
        actor_groups: groups,
        action: "sign_in".into(),
        targets: Vec::new(),
        outcome: Outcome::Denied,
        reason,
        request_id: context
            .as_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default(),
        client_address: context.map(|c| c.client_address).unwrap_or_default(),
    };
    state.audit.record(entry).await
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
                .map(|email| {
                    format!(
                        "unverified: {}",
                        email.chars().take(100).collect::<String>()
                    )
                })
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
                    session.groups.join(", ")
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
            None => Err(missing(&self.0, permission)),
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

fn missing(session: &Session, permission: Permission) -> AppError {
    let roles = if session.roles.is_empty() {
        "none".to_owned()
    } else {
        session.roles.join(", ")
    };
    AppError::new(
        ErrorStatus::PermissionDenied,
        format!(
            "You need the '{}' permission for this; your roles: {roles}.",
            permission.as_str()
        ),
    )
}

/// The guard of one state-changing request.
pub struct Guard {
    /// `None` on the public recovery-link routes, where the person holds a link, not a login.
    session: Option<Session>,
    /// The OAuth client behind a bearer token, when one acts.
    client: Option<oauth::Client>,
    context: RequestContext,
    method: Method,
    headers: HeaderMap,
    state: AppState,
}

impl FromRequestParts<AppState> for Guard {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Guard {
            session: parts.extensions.get::<Session>().cloned(),
            client: parts.extensions.get::<oauth::Client>().cloned(),
            context: parts
                .extensions
                .get::<RequestContext>()
                .cloned()
                .unwrap_or(RequestContext {
                    request_id: String::new(),
                    client_address: "unknown".into(),
                }),
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            state: state.clone(),
        })
    }
}

/// A state change from another site is refused: the browser says so in `Sec-Fetch-Site`, or,
/// for older browsers, the `Origin` names another host. Clients that send neither are not
/// browsers, so not a cross-site risk.
fn cross_site(method: &Method, headers: &HeaderMap) -> Option<String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return (!matches!(site, "same-origin" | "none"))
            .then(|| format!("the request came from another site ({site})"));
    }
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split("://").nth(1).unwrap_or(origin);
    (origin == "null" || !origin_host.eq_ignore_ascii_case(host))
        .then(|| format!("the request came from another origin ({origin})"))
}

impl Guard {
    pub fn actor(&self) -> &str {
        self.session
            .as_ref()
            .map_or("recovery link holder", |s| s.email.as_str())
    }

    /// Write one audit record for this request.
    pub async fn record(
        &self,
        action: &str,
        targets: &[String],
        outcome: Outcome,
        reason: String,
    ) -> Result<(), AppError> {
        self.state
            .audit
            .record(Entry {
                actor_email: self.actor().to_owned(),
                actor_groups: self
                    .session
                    .as_ref()
                    .map(|s| s.groups.clone())
                    .unwrap_or_default(),
                action: action.to_owned(),
                targets: targets.to_vec(),
                outcome,
                reason,
                request_id: self.context.request_id.clone(),
                client_address: self.context.client_address.clone(),
            })
            .await
    }

    /// May this go ahead? A refusal is audited before it is returned.
    pub async fn admit(
        &self,
        action: &str,
        permission: Option<Permission>,
        targets: &[String],
    ) -> Result<(), AppError> {
        // A bearer token is not something a browser sends by itself, so another site cannot
        // make one act: only SSO sessions need the same-site check.
        let cross_site = match self.client {
            Some(_) => None,
            None => cross_site(&self.method, &self.headers),
        };
        let refusal = if let Some(why) = cross_site {
            Some(AppError::new(
                ErrorStatus::PermissionDenied,
                format!("Refused: {why}."),
            ))
        } else if let Some(refused) = permission
            .zip(self.client.as_ref())
            .and_then(|(permission, client)| client.require(permission).err())
        {
            // Its session has the scopes' permissions; this names the scope it lacks.
            Some(refused)
        } else if let (Some(permission), Some(session)) = (permission, &self.session)
            && !session.may(permission)
        {
            Some(missing(session, permission))
        } else {
            // Signed-in people are limited one by one; the holder of a recovery link, who is not
            // signed in, by address, so nobody can try passwords or tokens without end.
            let key = match &self.session {
                Some(session) => session.email.clone(),
                None => format!("address {}", self.context.client_address),
            };
            self.state
                .auth
                .wait_before_acting(&key)
                .map(AppError::rate_limited)
        };
        match refusal {
            Some(err) => {
                self.record(action, targets, Outcome::Denied, err.message.clone())
                    .await?;
                Err(err)
            }
            None => Ok(()),
        }
    }

    /// Record how an admitted attempt ended; the caller answers only after this.
    pub async fn finish<T>(
        &self,
        action: &str,
        targets: &[String],
        result: &Result<T, AppError>,
    ) -> Result<(), AppError> {
        match result {
            Ok(_) => {
                self.record(action, targets, Outcome::Succeeded, String::new())
                    .await
            }
            Err(err) => {
                self.record(action, targets, Outcome::Failed, err.message.clone())
                    .await
            }
        }
    }

    /// Admit, run, record: the whole life of one state change.
    pub async fn attempt<T>(
        &self,
        action: &str,
        permission: Option<Permission>,
        targets: Vec<String>,
        work: impl Future<Output = Result<T, AppError>>,
    ) -> Result<T, AppError> {
        self.admit(action, permission, &targets).await?;
        let result = work.await;
        self.finish(action, &targets, &result).await?;
        result
    }
}
