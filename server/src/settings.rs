//! The configuration file (`keydesk.toml`, path in `KEYDESK_CONFIG`): who is signed in and how
//! Keydesk learns it, which SSO groups map to which roles, and how fast a person may act.
//! Everything has a default, so the embedded demo needs no file at all.

use std::{collections::BTreeSet, net::IpAddr, path::Path};

use anyhow::{Context as _, bail};
use ipnet::IpNet;
use keydesk_api::Permission;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub roles: RoleSettings,
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
    /// Where users live: the embedded SQLite directory (default) or the 1Password account.
    #[serde(default)]
    pub directory: DirectorySettings,
    /// OAuth clients that may call the Users API with bearer tokens, as the 1Password cloud lets
    /// them: the embedded server as a stand-in for the cloud, for the connector's tests.
    #[serde(default)]
    pub oauth: OAuthSettings,
    #[serde(default)]
    pub storage: StorageSettings,
    /// What clients may hold: connections, and time to send a request.
    #[serde(default)]
    pub server: crate::serve::ServerLimits,
    /// What every change must carry: a reason, a ticket.
    #[serde(default)]
    pub changes: crate::changes::ChangeSettings,
    /// What completing a recovery asks: a checklist, a second admin.
    #[serde(default)]
    pub recovery: crate::changes::RecoveryRules,
    /// How long records are kept; where the chain's head is anchored.
    #[serde(default)]
    pub audit: crate::audit::AuditSettings,
}

/// How Keydesk's SQLite files are used.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// How long a write waits for a lock another process holds on a database file (a backup,
    /// an operator's `sqlite3`) before giving up with a 503 that names the lock.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: std::time::Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            lock_timeout: crate::storage::DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// The token endpoint's clients and how long its tokens live.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// How long a bearer token works; 15 minutes, as 1Password's do.
    #[serde(default = "default_token_lifetime", with = "humantime_serde")]
    pub token_lifetime: std::time::Duration,
    #[serde(default)]
    pub clients: Vec<OAuthClientSettings>,
    /// Play an account that uses automated provisioning (an identity provider through SCIM):
    /// 1Password refuses the Users API to such accounts, so every call with a bearer token is
    /// refused (see `auth::oauth::PROVISIONING_REFUSAL`).
    #[serde(default)]
    pub automated_provisioning: bool,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            token_lifetime: default_token_lifetime(),
            clients: Vec::new(),
            automated_provisioning: false,
        }
    }
}

fn default_token_lifetime() -> std::time::Duration {
    std::time::Duration::from_secs(15 * 60)
}

/// One OAuth application. The file holds the SHA-256 of its secret, never the secret.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientSettings {
    pub client_id: String,
    /// Hex SHA-256 of the client secret (`printf %s "$SECRET" | sha256sum`).
    #[serde(
        deserialize_with = "sha256_hex",
        serialize_with = "crate::redact::redacted"
    )]
    pub secret_sha256: [u8; 32],
    #[serde(default = "all_scopes")]
    pub scopes: Vec<Scope>,
}

fn sha256_hex<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
    let text = String::deserialize(deserializer)?;
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            serde::de::Error::custom(
                "secret_sha256 must be the 64 hex digits of the secret's SHA-256",
            )
        })
}

/// The scopes of a 1Password Users API OAuth application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    GetUser,
    ListUsers,
    SuspendUsers,
    ReactivateUsers,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::GetUser,
        Scope::ListUsers,
        Scope::SuspendUsers,
        Scope::ReactivateUsers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::GetUser => "get_user",
            Scope::ListUsers => "list_users",
            Scope::SuspendUsers => "suspend_users",
            Scope::ReactivateUsers => "reactivate_users",
        }
    }

    /// The Keydesk permission the scope grants.
    pub fn permission(self) -> Permission {
        match self {
            Scope::GetUser | Scope::ListUsers => Permission::ReadUsers,
            Scope::SuspendUsers => Permission::Suspend,
            Scope::ReactivateUsers => Permission::Reactivate,
        }
    }
}

