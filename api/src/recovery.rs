//! Account recovery: beginning it for up to ten people, the person's side of the link, completing
//! it. All Keydesk extensions: the Users API has no recovery endpoints.

use serde::{Deserialize, Serialize};

use crate::user::User;

/// The most people one begin-recovery request may name, as with `op user recovery begin`.
pub const MAX_RECOVERY_BATCH: usize = 10;

/// `POST /v1beta1/accounts/{account_id}/users:beginRecovery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BeginRecoveryRequest {
    /// One to ten people, each by ID, email or display name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::recovery_names_schema))]
    pub users: Vec<String>,
    /// Why, for everyone named (see [`crate::MethodRequest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    )]
    pub ticket: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BeginRecoveryResponse {
    /// The people named, in the order named, now in RECOVERY_STARTED.
    pub users: Vec<User>,
    /// Who of them a new recovery email went to. Beginning again for someone whose recovery is
    /// already started sends nothing with the embedded directory (resending does); 1Password
    /// sends a new email each time.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub emailed: Vec<crate::UserId>,
    /// Upstream directory only: the people for whom `op` could not begin recovery, each with
    /// its reason. The embedded directory begins for everyone or for nobody.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<RecoveryFailure>,
}

/// One person for whom recovery did not begin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryFailure {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: crate::UserId,
    /// The person as Keydesk names them: `Name <email>`.
    pub user: String,
    pub message: String,
}

/// The person's side: which link they hold. `POST /api/recovery:inspect` and `:accept` take the
/// token in the body, never in a URL, so it stays out of proxy logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryToken {
    pub token: String,
}

/// What the person sees before accepting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryLinkInfo {
    pub display_name: String,
    /// RFC 3339: when the link stops working.
    pub expire_time: String,
}

/// `POST /api/recovery:accept`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptRecoveryRequest {
    pub token: String,
    /// The person confirms the address the link was sent to.
    #[cfg_attr(feature = "openapi", schema(max_length = 320))]
    pub email: String,
    /// The new account password: at least `MIN_PASSWORD_CHARS` characters, at most 1000.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::password_schema))]
    pub password: String,
}

/// Shown once, never stored in the clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptRecoveryResponse {
    /// The new Secret Key, in 1Password's format `A3-XXXXXX-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX`.
    pub secret_key: String,
}

/// The shortest account password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// An email Keydesk sent, or holds for delivery. `GET /api/outbox` (embedded directory only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxMessage {
    pub id: i64,
    pub to: String,
    pub subject: String,
    /// The text; emptied once delivered by SMTP, so links do not linger.
    pub body: String,
    /// The recovery link in the message, for the page to offer as a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub create_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_time: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxResponse {
    /// Newest first.
    pub messages: Vec<OutboxMessage>,
}

/// How many people are in each state. `GET /api/state-counts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateCounts {
    pub counts: Vec<StateCount>,
    /// Keydesk extension, where the directory knows roles: how many owners are ACTIVE. The last
    /// one cannot be suspended, and the page warns before a suspension leaves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_owners: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateCount {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "ACTIVE"))]
    pub state: crate::UserState,
    pub count: u64,
}

impl StateCounts {
    pub fn of(&self, state: &crate::UserState) -> u64 {
        self.counts
            .iter()
            .find(|c| &c.state == state)
            .map_or(0, |c| c.count)
    }
}
