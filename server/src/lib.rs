//! Keydesk's server: the admin API in the 1Password Users API's shape, and the built page.
//!
//! A request goes: [`router`] → a handler in [`routes`] → the [`directory::Directory`] behind it.
//! Every failure on the way is an [`error::AppError`], answered as one JSON shape.

pub mod audit;
mod auth;
pub mod config;
pub mod directory;
pub mod error;
mod mail;
mod openapi;
mod page;
pub mod router;
mod routes;
mod security;
pub mod settings;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

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
pub use openapi::openapi_document;
use security::SecurityHeaders;
use settings::{Backend, Settings};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub directory: Arc<dyn Directory>,
    pub account_id: AccountId,
    pub dist: PathBuf,
    pub auth: Arc<Authenticator>,
    pub audit: Arc<AuditLog>,
    pub security: SecurityHeaders,
}

/// Build the application for a configuration: open the directory, assemble the routes.
pub fn app(config: &Config) -> anyhow::Result<axum::Router> {
    Ok(build(config)?.0)
}

/// The application and its directory, which wants a word when the server stops
/// ([`Directory::shutdown`]).
pub fn build(config: &Config) -> anyhow::Result<(axum::Router, Arc<dyn Directory>)> {
    let settings = Settings::load(config.settings_file.as_deref())?;
    settings.check(config.listen.ip())?;
    let auth = Authenticator::new(&settings, &config.dev_user)?;
    let audit = AuditLog::open(&config.data_dir.join("audit.db"))
        .with_context(|| format!("opening the audit log in {}", config.data_dir.display()))?;
    let recovery = RecoverySettings {
        link_ttl: config.recovery_link_ttl,
        public_url: config.public_url(),
        smtp_enabled: config.smtp_url.is_some(),
    };
    let (directory, account_id): (Arc<dyn Directory>, AccountId) = match settings.directory.backend
    {
        Backend::Embedded => {
            let directory = Arc::new(
                SqliteDirectory::open(&config.database_path(), config.account_id.clone(), recovery)
                    .with_context(|| format!("opening {}", config.database_path().display()))?,
            );
            if let Some(smtp_url) = &config.smtp_url {
                mail::spawn_delivery(directory.clone(), smtp_url, &config.mail_from)?;
            }
            (directory, config.account_id.clone())
        }
        Backend::Upstream => {
            let upstream = settings.directory.upstream.clone().context(
                "[directory] backend = \"upstream\" needs a [directory.upstream] section: the \
                 account ID, the OAuth client and its secret (see the README)",
            )?;
            let account_id = upstream.account_id.clone();
            let directory = UpstreamDirectory::start(upstream, &config.data_dir)
                .context("starting the upstream 1Password directory")?;
            tracing::info!(account = %account_id, "directory: 1Password, upstream");
            (directory, account_id)
        }
    };
    if !config.dist.join("index.html").exists() {
        tracing::warn!(dist = %config.dist.display(), "the page is not built; the API works, the page does not (run scripts/run)");
    }
    let router = router::router(AppState {
        directory: directory.clone(),
        account_id,
        dist: config.dist.clone(),
        auth: Arc::new(auth),
        audit: Arc::new(audit),
        security: SecurityHeaders::for_page(&config.dist),
    });
    Ok((router, directory))
}

/// Serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (app, directory) = build(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!("Keydesk is running at http://{address}/");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    directory.shutdown().await;
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
