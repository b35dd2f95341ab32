//! The upstream directory: a real 1Password Business account, through the Users API (list, get,
//! suspend, reactivate) and the `op` CLI (begin recovery).
//!
//! The Users API cannot search, filter by any state or sort, so Keydesk keeps a snapshot of the
//! whole directory in a SQLite file of its own and answers lists from it, with the very code the
//! embedded directory uses. The snapshot is read again every `refresh_interval`, soon after a
//! change whose outcome is unknown, and quickly while 1Password is unreachable; every list says
//! how old it is. Single users and every change go to 1Password itself, and what 1Password
//! answers to a change goes into the snapshot at once.

mod call;
pub(crate) mod client;
mod ledger;
pub(crate) mod op;
mod refresh;
mod settings;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use keydesk_api::{
    AuditOutcome, BeginRecoveryResponse, ListUsersResponse, RecoveryFailure, StateCounts, User,
    UserId, UserMethod, UserState,
};
use tokio::sync::Notify;

pub use self::settings::{OpSettings, UpstreamSettings};
use self::{
    client::UsersApi,
    ledger::Ledger,
    op::Op,
    refresh::{Answered, Health},
};
use super::{Directory, DirectoryError, ListQuery, embedded::SqliteDirectory};
use crate::audit::{Attempt, AuditLog};

pub struct UpstreamDirectory {
    api: UsersApi,
    snapshot: SqliteDirectory,
    /// Each user exactly as 1Password last sent them: the snapshot's rows carry index columns
    /// (type and role default to MEMBER there), and the page must not see invented values.
    received: RwLock<HashMap<UserId, User>>,
    health: RwLock<Health>,
    /// Wakes the refresh loop after a change.
    changed: Arc<Notify>,
    /// What 1Password answered about single people (changes, a person's page) since the
    /// reading before the last: a reading that began before an answer came holds the person as
    /// they were, and must not undo it (see [`refresh`]).
    answered: Mutex<Answered>,
    op: Option<Op>,
    settings: UpstreamSettings,
    /// Each change's `attempted` record before 1Password is asked, its outcome after.
    ledger: Ledger,
}

impl UpstreamDirectory {
    /// Check the settings and `op`, and start reading the directory in the background: Keydesk
    /// starts even when 1Password cannot be reached, and catches up when it can.
    pub fn start(
        settings: UpstreamSettings,
        data_dir: &Path,
        audit: Arc<AuditLog>,
        lock_timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let secret = settings.check()?;
        let api = UsersApi::new(&settings, secret)?;
        let op = settings.op.clone().map(Op::start).transpose()?;
        if op.is_none() {
            tracing::warn!(
                "no [directory.upstream.op]: beginning recovery is not possible without the 1Password CLI"
            );
        }
        // A snapshot of an earlier run may be hours old: start from nothing rather than show it.
        let path = data_dir.join(format!("upstream-{}.db", settings.account_id));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let snapshot =
            SqliteDirectory::open_mirror(&path, settings.account_id.clone(), lock_timeout)?;
        let directory = Arc::new(UpstreamDirectory {
            api,
            snapshot,
            received: RwLock::default(),
            health: RwLock::default(),
            changed: Arc::new(Notify::new()),
            answered: Mutex::default(),
            op,
            settings,
            ledger: Ledger::new(audit),
        });
        tokio::spawn(refresh::keep_fresh(Arc::downgrade(&directory)));
        Ok(directory)
    }

    /// A user as 1Password just answered: into the snapshot at once. That is all a change
    /// needs; reading the whole directory again (about 100 calls at 100,000 people) waits for
    /// `refresh_interval`, or for a change whose outcome is unknown. The snapshot is a cache:
    /// failing to write it (another process holding the file) must not hide what 1Password did,
    /// so that is logged, and the next reading brings the snapshot up to date.
    async fn remember(&self, user: User) -> User {
        self.answered
            .lock()
            .expect("not poisoned")
            .note(user.clone());
        self.received
            .write()
            .expect("not poisoned")
            .insert(user.id.clone(), user.clone());
        if let Err(err) = self.snapshot.mirror_one(user.clone()).await {
            tracing::warn!(error = %err, user = %user.id, "could not write 1Password's answer into the snapshot");
        }
        user
    }

