//! The upstream directory: a real 1Password Business account, through the Users API (list, get,
//! suspend, reactivate) and the `op` CLI (begin recovery, and the states the API does not say).
//!
//! The Users API cannot search, filter by any state or sort, so Keydesk keeps a snapshot of the
//! whole directory in a SQLite file of its own and answers lists from it, with the very code the
//! embedded directory uses. A reading is the API's list and `op user list` together
//! ([`merge`]): the API says only ACTIVE, SUSPENDED or STATE_UNSPECIFIED, `op` says who is in
//! recovery. The snapshot is read again every `refresh_interval`, soon after a change whose
//! outcome is unknown, and quickly while 1Password is unreachable; every list says how old it
//! is. Single users and every change go to 1Password itself, and what 1Password answers to a
//! change goes into the snapshot at once. What changed in 1Password without Keydesk is recorded
//! as seen ([`observed`]).

mod call;
pub(crate) mod client;
mod ledger;
mod merge;
mod observed;
pub(crate) mod op;
mod recovery;
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
    AuditOutcome, Availability, BeginRecoveryResponse, ListUsersResponse, StateCounts, User,
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
use super::{Directory, DirectoryError, ListQuery, Readiness, embedded::SqliteDirectory};
use crate::{
    audit::{Attempt, AuditLog},
    events::Events,
};

/// Why recovery cannot begin without `op`.
const NO_OP: &str = "Beginning recovery needs the 1Password CLI, and this Keydesk has none \
                     configured ([directory.upstream.op] in its configuration file).";

pub struct UpstreamDirectory {
    api: UsersApi,
    snapshot: SqliteDirectory,
    /// Each user as 1Password's two sources last said (the API's fields, the CLI's state and
    /// type): the snapshot's rows carry index columns (role defaults to MEMBER there), and the
    /// page must not see invented values.
    received: RwLock<HashMap<UserId, User>>,
    health: RwLock<Health>,
    /// Wakes the refresh loop after a change.
    changed: Arc<Notify>,
    /// What 1Password answered about single people (changes, a person's page) since the
    /// reading before the last: a reading that began before an answer came holds the person as
    /// they were, and must not undo it (see [`refresh`]).
    answered: Mutex<Answered>,
    op: Option<Arc<Op>>,
    settings: UpstreamSettings,
    /// Each change's `attempted` record before 1Password is asked, its outcome after.
    ledger: Ledger,
    /// The trail, beside which the states Keydesk knows are kept (see [`observed`]).
    audit: Arc<AuditLog>,
    /// Where open pages hear of people changed in 1Password, and of what can be done now.
    events: Arc<Events>,
    /// What open pages were last told can be done, to tell them only of a change.
    told: Mutex<Option<(Readiness, Option<String>)>>,
}

