//! OAuth 2 client credentials for the Users API, as the 1Password cloud offers them: an OAuth
//! client trades its ID and secret for an opaque bearer token that works for `token_lifetime`,
//! and may revoke it. This makes the embedded server a stand-in for the cloud, so the upstream
//! connector can be tested against a real HTTP server.
//!
//! Tokens live in memory only, and only as their SHA-256: a restart signs every client out (they
//! ask again, as they do every 15 minutes anyway), and nothing in memory is a usable token.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};
use keydesk_api::{ErrorStatus, Permission, Session};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    auth::RequestContext,
    error::AppError,
    settings::{OAuthClientSettings, OAuthSettings, Scope},
};

/// The OAuth clients, and the tokens issued to them.
pub struct TokenStore {
    clients: Vec<OAuthClientSettings>,
    lifetime: Duration,
    automated_provisioning: bool,
    /// By the token's SHA-256.
    tokens: Mutex<HashMap<[u8; 32], Issued>>,
}

struct Issued {
    client_id: String,
    expires: Instant,
}

/// An OAuth client, as its credentials or a bearer token of its showed it. A request with a
/// bearer token carries this in its extensions beside the [`Session`] it stands for.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub scopes: Vec<Scope>,
    /// The account uses automated provisioning: every Users API call is refused.
    pub automated_provisioning: bool,
}

/// 1Password: "Integrations with the Users API are not currently supported if you use automated
/// provisioning with your 1Password account" (support article on the Users API). How the API
/// refuses them is not documented: Keydesk's stand-in answers every call 403
/// `PERMISSION_DENIED` with that sentence, and the connector knows it by the words "automated
/// provisioning" (`directory::upstream::client`).
pub const PROVISIONING_REFUSAL: &str = "Integrations with the Users API are not currently \
    supported if you use automated provisioning with your 1Password account.";

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl TokenStore {
    pub fn new(settings: &OAuthSettings) -> Self {
        TokenStore {
            clients: settings.clients.clone(),
            lifetime: settings.token_lifetime,
            automated_provisioning: settings.automated_provisioning,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn client(&self, id: &str) -> Option<Client> {
        self.clients
            .iter()
            .find(|c| c.client_id == id)
            .map(|c| Client {
                id: c.client_id.clone(),
                scopes: c.scopes.clone(),
                automated_provisioning: self.automated_provisioning,
            })
    }

    /// The client these credentials belong to. The secret is hashed before anything is
    /// compared, so how long a wrong guess takes says nothing about the real secret.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<Client> {
        let given = digest(secret);
        self.clients
            .iter()
            .find(|c| c.client_id == id && c.secret_sha256 == given)
            .and_then(|c| self.client(&c.client_id))
    }

    /// A new bearer token for `client`, working until `now` + the lifetime.
    pub fn issue(&self, client: &Client, now: Instant) -> String {
        let token = data_encoding::BASE64URL_NOPAD.encode(&rand::random::<[u8; 32]>());
        let mut tokens = self.tokens.lock().expect("the token store is not poisoned");
        // Forget expired tokens here, so the store holds only live ones however long it runs.
        tokens.retain(|_, issued| issued.expires > now);
        tokens.insert(
            digest(&token),
            Issued {
                client_id: client.id.clone(),
                expires: now + self.lifetime,
            },
        );
        token
    }

    /// The client a token speaks for at `now`: `None` when it is unknown, expired or revoked.
    pub fn client_for(&self, token: &str, now: Instant) -> Option<Client> {
        let key = digest(token);
        let mut tokens = self.tokens.lock().expect("the token store is not poisoned");
        let issued = tokens.get(&key)?;
        if issued.expires <= now {
            tokens.remove(&key);
            return None;
        }
        // The scopes are the configuration's, looked up afresh.
        self.client(&issued.client_id)
    }

    /// Revoke one of `client`'s tokens. Another client's token, or an unknown one, is left as
    /// it is and answered the same way (RFC 7009: 200 either way), so revoking tells nobody
    /// whether a token exists.
    pub fn revoke(&self, client: &Client, token: &str) {
        let key = digest(token);
        let mut tokens = self.tokens.lock().expect("the token store is not poisoned");
        if tokens.get(&key).is_some_and(|i| i.client_id == client.id) {
            tokens.remove(&key);
        }
    }
}

impl Client {
    /// Who the audit trail and the rate limit say acted.
    pub fn actor(&self) -> String {
        format!("oauth-client:{}", self.id)
    }

    /// The session a bearer token stands for: the permissions of the client's scopes, no groups
    /// and no roles.
    pub fn session(&self) -> Session {
        let mut permissions: Vec<Permission> =
            self.scopes.iter().map(|scope| scope.permission()).collect();
        permissions.sort();
        permissions.dedup();
        Session {
            email: self.actor(),
            name: Some(self.id.clone()),
            groups: Vec::new(),
            roles: Vec::new(),
            permissions,
            development: false,
            recent_tickets: Vec::new(),
        }
    }

    /// A 403 naming the scope a call needs, unless the client has it.
    pub fn require_scope(&self, scope: Scope) -> Result<(), AppError> {
        self.refuse_if_provisioned()?;
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        let have: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        Err(AppError::new(
            ErrorStatus::PermissionDenied,
            format!(
                "The OAuth client '{}' needs the '{}' scope for this; its scopes: {}.",
                self.id,
                scope.as_str(),
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ),
        ))
    }

    fn refuse_if_provisioned(&self) -> Result<(), AppError> {
        match self.automated_provisioning {
            true => Err(AppError::new(
                ErrorStatus::PermissionDenied,
                PROVISIONING_REFUSAL,
            )),
            false => Ok(()),
        }
    }

    /// A 403 naming the scope that grants `permission`, unless the client has one.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        self.refuse_if_provisioned()?;
        let mut granting = Scope::ALL
            .into_iter()
            .filter(|s| s.permission() == permission);
        match granting.next() {
            // Only reading takes one of two scopes, and reads name theirs (`require_scope`).
            Some(scope) if !self.scopes.iter().any(|s| s.permission() == permission) => {
                self.require_scope(scope)
            }
            Some(_) => Ok(()),
            None => Err(AppError::new(
                ErrorStatus::PermissionDenied,
                format!(
                    "No OAuth scope grants the '{}' permission: a bearer token only lists, gets, \
                     suspends and reactivates users.",
                    permission.as_str()
                ),
            )),
        }
    }
}

