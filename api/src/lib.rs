//! The wire contract between Keydesk's page and its server.
//!
//! Everything here is plain data with serde: it compiles for wasm32 (the page) and native (the
//! server), so a field renamed on one side fails to compile on the other.
//!
//! The shapes follow the 1Password Users API (v1beta1). Where Keydesk adds something the Users API
//! does not have, the item says so ("Keydesk extension").

mod audit;
mod changes;
mod closed_enum;
mod error;
mod ids;
#[cfg(feature = "openapi")]
pub mod openapi;
mod query;
mod recovery;
mod schedule;
mod user;
mod users_view;

pub use audit::{
    AuditAction, AuditOutcome, AuditPage, AuditQuery, AuditRecord, AuditVerification,
    OBSERVED_ACTOR, Observation, Permission, Session,
};
pub use changes::{ChangeRules, LastChange, MAX_REASON_CHARS, MAX_TICKET_CHARS, MethodRequest};
pub use error::{ApiError, ErrorBody, ErrorStatus};
pub use ids::{AccountId, InvalidId, UserId};
pub use query::{
    ApiFilter, DEFAULT_PAGE_SIZE, ListUsersParams, MAX_PAGE_SIZE, OrderBy, OrderField,
    ParseOrderByError, SortDirection, USERS_PAGE_ROWS, parse_page_size,
};
pub use recovery::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, BeginRecoveryRequest, BeginRecoveryResponse,
    MAX_RECOVERY_BATCH, MIN_PASSWORD_CHARS, OutboxMessage, OutboxResponse, RecoveryFailure,
    RecoveryLinkInfo, RecoveryToken, StateCount, StateCounts,
};
pub use schedule::{ScheduleRequest, ScheduleStatus, ScheduledChange, ScheduledList};
pub use user::{ListUsersResponse, Role, User, UserState, UserType};
pub use users_view::UsersView;

/// The version prefix every Users API path starts with.
pub const API_PREFIX: &str = "/v1beta1";

/// Path of the users collection of an account.
pub fn users_path(account: &AccountId) -> String {
    format!("{API_PREFIX}/accounts/{account}/users")
}

/// Path of one user, as found in `User::path` (without the version prefix).
pub fn user_resource_name(account: &AccountId, user: &UserId) -> String {
    // Built by hand rather than with `format!`: a list of 100 users builds 100 of these.
    let (account, user) = (account.as_str(), user.as_str());
    let mut name = String::with_capacity("accounts//users/".len() + account.len() + user.len());
    for part in ["accounts/", account, "/users/", user] {
        name.push_str(part);
    }
    name
}

/// The state-changing custom methods on one user (`POST …/users/{id}:{method}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserMethod {
    Suspend,
    Reactivate,
    /// Keydesk extension: RECOVERY_ACCEPTED to ACTIVE.
    CompleteRecovery,
    /// Keydesk extension: a new recovery link for someone in RECOVERY_STARTED.
    ResendRecovery,
}

impl UserMethod {
    pub const ALL: [UserMethod; 4] = [
        UserMethod::Suspend,
        UserMethod::Reactivate,
        UserMethod::CompleteRecovery,
        UserMethod::ResendRecovery,
    ];

    /// The name after the colon in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            UserMethod::Suspend => "suspend",
            UserMethod::Reactivate => "reactivate",
            UserMethod::CompleteRecovery => "completeRecovery",
            UserMethod::ResendRecovery => "resendRecovery",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The permission a person needs to call it.
    pub fn permission(self) -> Permission {
        match self {
            UserMethod::Suspend => Permission::Suspend,
            UserMethod::Reactivate => Permission::Reactivate,
            UserMethod::CompleteRecovery | UserMethod::ResendRecovery => Permission::Recover,
        }
    }

    /// What the audit trail calls it.
    pub fn action(self) -> AuditAction {
        match self {
            UserMethod::Suspend => AuditAction::Suspend,
            UserMethod::Reactivate => AuditAction::Reactivate,
            UserMethod::CompleteRecovery => AuditAction::CompleteRecovery,
            UserMethod::ResendRecovery => AuditAction::ResendRecovery,
        }
    }

