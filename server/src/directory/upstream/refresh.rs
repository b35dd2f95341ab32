//! Keeping the snapshot fresh: read whole at start-up, every `refresh_interval`, soon after a
//! change whose outcome is unknown, and quickly while 1Password cannot be read; after each
//! reading, the changes whose outcome was never recorded are settled (see [`super::ledger`]).

use std::{
    collections::HashMap,
    sync::Weak,
    time::{Duration, Instant},
};

use keydesk_api::{User, UserId};

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

/// What 1Password answered about single people (to Keydesk's changes, and when a person's page
/// read them), each with the number of readings begun before it.
#[derive(Default)]
pub(super) struct Answered {
    readings_begun: u64,
    answers: HashMap<UserId, (u64, User)>,
}

impl Answered {
    pub fn note(&mut self, user: User) {
        self.answers
            .insert(user.id.clone(), (self.readings_begun, user));
    }

    /// A reading begins: what it will say of whom was answered before is at least as new.
    fn begin_reading(&mut self) -> u64 {
        self.readings_begun += 1;
        self.readings_begun
    }

    /// The answers that came after the reading numbered `reading` began, which it may predate;
    /// those before it are forgotten, as every later reading holds them.
    fn since(&mut self, reading: u64) -> Vec<User> {
        self.answers.retain(|_, (begun, _)| *begun >= reading);
        self.answers
            .values()
            .map(|(_, user)| user.clone())
            .collect()
    }
}

impl UpstreamDirectory {
    /// Read the whole directory and make the snapshot match it, then put back what 1Password
    /// answered about single people while it was read: a page read before a change and written
    /// after it would otherwise show the person as they were.
    async fn refresh(&self) -> Result<(), DirectoryError> {
        let reading = self.answered.lock().expect("not poisoned").begin_reading();
        let read_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let users = self.api.list_all().await?;
        let count = users.len();
        self.snapshot.mirror_all(users.clone(), read_at).await?;
        *self.received.write().expect("not poisoned") =
            users.into_iter().map(|u| (u.id.clone(), u)).collect();
        let newer = self.answered.lock().expect("not poisoned").since(reading);
        for user in newer {
            self.snapshot.mirror_one(user.clone()).await?;
            self.received
                .write()
                .expect("not poisoned")
                .insert(user.id.clone(), user);
        }
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
