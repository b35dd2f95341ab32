//! Where users live. The HTTP routes speak only to [`Directory`]; the embedded SQLite backend and
//! the upstream 1Password connector implement it.
//!
//! Every change carries its [`Attempt`], and the directory writes the record of a change it made
//! as part of making it (see [`crate::audit`]): a change is never without its record.

pub mod embedded;
pub mod upstream;

use async_trait::async_trait;
use keydesk_api::{
    ApiFilter, Availability, BeginRecoveryResponse, DEFAULT_PAGE_SIZE, ListUsersParams,
    ListUsersResponse, OrderBy, OutboxMessage, RecoveryLinkInfo, StateCounts, User, UserId,
    UserState,
};

use crate::{audit::Attempt, storage::StorageError};

/// A validated list request. The page token is the backend's own opaque text: each backend checks
/// its own tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Option<ApiFilter>,
    pub state: Option<UserState>,
    /// Free text, already trimmed and non-empty.
    pub text: Option<String>,
    pub order: OrderBy,
    pub page_size: u32,
    pub page_token: Option<String>,
    /// Answer as 1Password's Users API does (an OAuth client is asking): `filter` matches the
    /// state the API reports ([`UserState::in_users_api`]), so `user.isActive()` includes people
    /// in recovery, whom the API reports as `ACTIVE`.
    pub api_states: bool,
}

impl ListQuery {
    /// The sets of states a listed person must be in, one set per filter (`filter`, `state`).
    pub fn state_sets(&self) -> Vec<Vec<UserState>> {
        let filter = self.filter.map(|filter| match self.api_states {
            false => vec![filter.state()],
            true => UserState::KNOWN
                .iter()
                .filter(|state| state.in_users_api() == filter.state())
                .cloned()
                .collect(),
        });
        filter
            .into_iter()
            .chain(self.state.clone().map(|state| vec![state]))
            .collect()
    }
}

/// The longest search text accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

impl ListQuery {
    /// Turn the query string into a validated [`ListQuery`], naming the first parameter that is wrong.
    pub fn from_params(params: ListUsersParams) -> Result<Self, DirectoryError> {
        let filter = match params.filter.as_deref() {
            Some(text) => ApiFilter::parse(text).map_err(DirectoryError::InvalidArgument)?,
            None => None,
        };
        let page_size =
            keydesk_api::parse_page_size(params.max_page_size.as_deref(), DEFAULT_PAGE_SIZE)
                .map_err(DirectoryError::InvalidArgument)?;
        let text = params
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned);
        if let Some(q) = &text
            && q.chars().count() > MAX_QUERY_CHARS
        {
            return Err(DirectoryError::InvalidArgument(format!(
                "q is too long: at most {MAX_QUERY_CHARS} characters"
            )));
        }
        // `state` and `order_by` exactly as the OpenAPI document lists them; empty is none.
        let state = match params.state.as_deref() {
            None | Some("") => None,
            Some(text) => match UserState::parse(text) {
                UserState::Other(_) => {
                    let known: Vec<&str> = UserState::KNOWN.iter().map(UserState::as_str).collect();
                    return Err(DirectoryError::InvalidArgument(format!(
                        "state '{}' is not a state Keydesk knows; use one of {}",
                        text.chars().take(60).collect::<String>(),
                        known.join(", ")
                    )));
                }
                known => Some(known),
            },
        };
        let order = match params.order_by.as_deref() {
            None | Some("") => OrderBy::default(),
            Some(text) => text
                .parse()
                .map_err(|err: keydesk_api::ParseOrderByError| {
                    DirectoryError::InvalidArgument(err.to_string())
                })?,
        };
        let page_token = params.page_token.filter(|token| !token.is_empty());
        Ok(ListQuery {
            filter,
            state,
            text,
            order,
            page_size,
            page_token,
            api_states: false,
        })
    }
}

impl DirectoryError {
    /// Refused by a rule (a state that does not allow it, one's own account), as the audit
    /// trail's `denied`; anything else went wrong (`failed`).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DirectoryError::FailedPrecondition(_)
                | DirectoryError::Refused(_)
                | DirectoryError::AutomatedProvisioning
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("no user with ID {0} in this account")]
    NotFound(UserId),
    /// Something other than a user is not there (a recovery link, say); the message says what.
    #[error("{0}")]
    Missing(String),
    /// The person's current state does not allow the change; the message says which state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A rule forbids it whatever the state, such as recovering one's own account.
    #[error("{0}")]
    Refused(String),
    /// 1Password refuses the Users API to this account: it uses automated provisioning.
    #[error(
        "1Password refuses the Users API to this account because it uses automated provisioning \
         (\"Integrations with the Users API are not currently supported if you use automated \
         provisioning\"): suspend and reactivate people in your identity provider. Keydesk can \
         still list people and begin recoveries through op."
    )]
    AutomatedProvisioning,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the directory is unreachable: {0}")]
    Unavailable(String),
    /// A database or the audit trail cannot be written (locked, full, read-only), or something
    /// else went wrong in SQLite; nothing was changed.
    #[error("{0}")]
    Storage(StorageError),
    /// A SQLite error on its way to becoming [`DirectoryError::Storage`], once the file it came
    /// from is known (each backend's `run` does that).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The change was asked of 1Password, and no answer came: whether it happened is not known
    /// yet. Its `attempted` record stays open until Keydesk reads the person and records what
    /// it finds.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// The upstream directory answered with an error, or was too busy for too long; the
    /// message names its status.
    #[error("{message}")]
    Upstream {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    #[error("{0}")]
    Internal(String),
}