fn all_scopes() -> Vec<Scope> {
    Scope::ALL.to_vec()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Keydesk's own SQLite directory, seeded with a demo.
    #[default]
    Embedded,
    /// A 1Password Business account, through the Users API and `op`.
    Upstream,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    #[serde(default)]
    pub backend: Backend,
    /// Required when `backend = "upstream"`.
    pub upstream: Option<crate::directory::upstream::UpstreamSettings>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A fixed identity, for the embedded demo on this machine only.
    #[default]
    Development,
    /// The SSO reverse proxy says who is signed in.
    Proxy,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(default)]
    pub mode: AuthMode,
    #[serde(default)]
    pub development: DevelopmentSettings,
    /// Required in proxy mode: there is no safe default for who may vouch for people.
    pub proxy: Option<ProxySettings>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DevelopmentSettings {
    /// The groups of the development identity (its email is `KEYDESK_DEV_USER`).
    #[serde(default = "default_dev_groups")]
    pub groups: Vec<String>,
}

impl Default for DevelopmentSettings {
    fn default() -> Self {
        DevelopmentSettings {
            groups: default_dev_groups(),
        }
    }
}

fn default_dev_groups() -> Vec<String> {
    vec!["keydesk-admins".into()]
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Addresses whose identity headers are believed. Default: this machine only.
    #[serde(default = "loopback")]
    pub trusted_proxies: Vec<IpNet>,
    /// Optionally, a header the proxy must also send with a shared secret…
    pub secret_header: Option<String>,
    /// …whose value is read from this file (or from `KEYDESK_PROXY_SECRET`), never from here.
    pub secret_file: Option<std::path::PathBuf>,
    /// Optionally, the CA (PEM) that signs the proxy's client certificate: identity headers are
    /// then believed only on TLS connections that presented one (see `crate::tls`)…
    pub client_ca: Option<std::path::PathBuf>,
    /// …with one of these names as its subject CN or a DNS subject alternative name, if given.
    #[serde(default)]
    pub client_names: Vec<String>,
    #[serde(default)]
    pub headers: HeaderNames,
}

fn loopback() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("valid"),
        "::1/128".parse().expect("valid"),
    ]
}

/// The identity headers, oauth2-proxy's names by default (Grafana uses `X-WEBAUTH-USER`,
/// authentik `X-authentik-email`, …).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNames {
    pub email: String,
    pub user: String,
    pub preferred_username: String,
    pub groups: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            email: "X-Forwarded-Email".into(),
            user: "X-Forwarded-User".into(),
            preferred_username: "X-Forwarded-Preferred-Username".into(),
            groups: "X-Forwarded-Groups".into(),
        }
    }
}

impl HeaderNames {
    pub fn all(&self) -> [&str; 4] {
        [
            &self.email,
            &self.user,
            &self.preferred_username,
            &self.groups,
        ]
    }
}

/// Which SSO groups make someone an owner, administrator, helpdesk member or viewer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSettings {
    pub owner: Vec<String>,
    pub administrator: Vec<String>,
    /// 1Password's "Recover Accounts" permission: read users, begin and complete recovery.
    pub helpdesk: Vec<String>,
    pub viewer: Vec<String>,
}

impl Default for RoleSettings {
    fn default() -> Self {
        RoleSettings {
            owner: vec!["keydesk-owners".into()],
            administrator: vec!["keydesk-admins".into()],
            helpdesk: vec!["keydesk-helpdesk".into()],
            viewer: vec!["keydesk-viewers".into()],
        }
    }
}