    /// Lists need the snapshot: before the first reading there is nothing to search.
    fn ready(&self) -> Result<Option<String>, DirectoryError> {
        let health = self.health.read().expect("not poisoned");
        match (&health.error, health.last_read.is_some()) {
            (error, true) => Ok(error.clone()),
            (Some(error), false) => Err(DirectoryError::Unavailable(format!(
                "Keydesk cannot read the directory from 1Password yet ({error}); it keeps trying"
            ))),
            (None, false) => Err(DirectoryError::Upstream {
                message: "Keydesk is still reading the directory from 1Password; try again in a \
                          moment"
                    .into(),
                retry_after: Some(refresh::FIRST_RETRY),
            }),
        }
    }

    /// The user as received from 1Password, in place of the snapshot's row.
    fn as_received(&self, user: User) -> User {
        self.received
            .read()
            .expect("not poisoned")
            .get(&user.id)
            .cloned()
            .unwrap_or(user)
    }

    /// `:suspend` or `:reactivate` through the ledger: recorded as attempted before 1Password
    /// is asked, and as it ended after; left open when no answer came.
    async fn change_state(
        &self,
        id: &UserId,
        attempt: &Attempt,
        method: &'static str,
        target: UserState,
    ) -> Result<User, DirectoryError> {
        let open = self.ledger.open(attempt, std::slice::from_ref(id)).await?;
        let result = self
            .api
            .change(id, method, |u| u.state == target)
            .await
            .map_err(|err| Self::not_found(id, err));
        let targets = vec![id.to_string()];
        match &result {
            Ok(_) => {
                self.ledger
                    .settle(
                        attempt,
                        &open,
                        targets,
                        AuditOutcome::Succeeded,
                        String::new(),
                    )
                    .await;
            }
            // Read the directory soon, which settles the attempt by what 1Password says.
            Err(DirectoryError::OutcomeUnknown(_)) => self.changed.notify_one(),
            Err(err) => {
                self.ledger
                    .settle(
                        attempt,
                        &open,
                        targets,
                        AuditOutcome::Failed,
                        err.to_string(),
                    )
                    .await;
            }
        }
        self.ledger.close(open);
        Ok(self.remember(result?).await)
    }

    fn name(user: &User) -> String {
        format!("{} <{}>", user.display_name, user.email)
    }

    fn not_found(id: &UserId, err: DirectoryError) -> DirectoryError {
        match err {
            DirectoryError::Missing(_) => DirectoryError::NotFound(id.clone()),
            other => other,
        }
    }
}

#[async_trait]
impl Directory for UpstreamDirectory {
    fn kind(&self) -> keydesk_api::DirectoryKind {
        keydesk_api::DirectoryKind::Upstream
    }

    async fn list_users(&self, query: ListQuery) -> Result<ListUsersResponse, DirectoryError> {
        let error = self.ready()?;
        let mut page = self.snapshot.list_users(query).await?;
        page.results = page
            .results
            .into_iter()
            .map(|u| self.as_received(u))
            .collect();
        page.snapshot_time = self.snapshot.mirror_time().await?;
        page.snapshot_error = error;
        Ok(page)
    }