    /// Whether someone in `state` can be the subject of it. Suspending someone already
    /// suspended, or reactivating someone active, is allowed and changes nothing.
    pub fn allowed_from(self, state: &UserState) -> bool {
        match self {
            UserMethod::Suspend => matches!(state, UserState::Active | UserState::Suspended),
            UserMethod::Reactivate => matches!(state, UserState::Suspended | UserState::Active),
            UserMethod::CompleteRecovery => *state == UserState::RecoveryAccepted,
            UserMethod::ResendRecovery => *state == UserState::RecoveryStarted,
        }
    }

    /// What has been done to someone after it, for messages: "suspended", "reactivated", …
    pub fn done(self) -> &'static str {
        match self {
            UserMethod::Suspend => "suspended",
            UserMethod::Reactivate => "reactivated",
            UserMethod::CompleteRecovery => "recovered",
            UserMethod::ResendRecovery => "sent a new recovery email",
        }
    }

    /// What nobody may do to their own account, in words: "suspend", "reactivate", "recover".
    /// No method may be called on one's own account: nobody suspends themselves (and locks the
    /// helpdesk out of its own work), reactivates themselves, or finishes their own recovery.
    pub fn own_account_verb(self) -> &'static str {
        match self {
            UserMethod::Suspend => "suspend",
            UserMethod::Reactivate => "reactivate",
            UserMethod::CompleteRecovery | UserMethod::ResendRecovery => "recover",
        }
    }

    /// Path of this method on one user.
    pub fn path(self, account: &AccountId, user: &UserId) -> String {
        format!("{}/{user}:{}", users_path(account), self.as_str())
    }
}

/// Beginning recovery (a method of the users collection, not of one user): its permission,
/// and the states it may begin from (beginning again while it is started sends a new email).
pub const BEGIN_RECOVERY_PERMISSION: Permission = Permission::Recover;

pub fn recovery_may_begin_from(state: &UserState) -> bool {
    matches!(state, UserState::Active | UserState::RecoveryStarted)
}

/// Path of the begin-recovery custom method on the users collection.
pub fn begin_recovery_path(account: &AccountId) -> String {
    format!("{}:beginRecovery", users_path(account))
}

closed_enum::closed_enum!(
    /// Which directory backend answers.
    DirectoryKind {
        /// Keydesk's own SQLite directory (the demo, or a generated one).
        Embedded = "embedded",
        /// A 1Password Business account, through the Users API and `op`.
        Upstream = "upstream",
    }
);

/// `GET /api/config`: what the page needs to know before it can call the Users API.
/// Keydesk extension.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageConfig {
    /// The account whose users this Keydesk manages.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account_id: AccountId,
    /// Which directory backend answers.
    pub directory: DirectoryKind,
    /// Upstream directory only: the account's admin console, where recoveries are completed
    /// (no public interface can complete one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_console_url: Option<String>,
    /// What every change must carry, and what completing a recovery asks.
    #[serde(default)]
    pub changes: ChangeRules,
    /// Whether recovery can be begun now (upstream: `op` configured and signed in).
    #[serde(default)]
    pub recovery: Availability,
    /// Whether people can be suspended and reactivated (upstream: 1Password refuses the Users
    /// API to an account with automated provisioning).
    #[serde(default)]
    pub state_changes: Availability,
}

/// Whether something can be done now, and why not. Keydesk extension.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Availability {
    pub available: bool,
    /// Why not, in words for the page ("op is not signed in (…)"), and what would help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Default for Availability {
    fn default() -> Self {
        Availability::yes()
    }
}

impl Availability {
    pub fn yes() -> Self {
        Availability {
            available: true,
            reason: None,
        }
    }

    pub fn no(reason: impl Into<String>) -> Self {
        Availability {
            available: false,
            reason: Some(reason.into()),
        }
    }

    /// Why not, when it is not available.
    pub fn refusal(&self) -> Option<&str> {
        (!self.available).then(|| self.reason.as_deref().unwrap_or("it is unavailable"))
    }
}
