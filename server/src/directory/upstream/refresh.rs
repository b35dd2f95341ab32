//! Keeping the snapshot fresh: read whole at start-up, every `refresh_interval`, soon after a
//! change whose outcome is unknown, and quickly while 1Password cannot be read; after each reading, the
//! changes whose outcome was never recorded are settled (see [`super::ledger`]).

use std::{
    sync::Weak,
    time::{Duration, Instant},
};

use super::UpstreamDirectory;
use crate::directory::DirectoryError;

/// How soon after a change whose outcome is unknown the snapshot is read again; such changes
/// that come close together share one reading.
const SETTLE_AFTER_CHANGE: Duration = Duration::from_secs(2);
/// How soon a failed reading is tried again, at first; it doubles up to `refresh_interval`.
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(2);

/// How the readings go.
pub(super) struct Health {
    /// When the snapshot was last read whole; `None` until it has been.
    pub last_read: Option<Instant>,
    /// Why the last reading failed, until one succeeds.
    pub error: Option<String>,
    started: Instant,
}

impl Default for Health {
    /// As Keydesk starts: nothing read yet.
    fn default() -> Self {
        Health {
            last_read: None,
            error: None,
            started: Instant::now(),
        }
    }
}

impl Health {
    /// How old the snapshot is: as old as Keydesk, before the first reading.
    pub fn age(&self) -> Duration {
        self.last_read.unwrap_or(self.started).elapsed()
    }
}

impl UpstreamDirectory {
    /// Read the whole directory and make the snapshot match it.
    async fn refresh(&self) -> Result<(), DirectoryError> {
        let read_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let users = self.api.list_all().await?;
        let count = users.len();
        self.snapshot.mirror_all(users.clone(), read_at).await?;
        *self.received.write().expect("not poisoned") =
            users.into_iter().map(|u| (u.id.clone(), u)).collect();
        tracing::debug!(count, "read the 1Password directory");
        Ok(())
    }
}

/// Read the directory now, then every `refresh_interval`, soon after unknown outcomes, and with a
/// doubling wait while it fails. Ends when the directory is dropped.
pub(super) async fn keep_fresh(directory: Weak<UpstreamDirectory>) {
    let mut retry = FIRST_RETRY;
    let mut after_restart = true;
    loop {
        let Some(this) = directory.upgrade() else {
            return;
        };
        let interval = this.settings.refresh_interval;
        let wait = match this.refresh().await {
            Ok(()) => {
                {
                    let mut health = this.health.write().expect("not poisoned");
                    if health.error.take().is_some() || health.last_read.is_none() {
                        tracing::info!("the 1Password directory is readable");
                    }
                    health.last_read = Some(Instant::now());
                }
                retry = FIRST_RETRY;
                // 1Password answers: settle the changes whose outcome was never recorded.
                this.ledger.catch_up(&this.api, after_restart).await;
                after_restart = false;
                interval
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?retry, "could not read the 1Password directory");
                // The reason alone: lists put "the directory is unreachable" before it themselves.
                let reason = match err {
                    DirectoryError::Unavailable(reason) => reason,
                    other => other.to_string(),
                };
                this.health.write().expect("not poisoned").error = Some(reason);
                let wait = retry.min(interval);
                retry = (retry * 2).min(interval);
                wait
            }
        };
        // Wait without holding the directory, so that dropping it ends this loop.
        let notify = this.changed.clone();
        drop(this);
        let changed = async {
            notify.notified().await;
            tokio::time::sleep(SETTLE_AFTER_CHANGE).await;
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = changed => {}
        }
    }
}
