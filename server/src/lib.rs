//! Keydesk's server: the admin API in the 1Password Users API's shape, and the built page.
//!
//! A request goes: [`router`] → a handler in [`routes`] → the [`directory::Directory`] behind it.
//! Every failure on the way is an [`error::AppError`], answered as one JSON shape.

pub mod audit;
mod auth;
pub mod changes;
pub mod config;
pub mod directory;
pub mod error;
pub mod events;
mod extract;
mod mail;
mod openapi;
mod page;
pub mod router;
mod routes;
pub mod schedule;
mod security;
mod serve;
pub mod settings;
pub mod storage;

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use keydesk_api::AccountId;

use audit::AuditLog;
use auth::Authenticator;
pub use config::Config;
use directory::{
    Directory,
    embedded::{RecoverySettings, SqliteDirectory},
    upstream::UpstreamDirectory,
};
use security::SecurityHeaders;
use serve::ServerLimits;
use settings::{Backend, Settings};
use tokio::net::TcpListener;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub directory: Arc<dyn Directory>,
    pub account_id: AccountId,
    /// The built page, from a folder or from the binary itself.
    pub page: page::PageFiles,
    pub auth: Arc<Authenticator>,
    pub audit: Arc<AuditLog>,
    pub security: SecurityHeaders,
    /// What every change must carry.
    pub rules: Arc<changes::Rules>,
    pub scheduler: Arc<schedule::Scheduler>,
    /// Every change, to every open page.
    pub events: Arc<events::Events>,
}

/// Keydesk, built from its configuration and ready to serve.
pub struct Keydesk {
    pub router: axum::Router,
    /// Wants a word when the server stops ([`Directory::shutdown`]).
    pub directory: Arc<dyn Directory>,
    pub audit: Arc<AuditLog>,
    /// Makes scheduled changes when they are due ([`schedule::Scheduler::tick`]).
    pub scheduler: Arc<schedule::Scheduler>,
    pub events: Arc<events::Events>,
    pub limits: ServerLimits,
}

impl Keydesk {
    /// Serve on `listener` until `shutdown` resolves, then finish what is under way, write the
    /// counts of repeated refusals, and let go of what the directory holds.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let events = self.events.clone();
        let shutdown = async move {
            shutdown.await;
            // Event streams never end by themselves: end them, or they hold the stop up.
            events.close();
        };
        serve::serve(listener, self.router.clone(), &self.limits, shutdown).await;
        self.close().await;
    }

    /// What stopping does after the last request: nothing recorded only in memory is lost.
    pub async fn close(&self) {
        if let Err(err) = self.audit.close_refusals(true).await {
            tracing::error!(error = %err, "could not record the count of repeated refusals");
        }
        self.directory.shutdown().await;
    }
}

/// Build the application for a configuration: open the directory, assemble the routes.
pub fn app(config: &Config) -> anyhow::Result<axum::Router> {
    Ok(build(config)?.router)
}

/// Open the directory and the audit trail, and assemble the routes.
pub fn build(config: &Config) -> anyhow::Result<Keydesk> {
    let settings = Settings::load(config.settings_file.as_deref())?;
    settings.check(config.listen.ip())?;
    let auth = Authenticator::new(&settings, &config.dev_user)?;
    let rules = changes::Rules::new(&settings.changes, &settings.recovery)?;
    let lock_timeout = settings.storage.lock_timeout;
    let recovery = RecoverySettings {
        link_ttl: config.recovery_link_ttl,
        public_url: config.public_url(),
        smtp_enabled: config.smtp_url.is_some(),
    };
    let audit_path = audit_path(config, &settings);
    let (directory, audit, account_id): (Arc<dyn Directory>, Arc<AuditLog>, AccountId) =
        match settings.directory.backend {
            Backend::Embedded => {
                let directory = Arc::new(
                    SqliteDirectory::open(
                        &config.database_path(),
                        config.account_id.clone(),
                        recovery,
                        lock_timeout,
                    )
                    .with_context(|| format!("opening {}", config.database_path().display()))?,
                );
                let audit = open_audit(&audit_path, lock_timeout, false)?;
                audit::adopt_legacy(&audit_path, &config.data_dir.join("audit.db"))?;
                if let Some(smtp_url) = &config.smtp_url {
                    mail::spawn_delivery(directory.clone(), smtp_url, &config.mail_from)?;
                }
                (directory, audit, config.account_id.clone())
            }
            Backend::Upstream => {
                let upstream = settings.directory.upstream.clone().context(
                    "[directory] backend = \"upstream\" needs a [directory.upstream] section: the \
                     account ID, the OAuth client and its secret (see the README)",
                )?;
                let account_id = upstream.account_id.clone();
                let audit = open_audit(&audit_path, lock_timeout, true)?;
                let directory = UpstreamDirectory::start(
                    upstream,
                    &config.data_dir,
                    audit.clone(),
                    lock_timeout,
                )
                .context("starting the upstream 1Password directory")?;
                tracing::info!(account = %account_id, "directory: 1Password, upstream");
                (directory, audit, account_id)
            }
        };
    let page = page::PageFiles::new(config.dist.as_deref());
    if page.has("index.html") {
        tracing::info!(page = %page.describe(), "serving the page");
    } else {
        tracing::warn!(page = %page.describe(), "the page is not built; the API works, the page does not (run scripts/run)");
    }
    rusqlite::Connection::open(&audit_path)
        .and_then(|conn| schedule::store::prepare(&conn))
        .with_context(|| format!("preparing scheduled changes in {}", audit_path.display()))?;
    let events = Arc::new(events::Events::default());
    let scheduler = Arc::new(schedule::Scheduler::new(
        audit.clone(),
        directory.clone(),
        events.clone(),
    ));
    // Outside a runtime (a test of the settings alone) there is nothing to serve, or to close.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(audit::close_refusals_every_minute(Arc::downgrade(&audit)));
        runtime.spawn(schedule::run_every(
            Arc::downgrade(&scheduler),
            Duration::from_secs(30),
        ));
    }
    let router = router::router(
        AppState {
            directory: directory.clone(),
            account_id,
            security: SecurityHeaders::for_page(&page),
            page,
            auth: Arc::new(auth),
            audit: audit.clone(),
            rules: Arc::new(rules),
            scheduler: scheduler.clone(),
            events: events.clone(),
        },
        &settings.server,
    );
    Ok(Keydesk {
        router,
        directory,
        audit,
        scheduler,
        events,
        limits: settings.server.clone(),
    })
}

/// Where the audit trail lives: in the embedded directory's own file, so that a change and its
/// record commit together; beside an upstream directory, in `audit.db`.
pub fn audit_path(config: &Config, settings: &Settings) -> PathBuf {
    match settings.directory.backend {
        Backend::Embedded => config.database_path(),
        Backend::Upstream => config.data_dir.join("audit.db"),
    }
}

fn open_audit(path: &Path, lock_timeout: Duration, durable: bool) -> anyhow::Result<Arc<AuditLog>> {
    AuditLog::open(path, lock_timeout, durable)
        .map(Arc::new)
        .with_context(|| format!("opening the audit trail in {}", path.display()))
}

/// Serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let keydesk = build(&config)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!("Keydesk is running at http://{address}/");
    keydesk.serve(listener, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
