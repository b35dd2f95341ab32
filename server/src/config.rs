//! How Keydesk is configured: environment variables, with flags of the same meaning.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use keydesk_api::AccountId;

/// The account the embedded directory answers for when none is configured.
pub const DEMO_ACCOUNT_ID: &str = "KEYDESKDEMOACCOUNTABCDEFGH";

#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "KEYDESK_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Where the embedded directory keeps its SQLite file (`keydesk.db`).
    #[arg(
        long,
        global = true,
        env = "KEYDESK_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// The built page (Trunk's `dist`) to serve. Without it: the page built into the binary
    /// (the release build, `--features embed-page`), or else `./dist`.
    #[arg(long, global = true, env = "KEYDESK_DIST")]
    pub dist: Option<PathBuf>,
    /// The 1Password account ID the API answers for.
    #[arg(long, global = true, env = "KEYDESK_ACCOUNT_ID", default_value = DEMO_ACCOUNT_ID)]
    pub account_id: AccountId,
    /// The configuration file: sign-in (SSO proxy or development), roles, rate limits. Optional:
    /// without it Keydesk runs in development sign-in on loopback.
    #[arg(long = "config", global = true, env = "KEYDESK_CONFIG")]
    pub settings_file: Option<PathBuf>,
    /// The person Keydesk acts for in development, until the SSO proxy says who is signed in.
    #[arg(
        long,
        global = true,
        env = "KEYDESK_DEV_USER",
        default_value = "amara.okafor@example.com"
    )]
    pub dev_user: String,
    /// The address people reach Keydesk at, for links in emails (default: http://LISTEN, or
    /// https://LISTEN with [server.tls]).
    #[arg(long, global = true, env = "KEYDESK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How long a recovery link works, for example `48h` or `30m`.
    #[arg(long, global = true, env = "KEYDESK_RECOVERY_LINK_TTL", default_value = "48h",
          value_parser = humantime::parse_duration)]
    pub recovery_link_ttl: Duration,
    /// Where recovery emails go, for example `smtp://mail.internal:25` or
    /// `smtps://user:password@mail.example.com`. Without it they wait in the outbox, which the
    /// page shows.
    #[arg(long, global = true, env = "KEYDESK_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of Keydesk's emails.
    #[arg(
        long,
        global = true,
        env = "KEYDESK_MAIL_FROM",
        default_value = "Keydesk <keydesk@localhost>"
    )]
    pub mail_from: String,
    /// Where to serve metrics (`/metrics`, Prometheus' text format), for example
    /// `127.0.0.1:9465`; off unless given. Never on the main listener.
    #[arg(long, global = true, env = "KEYDESK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// How the log on stderr is written: `text` for people, `json` (one object a line) for a log
    /// system.
    #[arg(
        long,
        global = true,
        env = "KEYDESK_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: crate::logging::LogFormat,
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("keydesk.db")
    }

    /// Where links in emails point: by default Keydesk's own address, over HTTPS if it speaks it.
    pub fn public_url(&self, https: bool) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if https => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }
}