impl RoleSettings {
    /// The roles a person's groups give them, and the permissions those roles grant.
    pub fn resolve(&self, groups: &[String]) -> (Vec<String>, Vec<Permission>) {
        use Permission::*;
        let table: [(&str, &Vec<String>, &[Permission]); 4] = [
            ("owner", &self.owner, &Permission::ALL),
            ("administrator", &self.administrator, &Permission::ALL),
            ("helpdesk", &self.helpdesk, &[ReadUsers, Recover]),
            ("viewer", &self.viewer, &[ReadUsers]),
        ];
        let mut roles = Vec::new();
        let mut permissions = BTreeSet::new();
        for (role, role_groups, grants) in table {
            if role_groups
                .iter()
                .any(|g| groups.iter().any(|have| have == g))
            {
                roles.push(role.to_owned());
                permissions.extend(grants.iter().copied());
            }
        }
        (roles, permissions.into_iter().collect())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// State-changing actions one person may take per minute (0: no limit).
    pub actions_per_minute: u32,
    /// Looks at and uses of recovery links one client address may make per minute (0: no
    /// limit). The person holding a link needs two or three; anyone may try, so guessing is
    /// bounded here.
    pub recovery_links_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            actions_per_minute: 60,
            recovery_links_per_minute: 10,
        }
    }
}

impl Settings {
    /// Read the file if there is one; defaults otherwise.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("in the configuration file {}", path.display()))
    }

    /// Refuse configurations that would let the wrong people in.
    pub fn check(&self, listen: IpAddr) -> anyhow::Result<()> {
        match self.auth.mode {
            AuthMode::Development if !listen.is_loopback() => bail!(
                "development sign-in acts as a fixed person, so it only runs on a loopback address, \
                 not {listen}: listen on 127.0.0.1, or set [auth] mode = \"proxy\" behind your SSO proxy"
            ),
            AuthMode::Proxy if self.auth.proxy.is_none() => bail!(
                "[auth] mode = \"proxy\" needs an [auth.proxy] section saying which proxy addresses \
                 to trust (trusted_proxies, default loopback only) and, optionally, a shared secret; \
                 see the README's deployment section"
            ),
            _ => {}
        }
        self.oauth.check()
    }
}

impl OAuthSettings {
    fn check(&self) -> anyhow::Result<()> {
        if self.token_lifetime.as_secs() == 0 {
            bail!("[oauth] token_lifetime must be at least one second (expires_in counts seconds)");
        }
        let mut seen = BTreeSet::new();
        for client in &self.clients {
            let id = client.client_id.as_str();
            if id.is_empty() || id.contains(':') || id.chars().any(char::is_control) {
                bail!(
                    "[[oauth.clients]] client_id '{id}' must be non-empty text without ':' \
                     (Basic authentication puts a ':' between the ID and the secret)"
                );
            }
            if !seen.insert(id) {
                bail!("[[oauth.clients]] client_id '{id}' is configured twice");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_groups_and_grant_their_permissions() {
        let roles = RoleSettings::default();
        let (names, permissions) = roles.resolve(&["keydesk-helpdesk".into(), "other".into()]);
        assert_eq!(names, ["helpdesk"]);
        assert_eq!(permissions, [Permission::ReadUsers, Permission::Recover]);
        let (names, permissions) = roles.resolve(&["nothing".into()]);
        assert!(names.is_empty() && permissions.is_empty());
        let (_, permissions) = roles.resolve(&["keydesk-admins".into()]);
        assert_eq!(permissions, Permission::ALL);
    }

    #[test]
    fn development_sign_in_only_on_loopback_and_proxy_mode_needs_its_section() {
        let development = Settings::default();
        assert!(development.check("127.0.0.1".parse().unwrap()).is_ok());
        let err = development.check("0.0.0.0".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let proxy: Settings = toml::from_str("[auth]\nmode = \"proxy\"").unwrap();
        let err = proxy.check("0.0.0.0".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("[auth.proxy]"), "{err}");
        let proxy: Settings = toml::from_str(
            "[auth]\nmode = \"proxy\"\n[auth.proxy]\ntrusted_proxies = [\"10.1.2.3/32\"]",
        )
        .unwrap();
        assert!(proxy.check("0.0.0.0".parse().unwrap()).is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Settings>("[auth]\nmood = \"proxy\"").is_err());
    }
}
