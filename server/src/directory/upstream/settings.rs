//! `[directory.upstream]` in the configuration file: which 1Password account, with which OAuth
//! client, and how patiently.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use anyhow::{Context as _, bail};
use keydesk_api::AccountId;
use serde::{Deserialize, Serialize};

/// The regions 1Password serves the Users API from.
pub const KNOWN_BASE_URLS: [&str; 3] = [
    "https://api.1password.com",
    "https://api.1password.ca",
    "https://api.1password.eu",
];

/// Where the client secret may come from when `client_secret_file` is not set.
pub const CLIENT_SECRET_ENV: &str = "KEYDESK_UPSTREAM_CLIENT_SECRET";

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// The Users API: `https://api.1password.com` (default), `.ca` or `.eu`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Allow a base URL other than 1Password's three, for a test stand-in or a forward proxy.
    #[serde(default)]
    pub allow_custom_base_url: bool,
    pub account_id: AccountId,
    /// The OAuth application's client ID.
    pub client_id: String,
    /// A file holding the client secret; without it, `KEYDESK_UPSTREAM_CLIENT_SECRET`.
    pub client_secret_file: Option<PathBuf>,
    /// How often the snapshot that search, filters and sorting use is read again.
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// The longest any one HTTP call to 1Password may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How many times one call is tried when 1Password is busy (429, 503) or unreachable.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The longest Keydesk waits before trying again; a longer `Retry-After` fails at once.
    #[serde(default = "default_max_wait", with = "humantime_serde")]
    pub max_retry_wait: Duration,
    /// The account's admin console (its sign-in address, such as
    /// `https://example.1password.com`), linked where only the console can help.
    pub admin_console_url: Option<String>,
    /// The 1Password CLI, for beginning recovery. Without it, recovery cannot begin.
    pub op: Option<OpSettings>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpSettings {
    /// The `op` executable (2.32.0 or later).
    #[serde(default = "default_op_path")]
    pub path: PathBuf,
    /// Variables set for `op`, such as `OP_ACCOUNT`. `op` runs with only these and `pass_env`.
    #[serde(default, serialize_with = "crate::redact::redacted_values")]
    pub env: BTreeMap<String, String>,
    /// Variables passed on from Keydesk's own environment, such as `OP_SESSION_<shorthand>`
    /// (secrets belong here, not in `env`; README: "Recovery upstream").
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// The longest one `op` command may take.
    #[serde(default = "default_op_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The shorthand `op account add --shorthand` gave the recovery user's account: passed as
    /// `--account`, and the session goes in `OP_SESSION_<account>`. Needed with `password_file`.
    pub account: Option<String>,
    /// A file holding the recovery user's account password (mode 0600, like the client secret):
    /// with it Keydesk signs `op` in by itself (`op signin --raw`, the password on standard
    /// input) and again whenever the session has ended. Without it, the session comes from
    /// `pass_env` (README: "Recovery upstream").
    pub password_file: Option<PathBuf>,
    /// How often `op whoami` keeps a signed-in session from ending: 1Password ends one after 30
    /// minutes without use, so this must be shorter.
    #[serde(default = "default_keepalive", with = "humantime_serde")]
    pub keepalive: Duration,
}

/// 1Password ends a CLI session after this long without use ("Sign in manually").
pub const OP_IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);

impl OpSettings {
    /// What serve refuses: a password file without the account it signs in to, a shorthand
    /// that cannot name a variable, a keepalive too slow to keep anything alive.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(account) = &self.account
            && (account.is_empty()
                || !account
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            bail!(
                "[directory.upstream.op] account = {account:?} must be the account's shorthand \
                 (letters, digits and _), as `op account add --shorthand` set it"
            );
        }
        if self.password_file.is_some() && self.account.is_none() {
            bail!(
                "[directory.upstream.op] password_file needs account: the shorthand of the \
                 recovery user's account (op account add --shorthand keydesk)"
            );
        }
        if self.keepalive.is_zero() || self.keepalive >= OP_IDLE_LIMIT {
            bail!(
                "[directory.upstream.op] keepalive must be shorter than the 30 minutes after \
                 which 1Password ends an idle session (default 10m)"
            );
        }
        Ok(())
    }

    /// The variable that carries the session: `OP_SESSION_<account>`.
    pub fn session_variable(&self) -> Option<String> {
        self.account
            .as_ref()
            .map(|account| format!("OP_SESSION_{account}"))
    }
}

fn default_base_url() -> String {
    KNOWN_BASE_URLS[0].to_owned()
}
fn default_refresh() -> Duration {
    Duration::from_secs(300)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_attempts() -> u32 {
    4
}
fn default_max_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_op_path() -> PathBuf {
    PathBuf::from("op")
}
fn default_op_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_keepalive() -> Duration {
    Duration::from_secs(10 * 60)
}

impl UpstreamSettings {
    /// Refuse a base URL outside 1Password's own unless overridden, and read the secret.
    pub fn check(&self) -> anyhow::Result<String> {
        self.check_base_url()?;
        if self.max_attempts == 0 {
            bail!("[directory.upstream] max_attempts must be at least 1");
        }
        self.read_secret()
    }

    pub fn check_base_url(&self) -> anyhow::Result<()> {
        let base = self.base_url.trim_end_matches('/');
        if !KNOWN_BASE_URLS.contains(&base) && !self.allow_custom_base_url {
            bail!(
                "[directory.upstream] base_url = {:?} is not one of 1Password's ({}); set \
                 allow_custom_base_url = true if you really mean it",
                self.base_url,
                KNOWN_BASE_URLS.join(", ")
            );
        }
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            bail!("[directory.upstream] base_url must be an http(s) URL");
        }
        Ok(())
    }

    /// The OAuth client secret, from its file or from the environment.
    pub fn read_secret(&self) -> anyhow::Result<String> {
        let secret = match (&self.client_secret_file, std::env::var(CLIENT_SECRET_ENV)) {
            (Some(path), _) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the client secret {}", path.display()))?,
            (None, Ok(secret)) => secret,
            (None, Err(_)) => bail!(
                "[directory.upstream] needs the OAuth client secret: set client_secret_file, or \
                 {CLIENT_SECRET_ENV}"
            ),
        };
        let secret = secret.trim().to_owned();
        if secret.is_empty() {
            bail!("the upstream client secret is empty");
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> UpstreamSettings {
        toml::from_str(&format!(
            "account_id = \"KEYDESKDEMOACCOUNTABCDEFGH\"\nclient_id = \"c\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn only_1passwords_regions_unless_overridden() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let file = format!("client_secret_file = {:?}\n", secret.display().to_string());
        for base in KNOWN_BASE_URLS {
            let s = settings(&format!("{file}base_url = \"{base}/\""));
            assert_eq!(s.check().unwrap(), "s3cret");
        }
        let custom = settings(&format!("{file}base_url = \"http://127.0.0.1:9\""));
        let err = custom.check().unwrap_err().to_string();
        assert!(err.contains("allow_custom_base_url"), "{err}");
        let allowed = settings(&format!(
            "{file}base_url = \"http://127.0.0.1:9\"\nallow_custom_base_url = true"
        ));
        assert!(allowed.check().is_ok());
        assert_eq!(settings(&file).refresh_interval, Duration::from_secs(300));
        let quick = settings(&format!("{file}refresh_interval = \"2s\""));
        assert_eq!(quick.refresh_interval, Duration::from_secs(2));
    }
}
