//! The audit trail and the signed-in session, as the page sees them. Keydesk extensions.

use serde::{Deserialize, Serialize};

/// What a person may do. Roles grant sets of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ReadUsers,
    Suspend,
    Reactivate,
    /// Begin and complete account recovery.
    Recover,
    ReadAudit,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::ReadUsers,
        Permission::Suspend,
        Permission::Reactivate,
        Permission::Recover,
        Permission::ReadAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadUsers => "read_users",
            Permission::Suspend => "suspend",
            Permission::Reactivate => "reactivate",
            Permission::Recover => "recover",
            Permission::ReadAudit => "read_audit",
        }
    }
}

/// `GET /api/session`: who is signed in and what they may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub email: String,
    /// The proxy's user name, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// The roles the groups map to (`owner`, `administrator`, `helpdesk`, `viewer`).
    pub roles: Vec<String>,
    pub permissions: Vec<Permission>,
    /// True for the fixed development identity: the page shows a banner.
    pub development: bool,
}

impl Session {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// One audited attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// RFC 3339, to the millisecond.
    pub time: String,
    pub actor_email: String,
    pub actor_groups: Vec<String>,
    /// For example `suspend`, `begin_recovery`, `sign_in`.
    pub action: String,
    /// The people acted on (IDs or, for refused names, the names given).
    pub targets: Vec<String>,
    /// `succeeded`, `denied` or `failed`.
    pub outcome: String,
    /// Why it was denied or failed; empty on success.
    pub reason: String,
    pub request_id: String,
    pub client_address: String,
    /// SHA-256 of the previous record's hash and this record, hex.
    pub hash: String,
}

/// `GET /api/audit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// Newest first.
    pub records: Vec<AuditRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The filters of `GET /api/audit` and its JSON Lines export, as query parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Actor email (exact, any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A user ID or name among the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `succeeded`, `denied` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// RFC 3339: records at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339: records before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

impl AuditQuery {
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
            ("max_page_size", &self.max_page_size),
            ("page_token", &self.page_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// `GET /api/audit/verify`: whether the chain is intact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditVerification {
    pub records: i64,
    /// The first record whose hash does not follow from its content and predecessor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
}
