//! Keeping the snapshot fresh: read whole at start-up, every `refresh_interval`, soon after a
//! change whose outcome is unknown, and quickly while 1Password cannot be read. A reading is the
//! Users API's list and `op user list` together ([`super::merge`]); after it, the changes whose
//! outcome was never recorded are settled (see [`super::ledger`]), and what changed without
//! Keydesk is recorded (see [`super::observed`]) and sent to open pages.

use std::{
    collections::HashMap,
    sync::Weak,
    time::{Duration, Instant},
};

use keydesk_api::{User, UserId, UserState};

use super::{UpstreamDirectory, merge, observed};
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
    /// Why the last reading has no recovery or transfer states (`op` not configured or failing).
    pub states_unknown: Option<String>,
    /// 1Password refused the Users API to this account, which uses automated provisioning.
    pub provisioned: bool,
    started: Instant,
}

impl Default for Health {
    /// As Keydesk starts: nothing read yet.
    fn default() -> Self {
        Health {
            last_read: None,
            error: None,
            states_unknown: None,
            provisioned: false,
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
    /// Read the whole directory from both sources and make the snapshot match it, with what
    /// 1Password answered about single people while it was read put back (a page read before a
    /// change and written after it would otherwise show the person as they were). Answers
    /// everyone as read.
    async fn refresh(&self) -> Result<Vec<User>, DirectoryError> {
        let reading = self.answered.lock().expect("not poisoned").begin_reading();
        let read_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let (api, cli) = tokio::join!(self.api.list_all(), self.list_cli());
        let provisioned = matches!(api, Err(DirectoryError::AutomatedProvisioning));
        self.health.write().expect("not poisoned").provisioned = provisioned;
        // Without the CLI's states, people Keydesk knows in recovery keep that state.
        let known = match &cli {
            Some(Ok(_)) => HashMap::new(),
            _ => observed::known(&self.audit).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "could not read the states Keydesk knows");
                HashMap::new()
            }),
        };
        let merged = merge::reading(&self.settings.account_id, api, cli, &known)?;
        self.health.write().expect("not poisoned").states_unknown = merged.states_unknown.clone();
        let mut users = merged.users;
        let count = users.len();
        self.snapshot.mirror_all(users.clone(), read_at).await?;
        let newer = self.answered.lock().expect("not poisoned").since(reading);
        for user in &newer {
            self.snapshot.mirror_one(user.clone()).await?;
        }
        let mut by_id: HashMap<UserId, User> = users.drain(..).map(|u| (u.id.clone(), u)).collect();
        by_id.extend(newer.into_iter().map(|u| (u.id.clone(), u)));
        let users: Vec<User> = by_id.values().cloned().collect();
        *self.received.write().expect("not poisoned") = by_id;
        tracing::debug!(count, "read the 1Password directory");
        Ok(users)
    }

    /// `op user list`: `None` without `op`, what op said when it failed.
    async fn list_cli(&self) -> Option<Result<Vec<super::op::OpUser>, String>> {
        Some(self.op.as_ref()?.list_users().await)
    }

    /// After a reading: settle what the ledger left open, then record what changed without
    /// Keydesk and tell open pages.
    async fn after_reading(&self, users: Vec<User>, after_restart: bool) {
        let states: HashMap<UserId, UserState> = users
            .iter()
            .map(|user| (user.id.clone(), user.state.clone()))
            .collect();
        let busy = self.ledger.catch_up(&states, after_restart).await;
        let cli_states = self
            .health
            .read()
            .expect("not poisoned")
            .states_unknown
            .is_none();
        let reading = observed::Reading {
            users: &users,
            busy: &busy,
            cli_states,
        };
        match observed::compare(&self.audit, reading).await {
            Ok(changed) => {
                for user in changed {
                    self.events.user(&user);
                }
            }
            // Compared again at the next reading: the known states did not move either.
            Err(err) => tracing::warn!(error = %err, "could not record what changed in 1Password"),
        }
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
            Ok(users) => {
                let changed = {
                    let mut health = this.health.write().expect("not poisoned");
                    let changed = health.error.take().is_some() || health.last_read.is_none();
                    health.last_read = Some(Instant::now());
                    changed
                };
                if changed {
                    tracing::info!("the 1Password directory is readable");
                }
                retry = FIRST_RETRY;
                this.after_reading(users, after_restart).await;
                after_restart = false;
                this.config_changed();
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