/// What a directory can do now: for the page (`/api/config`), `/healthz` and the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Beginning (and resending) recovery.
    pub recovery: Availability,
    /// Suspending and reactivating.
    pub state_changes: Availability,
}

/// The directory operations Keydesk needs. Every state change is atomic: it either happens whole
/// or not at all, together with the record of it in the audit trail, and returns the user as
/// they now are. A change that fails without being recorded leaves recording the failure to the
/// caller: [`Attempt::is_recorded`] says which happened.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Which backend this is, for the page and the logs.
    fn kind(&self) -> keydesk_api::DirectoryKind;
    async fn list_users(&self, query: ListQuery) -> Result<ListUsersResponse, DirectoryError>;
    async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError>;
    /// The user as Keydesk knows them without asking anyone: the upstream directory's snapshot,
    /// for checks (whose account is it?) that must not cost a call to 1Password.
    async fn known_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        self.get_user(id).await
    }
    /// ACTIVE to SUSPENDED; idempotent on SUSPENDED; refused for the last owner.
    async fn suspend_user(&self, id: &UserId, attempt: &Attempt) -> Result<User, DirectoryError>;
    /// SUSPENDED to ACTIVE; idempotent on ACTIVE; refused from any other state.
    async fn reactivate_user(&self, id: &UserId, attempt: &Attempt)
    -> Result<User, DirectoryError>;
    /// Begin recovery for the people named (ID, email or display name): each moves to
    /// RECOVERY_STARTED and is sent a link. The actor may not be among them. Every name is
    /// checked first, and one bad name refuses the lot; after that, the embedded directory
    /// begins for everyone, while upstream `op` may fail for some people, who are listed in
    /// `failures`.
    async fn begin_recovery(
        &self,
        names: Vec<String>,
        attempt: &Attempt,
    ) -> Result<BeginRecoveryResponse, DirectoryError>;
    /// A new recovery link for someone in RECOVERY_STARTED; the old one stops working.
    async fn resend_recovery(&self, id: &UserId, attempt: &Attempt)
    -> Result<User, DirectoryError>;
    /// RECOVERY_ACCEPTED to ACTIVE, resetting two-factor authentication and signing out every
    /// device. Idempotent right after completing.
    async fn complete_recovery(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError>;
    /// How many people are in each state.
    async fn state_counts(&self) -> Result<StateCounts, DirectoryError>;
    /// The person's side of recovery and the outbox, where this directory runs them itself
    /// (1Password does both for the upstream connector).
    fn recovery_links(&self) -> Option<&dyn RecoveryLinks> {
        None
    }
    /// Where an admin finishes what Keydesk cannot do through this directory.
    fn admin_console_url(&self) -> Option<String> {
        None
    }
    /// What can be done now, and why not (upstream: `op` signed in or not, the Users API refused
    /// to an account with automated provisioning). Everything, for the embedded directory.
    fn readiness(&self) -> Readiness {
        Readiness::default()
    }
    /// How long ago the directory was last read whole from where it really lives (the upstream
    /// snapshot); `None` for a directory that is no copy.
    fn snapshot_age(&self) -> Option<std::time::Duration> {
        None
    }
    /// Let go of what the directory holds outside this process (upstream: revoke the token).
    async fn shutdown(&self) {}
}

/// Recovery links, as the person who received one uses them, and the emails that carry them.
#[async_trait]
pub trait RecoveryLinks: Send + Sync {
    /// Who the link is for, if it may still be used.
    async fn inspect_link(&self, token: String) -> Result<RecoveryLinkInfo, DirectoryError>;
    /// Confirm the email, set the new password; answers whose link it was and the new Secret
    /// Key (shown once).
    async fn accept_link(
        &self,
        token: String,
        email: String,
        password: String,
        attempt: &Attempt,
    ) -> Result<(UserId, String), DirectoryError>;
    /// The emails sent or waiting, newest first.
    async fn outbox(&self) -> Result<Vec<OutboxMessage>, DirectoryError>;
}
