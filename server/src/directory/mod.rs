//! Where users live. The HTTP routes speak only to [`Directory`]; the embedded SQLite backend
//! implements it today, and the upstream 1Password connector will implement it beside it.

pub mod embedded;
pub mod upstream;

use async_trait::async_trait;
use keydesk_api::{
    ApiFilter, BeginRecoveryResponse, ListUsersResponse, OrderBy, OutboxMessage, RecoveryLinkInfo,
    StateCounts, User, UserId, UserState,
};

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
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the directory is unreachable: {0}")]
    Unavailable(String),
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

/// The directory operations Keydesk needs. Every state change is atomic: it either happens whole
/// or not at all, and returns the user as they now are.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// `embedded` or `upstream`, for the page and the logs.
    fn kind(&self) -> &'static str;
    async fn list_users(&self, query: ListQuery) -> Result<ListUsersResponse, DirectoryError>;
    async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError>;
    /// ACTIVE to SUSPENDED; idempotent on SUSPENDED; refused for the last owner.
    async fn suspend_user(&self, id: &UserId) -> Result<User, DirectoryError>;
    /// SUSPENDED to ACTIVE; idempotent on ACTIVE; refused from any other state.
    async fn reactivate_user(&self, id: &UserId) -> Result<User, DirectoryError>;
    /// Begin recovery for the people named (ID, email or display name): each moves to
    /// RECOVERY_STARTED and is sent a link. `actor_email` may not be among them. Every name is
    /// checked first, and one bad name refuses the lot; after that, the embedded directory
    /// begins for everyone, while upstream `op` may fail for some people, who are listed in
    /// `failures`.
    async fn begin_recovery(
        &self,
        actor_email: &str,
        names: Vec<String>,
    ) -> Result<BeginRecoveryResponse, DirectoryError>;
    /// A new recovery link for someone in RECOVERY_STARTED; the old one stops working.
    async fn resend_recovery(&self, id: &UserId) -> Result<User, DirectoryError>;
    /// RECOVERY_ACCEPTED to ACTIVE, resetting two-factor authentication and signing out every
    /// device. Idempotent right after completing.
    async fn complete_recovery(&self, id: &UserId) -> Result<User, DirectoryError>;
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
    ) -> Result<(UserId, String), DirectoryError>;
    /// The emails sent or waiting, newest first.
    async fn outbox(&self) -> Result<Vec<OutboxMessage>, DirectoryError>;
}
