//! Where users live. The HTTP routes speak only to [`Directory`]; the embedded SQLite backend
//! implements it today, and the upstream 1Password connector will implement it beside it.

pub mod embedded;

use async_trait::async_trait;
use keydesk_api::{ApiFilter, ListUsersResponse, OrderBy, User, UserId, UserState};

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
    /// The person's current state does not allow the change; the message says which state.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the directory is unreachable: {0}")]
    Unavailable(String),
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
}