    async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        let user = self
            .api
            .get(id)
            .await
            .map_err(|err| Self::not_found(id, err))?;
        Ok(self.remember(user).await)
    }

    async fn known_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        // Someone new since the last reading, or no reading yet: only 1Password knows.
        match self.snapshot.get_user(id).await {
            Ok(user) if self.ready().is_ok() => Ok(self.as_received(user)),
            _ => self.get_user(id).await,
        }
    }

    async fn suspend_user(&self, id: &UserId, attempt: &Attempt) -> Result<User, DirectoryError> {
        self.change_state(id, attempt, "suspend", UserState::Suspended)
            .await
    }

    async fn reactivate_user(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        self.change_state(id, attempt, "reactivate", UserState::Active)
            .await
    }

    async fn begin_recovery(
        &self,
        names: Vec<String>,
        attempt: &Attempt,
    ) -> Result<BeginRecoveryResponse, DirectoryError> {
        let Some(op) = &self.op else {
            return Err(DirectoryError::FailedPrecondition(
                "Beginning recovery needs the 1Password CLI, and this Keydesk has none configured \
                 ([directory.upstream.op] in its configuration file)"
                    .into(),
            ));
        };
        self.ready()?;
        // Names are checked against the snapshot, all of them before anyone is touched.
        let chosen: Vec<User> = self
            .snapshot
            .choose_for_recovery(&attempt.actor_email, names)
            .await?
            .into_iter()
            .map(|u| self.as_received(u))
            .collect();
        let ids: Vec<UserId> = chosen.iter().map(|u| u.id.clone()).collect();
        let open = self.ledger.open(attempt, &ids).await?;
        let outcome = op.begin_recovery(&ids).await;
        let mut response = BeginRecoveryResponse {
            users: Vec::new(),
            emailed: Vec::new(),
            failures: Vec::new(),
        };
        let mut unknown = Vec::new();
        for user in chosen {
            if let Some(state) = outcome.began.get(&user.id) {
                let started = User {
                    state: state.clone(),
                    ..user
                };
                let started = self.remember(started).await;
                // `op` begins again for someone already started, and 1Password emails them anew.
                response.emailed.push(started.id.clone());
                response.users.push(started);
                continue;
            }
            let message = match (outcome.failed.get(&user.id), &outcome.unknown) {
                (Some(reason), _) => format!("op could not begin recovery: {reason}"),
                (None, Some(why)) => {
                    unknown.push(user.id.to_string());
                    format!(
                        "it is not known whether recovery began ({why}); look in the admin \
                         console before trying again, since each attempt emails the person"
                    )
                }
                (None, None) => "op did not mention this person".into(),
            };
            response.failures.push(RecoveryFailure {
                id: user.id.clone(),
                user: Self::name(&user),
                message,
            });
        }
        if !unknown.is_empty() {
            // Read the directory soon, which settles them by what 1Password says.
            self.changed.notify_one();
        }
        // What `op` said, recorded; whom it said nothing clear about stays open, for
        // `Ledger::catch_up` to settle by reading them.
        if !response.users.is_empty() {
            let began = response.users.iter().map(|u| u.id.to_string()).collect();
            self.ledger
                .settle(
                    attempt,
                    &open,
                    began,
                    AuditOutcome::Succeeded,
                    String::new(),
                )
                .await;
        }
        for failure in &response.failures {
            if !unknown.contains(&failure.id.to_string()) {
                let target = vec![failure.id.to_string()];
                self.ledger
                    .settle(
                        attempt,
                        &open,
                        target,
                        AuditOutcome::Failed,
                        failure.message.clone(),
                    )
                    .await;
            }
        }
        self.ledger.close(open);
        if response.users.is_empty() {
            let each: Vec<String> = response
                .failures
                .iter()
                .map(|f| format!("{}: {}", f.user, f.message))
                .collect();
            return Err(DirectoryError::Upstream {
                message: format!("Recovery did not begin for anyone. {}", each.join("; ")),
                retry_after: None,
            });
        }
        Ok(response)
    }

    async fn resend_recovery(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        // `op` has no "send again": beginning again for someone in RECOVERY_STARTED is how the
        // admin console does it, and it sends a new email.
        let user = self.get_user(id).await?;
        if !UserMethod::ResendRecovery.allowed_from(&user.state) {
            return Err(DirectoryError::FailedPrecondition(format!(
                "{} is {}: a recovery email can only be sent again while recovery is started",
                Self::name(&user),
                user.state
            )));
        }
        let response = self.begin_recovery(vec![id.to_string()], attempt).await?;
        match response.failures.into_iter().next() {
            Some(failure) => Err(DirectoryError::Upstream {
                message: failure.message,
                retry_after: None,
            }),
            None => Ok(response.users.into_iter().next().unwrap_or(user)),
        }
    }

    async fn complete_recovery(
        &self,
        id: &UserId,
        _attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        let user = self.get_user(id).await?;
        let console = self
            .settings
            .admin_console_url
            .as_deref()
            .map(|url| format!(" ({url})"))
            .unwrap_or_default();
        Err(DirectoryError::FailedPrecondition(format!(
            "1Password offers no public interface to complete a recovery: complete it for {} in \
             the account's admin console{console}",
            Self::name(&user)
        )))
    }

    async fn state_counts(&self) -> Result<StateCounts, DirectoryError> {
        self.ready()?;
        self.snapshot.state_counts().await
    }

    fn admin_console_url(&self) -> Option<String> {
        self.settings.admin_console_url.clone()
    }

    fn snapshot_age(&self) -> Option<Duration> {
        Some(self.health.read().expect("not poisoned").age())
    }

    async fn shutdown(&self) {
        self.api.revoke().await;
    }
}