impl UpstreamDirectory {
    /// Check the settings and `op`, and start reading the directory in the background: Keydesk
    /// starts even when 1Password cannot be reached, and catches up when it can.
    pub fn start(
        settings: UpstreamSettings,
        data_dir: &Path,
        audit: Arc<AuditLog>,
        events: Arc<Events>,
        lock_timeout: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        let secret = settings.check()?;
        let api = UsersApi::new(&settings, secret)?;
        let told = events.clone();
        let op = settings
            .op
            .clone()
            .map(|op| {
                Op::start(op).map(|op| Arc::new(op.on_readiness_change(move || told.config())))
            })
            .transpose()?;
        if op.is_none() {
            tracing::warn!(
                "no [directory.upstream.op]: beginning recovery is not possible without the 1Password CLI"
            );
        }
        rusqlite::Connection::open(data_dir.join("audit.db"))
            .and_then(|conn| observed::prepare(&conn))
            .map_err(|err| anyhow::anyhow!("preparing the known states in audit.db: {err}"))?;
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
            ledger: Ledger::new(audit.clone()),
            audit,
            events,
            told: Mutex::default(),
        });
        tokio::spawn(refresh::keep_fresh(Arc::downgrade(&directory)));
        if let Some(op) = &directory.op {
            tokio::spawn(op::session::keep_alive(Arc::downgrade(op)));
        }
        Ok(directory)
    }

    /// Tell open pages when what can be done, or what the lists know, has changed.
    fn config_changed(&self) {
        let now = (
            self.readiness(),
            self.health
                .read()
                .expect("not poisoned")
                .states_unknown
                .clone(),
        );
        let mut told = self.told.lock().expect("not poisoned");
        if told.as_ref() != Some(&now) {
            let first = told.is_none();
            *told = Some(now);
            if !first {
                self.events.config();
            }
        }
    }

    /// A person as 1Password says they are: the Users API's answer, with the state `op` says
    /// where the API's is too vague to tell (someone Keydesk knows in recovery, whom the API
    /// reports as ACTIVE), and the type the CLI reported.
    async fn get_user_merged(&self, id: &UserId) -> Result<User, DirectoryError> {
        let user = match self.api.get(id).await {
            Ok(user) => user,
            // The account refuses the Users API: the snapshot, read from `op`, is all there is.
            Err(DirectoryError::AutomatedProvisioning) => {
                let user = self.snapshot.get_user(id).await?;
                return Ok(self.as_received(user));
            }
            Err(err) => return Err(Self::not_found(id, err)),
        };
        let known = self.received.read().expect("not poisoned").get(id).cloned();
        let user = User {
            user_type: known.as_ref().and_then(|k| k.user_type.clone()),
            recovery_started_by: known.as_ref().and_then(|k| k.recovery_started_by.clone()),
            ..user
        };
        let vague = user.state == UserState::StateUnspecified
            || known
                .as_ref()
                .is_some_and(|k| k.state.only_in_cli() && k.state.in_users_api() == user.state);
        if !vague {
            return Ok(user);
        }
        let cli = match &self.op {
            Some(op) => op.get_user(id).await.ok(),
            None => None,
        };
        let state = match (cli, &known) {
            (Some(cli), _) => UserState::merge(&user.state, &cli.state()),
            (None, Some(known)) if known.state.in_users_api() == user.state => known.state.clone(),
            (None, _) => user.state.clone(),
        };
        Ok(User { state, ..user })
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
    /// is asked, and as it ended after; left open when no answer came. Refused before anything
    /// is asked when the account refuses the Users API, or when the person's state (which the
    /// API alone cannot say) does not allow it.
    async fn change_state(
        &self,
        id: &UserId,
        attempt: &Attempt,
        method: UserMethod,
        target: UserState,
    ) -> Result<User, DirectoryError> {
        if self.health.read().expect("not poisoned").provisioned {
            return Err(DirectoryError::AutomatedProvisioning);
        }
        let known = self.known_user(id).await?;
        if !method.allowed_from(&known.state) {
            return Err(DirectoryError::FailedPrecondition(format!(
                "{} is {}: only an active person can be suspended and only a suspended one \
                 reactivated",
                Self::name(&known),
                known.state.label()
            )));
        }
        let method = method.as_str();
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
        let user = User {
            user_type: known.user_type,
            ..result?
        };
        Ok(self.remember(user).await)
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
        page.states_unknown = self
            .health
            .read()
            .expect("not poisoned")
            .states_unknown
            .clone();
        Ok(page)
    }

    async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        let user = self.get_user_merged(id).await?;
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
        self.change_state(id, attempt, UserMethod::Suspend, UserState::Suspended)
            .await
    }

    async fn reactivate_user(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        self.change_state(id, attempt, UserMethod::Reactivate, UserState::Active)
            .await
    }

    async fn begin_recovery(
        &self,
        names: Vec<String>,
        attempt: &Attempt,
    ) -> Result<BeginRecoveryResponse, DirectoryError> {
        self.begin(names, attempt).await
    }

    async fn resend_recovery(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        self.begin_again(id, attempt).await
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
        // Neither the Users API nor `op user list` says who is an owner: 1Password itself
        // refuses suspending the last one.
        Ok(StateCounts {
            active_owners: None,
            ..self.snapshot.state_counts().await?
        })
    }

    fn admin_console_url(&self) -> Option<String> {
        self.settings.admin_console_url.clone()
    }

    fn readiness(&self) -> Readiness {
        let recovery = match &self.op {
            Some(op) => op.readiness(),
            None => Availability::no(NO_OP),
        };
        let state_changes = match self.health.read().expect("not poisoned").provisioned {
            true => Availability::no(DirectoryError::AutomatedProvisioning.to_string()),
            false => Availability::yes(),
        };
        Readiness {
            recovery,
            state_changes,
        }
    }

    fn snapshot_age(&self) -> Option<Duration> {
        Some(self.health.read().expect("not poisoned").age())
    }

    async fn shutdown(&self) {
        self.api.revoke().await;
    }
}
