//! Scheduled changes: a suspension or a reactivation that Keydesk makes by itself at a set time
//! ("suspend until…", offboarding at the end of the last day). Keydesk extension.

use serde::{Deserialize, Serialize};

use crate::{AuditAction, closed_enum::closed_enum};

/// `POST /api/scheduled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::id_schema))]
    pub user_id: crate::UserId,
    /// `suspend` or `reactivate`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^(suspend|reactivate)$"))]
    pub action: AuditAction,
    /// RFC 3339, in the future (at most two years ahead).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub due_time: String,
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

closed_enum!(
    /// Where a scheduled change is in its life.
    ScheduleStatus {
        Pending = "pending",
        /// Taken by a Keydesk process, which is making it now.
        Running = "running",
        Done = "done",
        /// Not made: the person's state changed since it was scheduled.
        Skipped = "skipped",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

/// One scheduled change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledChange {
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub user_id: crate::UserId,
    /// The person as the directory names them now: `Name <email>`.
    pub person: String,
    pub action: AuditAction,
    /// RFC 3339.
    pub due_time: String,
    pub scheduled_by: String,
    pub scheduled_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub status: ScheduleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_time: Option<String>,
    /// What happened, in words, once it ran, was skipped or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// `GET /api/scheduled`: what is pending, soonest first, and what ran most recently.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledList {
    pub pending: Vec<ScheduledChange>,
    pub recent: Vec<ScheduledChange>,
}
