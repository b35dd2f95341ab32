//! Keydesk's server: the admin API in the 1Password Users API's shape, and the built page.
//!
//! A request goes: [`router`] → a handler in [`routes`] → the [`directory::Directory`] behind it.
//! Every failure on the way is an [`error::AppError`], answered as one JSON shape.

pub mod audit;
mod auth;
pub mod backup;
pub mod changes;
pub mod check_config;
pub mod config;
pub mod directory;
pub mod error;
pub mod events;
mod extract;
pub mod logging;
mod mail;
mod metrics;
mod openapi;
mod page;
mod redact;
pub mod router;
mod routes;
pub mod schedule;
mod security;
mod serve;
pub mod settings;
pub mod storage;
pub mod tls;

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
    /// Where the audit chain's head is written at shutdown, among other times.
    pub anchors: Arc<audit::anchor::Sink>,
    /// HTTPS on the listener (`[server.tls]`), reloaded on SIGHUP; `None` for plain HTTP.
    pub tls: Option<Arc<tls::Tls>>,
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
        serve::serve(
            listener,
            self.router.clone(),
            &self.limits,
            self.tls.clone(),
            shutdown,
        )
        .await;
        self.close().await;
    }

    /// What stopping does after the last request: nothing recorded only in memory is lost.
    pub async fn close(&self) {
        if let Err(err) = self.audit.close_refusals(true).await {
            tracing::error!(error = %err, "could not record the count of repeated refusals");
        }
        audit::anchor::anchor(&self.audit, &self.anchors, "shutdown").await;
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
    settings.audit.check()?;
    let auth = Authenticator::new(&settings, &config.dev_user)?;
    let tls = tls::Tls::from_settings(&settings)?.map(Arc::new);
    let rules = changes::Rules::new(&settings.changes, &settings.recovery)?;
    let lock_timeout = settings.storage.lock_timeout;
    let recovery = RecoverySettings {
        link_ttl: config.recovery_link_ttl,
        public_url: config.public_url(tls.is_some()),
        smtp_enabled: config.smtp_url.is_some(),
    };
    let audit_path = audit_path(config, &settings);
    let events = Arc::new(events::Events::default());
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
                    events.clone(),
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
    let anchors = Arc::new(keep_audit(&audit_path, &settings)?);
    let scheduler = Arc::new(schedule::Scheduler::new(
        audit.clone(),
        directory.clone(),
        events.clone(),
    ));
    // Outside a runtime (a test of the settings alone) there is nothing to serve, or to close.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(audit::close_refusals_every_minute(Arc::downgrade(&audit)));
        runtime.spawn(audit::anchor::every_minute(
            Arc::downgrade(&audit),
            anchors.clone(),
        ));
        if let Some(keep) = settings.audit.keep {
            runtime.spawn(audit::prune_hourly(
                Arc::downgrade(&audit),
                keep,
                anchors.clone(),
            ));
        }
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
        anchors,
        tls,
    })
}

/// Prune what `[audit] keep` no longer keeps, and anchor the head as Keydesk starts.
fn keep_audit(path: &Path, settings: &Settings) -> anyhow::Result<audit::anchor::Sink> {
    let now = std::time::SystemTime::now();
    if let Some(keep) = settings.audit.keep {
        let pruned = audit::retention::prune_file(path, keep, settings.storage.lock_timeout, now)
            .with_context(|| format!("pruning old audit records in {}", path.display()))?;
        if let Some(pruned) = pruned {
            tracing::info!(
                first = pruned.first,
                last = pruned.last,
                start = pruned.start.seq,
                "pruned audit records older than [audit] keep"
            );
        }
    }
    let sink = audit::anchor::Sink::new(&settings.audit);
    let head = rusqlite::Connection::open(path)
        .and_then(|conn| audit::anchor::head(&conn, "start", now))
        .with_context(|| format!("reading the audit chain's head in {}", path.display()))?;
    if let Some(head) = head {
        sink.write(&head);
    }
    Ok(sink)
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

/// Serve until Ctrl-C or SIGTERM, and metrics beside it if asked.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // From the start: a supervisor's SIGTERM at any moment after this stops Keydesk gracefully
    // rather than killing it.
    let stop = shutdown_signal()?;
    if config.metrics_listen == Some(config.listen) && config.listen.port() != 0 {
        anyhow::bail!(
            "KEYDESK_METRICS_LISTEN is KEYDESK_LISTEN ({}): metrics need an address of their \
             own, which the SSO proxy does not expose",
            config.listen
        );
    }
    let recorder = config
        .metrics_listen
        .map(|_| metrics::install())
        .transpose()?;
    let keydesk = build(&config)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    if let (Some(address), Some(recorder)) = (config.metrics_listen, recorder) {
        metrics::serve(address, recorder, &keydesk).await?;
    }
    let address = listener.local_addr()?;
    tokio::spawn(tls::reload_on_hangup(keydesk.tls.clone()));
    let scheme = if keydesk.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("Keydesk is running at {scheme}://{address}/");
    keydesk.serve(listener, stop).await;
    Ok(())
}

/// Ctrl-C or SIGTERM, listened for from the moment this is called.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
                _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