/// The token of an `Authorization: Bearer …` header; `None` without one. Several
/// `Authorization` headers with a bearer among them give an empty token, which no client has.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let values: Vec<&str> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let token = values.iter().find_map(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    })?;
    Some(if values.len() == 1 { token } else { "" })
}

/// `Authorization: Basic base64(client_id:client_secret)`, decoded; `None` when absent or
/// malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64
        .decode(encoded.trim().as_bytes())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// On the routes that are not the Users API: an OAuth client's bearer token is refused (403),
/// and the refusal audited like any refused sign-in.
pub async fn refuse_bearer(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(client) = request.extensions().get::<Client>().cloned() else {
        return next.run(request).await;
    };
    let context = request.extensions().get::<RequestContext>().cloned();
    let reason = format!(
        "A bearer token only works on the Users API (list, get, :suspend, :reactivate), not on \
         {}; the OAuth client '{}' may not call it.",
        request.uri().path(),
        client.id
    );
    super::refuse_sign_in(
        &state,
        context,
        client.actor(),
        Vec::new(),
        ErrorStatus::PermissionDenied,
        reason,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(lifetime: Duration) -> TokenStore {
        let settings: OAuthSettings = toml::from_str(&format!(
            "token_lifetime = \"{}s\"\n\
             [[clients]]\nclient_id = \"reader\"\nsecret_sha256 = \"{}\"\nscopes = [\"get_user\"]\n\
             [[clients]]\nclient_id = \"other\"\nsecret_sha256 = \"{}\"",
            lifetime.as_secs(),
            data_encoding::HEXLOWER.encode(&digest("reader secret")),
            data_encoding::HEXLOWER.encode(&digest("other secret")),
        ))
        .unwrap();
        TokenStore::new(&settings)
    }

    #[test]
    fn only_the_right_secret_authenticates_a_client() {
        let store = store(Duration::from_secs(60));
        assert_eq!(
            store.authenticate("reader", "reader secret").unwrap().id,
            "reader"
        );
        assert!(store.authenticate("reader", "other secret").is_none());
        assert!(store.authenticate("nobody", "reader secret").is_none());
        let other = store.authenticate("other", "other secret").unwrap();
        assert_eq!(other.scopes, Scope::ALL, "all four scopes by default");
    }

    #[test]
    fn a_token_works_until_its_lifetime_runs_out() {
        let store = store(Duration::from_secs(900));
        let client = store.authenticate("reader", "reader secret").unwrap();
        let start = Instant::now();
        let token = store.issue(&client, start);
        let later = |secs| start + Duration::from_secs(secs);
        assert_eq!(store.client_for(&token, later(899)).unwrap().id, "reader");
        assert!(store.client_for(&token, later(900)).is_none());
        // And it is gone for good, not just refused at that moment.
        assert!(store.client_for(&token, start).is_none());
        assert!(store.client_for("not a token", start).is_none());
    }

    #[test]
    fn expired_tokens_are_forgotten_when_new_ones_are_issued() {
        let store = store(Duration::from_secs(10));
        let client = store.authenticate("reader", "reader secret").unwrap();
        let start = Instant::now();
        store.issue(&client, start);
        store.issue(&client, start);
        store.issue(&client, start + Duration::from_secs(11));
        assert_eq!(store.tokens.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_client_revokes_only_its_own_tokens() {
        let store = store(Duration::from_secs(60));
        let reader = store.authenticate("reader", "reader secret").unwrap();
        let other = store.authenticate("other", "other secret").unwrap();
        let now = Instant::now();
        let token = store.issue(&reader, now);
        store.revoke(&other, &token);
        assert!(store.client_for(&token, now).is_some());
        store.revoke(&reader, &token);
        assert!(store.client_for(&token, now).is_none());
    }

    #[test]
    fn tokens_are_stored_as_digests_only() {
        let store = store(Duration::from_secs(60));
        let client = store.authenticate("reader", "reader secret").unwrap();
        let token = store.issue(&client, Instant::now());
        let tokens = store.tokens.lock().unwrap();
        assert!(tokens.contains_key(&digest(&token)));
        assert!(!tokens.keys().any(|k| k.as_slice() == token.as_bytes()));
    }

    #[test]
    fn the_header_schemes_are_told_apart() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for v in values {
                map.append(header::AUTHORIZATION, v.parse().unwrap());
            }
            map
        };
        assert_eq!(bearer(&headers(&["Bearer abc"])), Some("abc"));
        assert_eq!(bearer(&headers(&["bearer  abc "])), Some("abc"));
        assert_eq!(bearer(&headers(&["Basic abc"])), None);
        assert_eq!(bearer(&headers(&[])), None);
        assert_eq!(bearer(&headers(&["Bearer abc", "Basic x"])), Some(""));
        let basic = format!("Basic {}", data_encoding::BASE64.encode(b"id:se:cret"));
        assert_eq!(
            basic_credentials(&headers(&[&basic])),
            Some(("id".to_owned(), "se:cret".to_owned()))
        );
        assert_eq!(basic_credentials(&headers(&["Basic !!!"])), None);
        assert_eq!(basic_credentials(&headers(&["Bearer abc"])), None);
    }

    #[test]
    fn a_missing_scope_is_named() {
        let client = Client {
            id: "reader".into(),
            scopes: vec![Scope::GetUser],
            automated_provisioning: false,
        };
        assert!(client.require_scope(Scope::GetUser).is_ok());
        assert!(client.require(Permission::ReadUsers).is_ok());
        let err = client.require(Permission::Suspend).unwrap_err();
        assert!(err.message.contains("'suspend_users'"), "{}", err.message);
        let err = client.require(Permission::Recover).unwrap_err();
        assert_eq!(err.status, ErrorStatus::PermissionDenied);
        assert_eq!(client.session().permissions, [Permission::ReadUsers]);
        assert_eq!(client.session().email, "oauth-client:reader");
    }
}
