//! Keydesk's server: the admin API in the 1Password Users API's shape, and the built page.
//!
//! A request goes: [`router`] → a handler in [`routes`] → the [`directory::Directory`] behind it.
//! Every failure on the way is an [`error::AppError`], answered as one JSON shape.

pub mod config;
pub mod directory;
pub mod error;
mod openapi;
mod page;
pub mod router;
mod routes;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use keydesk_api::AccountId;

pub use config::Config;
use directory::{Directory, embedded::SqliteDirectory};
pub use openapi::openapi_document;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub directory: Arc<dyn Directory>,
    pub account_id: AccountId,
    pub dist: PathBuf,
}

/// Build the application for a configuration: open the directory, assemble the routes.
pub fn app(config: &Config) -> anyhow::Result<axum::Router> {
    let directory = SqliteDirectory::open(&config.database_path(), config.account_id.clone())
        .with_context(|| format!("opening {}", config.database_path().display()))?;
    if !config.dist.join("index.html").exists() {
        tracing::warn!(dist = %config.dist.display(), "the page is not built; the API works, the page does not (run scripts/run)");
    }
    Ok(router::router(AppState {
        directory: Arc::new(directory),
        account_id: config.account_id.clone(),
        dist: config.dist.clone(),
    }))
}

/// Serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let app = app(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    println!("Keydesk is running at http://{address}/");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")
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
