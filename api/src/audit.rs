//! The audit trail and the signed-in session, as the page sees them. Keydesk extensions.

use serde::{Deserialize, Serialize};

use crate::closed_enum::closed_enum;

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
    /// The last tickets this person gave with a change, newest first, to offer again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_tickets: Vec<String>,
}

impl Session {
    /// Whether `user` is the person signed in: nobody changes their own account.
    pub fn is(&self, user: &crate::User) -> bool {
        user.email.eq_ignore_ascii_case(&self.email)
    }

    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

closed_enum!(
    /// What an audit record is about.
    AuditAction {
        /// A refused sign-in (accepted ones are not recorded).
        SignIn = "sign_in",
        Suspend = "suspend",
        Reactivate = "reactivate",
        BeginRecovery = "begin_recovery",
        ResendRecovery = "resend_recovery",
        CompleteRecovery = "complete_recovery",
        /// The person holding a recovery link set a new password.
        AcceptRecovery = "accept_recovery",
        /// Someone asked about a recovery link (only refusals are recorded).
        InspectRecovery = "inspect_recovery",
        /// A `POST …/users/{id}:{method}` whose method Keydesk does not have.
        UnknownMethod = "unknown_method",
        /// A suspension or reactivation set for a later time.
        Schedule = "schedule",
        /// A scheduled change called off before it ran.
        CancelSchedule = "cancel_schedule",
        /// Upstream: the checks confirmed before a recovery is completed in 1Password's admin
        /// console (which Keydesk cannot do itself).
        ConfirmIdentity = "confirm_identity",
        /// Keydesk removed records older than `[audit] keep`; the record says where the chain
        /// now starts.
        PruneAudit = "prune_audit",
        /// Upstream, seen only (outcome `observed`): a change of state no other action names,
        /// such as a transfer, made in 1Password itself.
        ChangeState = "change_state",
    }
);

impl AuditAction {
    /// The action's name in a list of actions.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::SignIn => "Sign-in",
            AuditAction::Suspend => "Suspend",
            AuditAction::Reactivate => "Reactivate",
            AuditAction::BeginRecovery => "Begin recovery",
            AuditAction::ResendRecovery => "Resend recovery email",
            AuditAction::CompleteRecovery => "Complete recovery",
            AuditAction::AcceptRecovery => "Accept recovery (the person)",
            AuditAction::InspectRecovery => "Open a recovery link (the person)",
            AuditAction::UnknownMethod => "Unknown method",
            AuditAction::Schedule => "Schedule a change",
            AuditAction::CancelSchedule => "Cancel a scheduled change",
            AuditAction::ConfirmIdentity => "Confirm identity (before 1Password's console)",
            AuditAction::PruneAudit => "Prune old records (retention)",
            AuditAction::ChangeState => "Other change of state",
        }
    }

    /// The action in a sentence: what was done, and what was tried ("to …"). (Apart from
    /// [`AuditAction::label`]: only the server writes sentences, and the page need not carry them.)
    pub fn verbs(self) -> (&'static str, &'static str) {
        match self {
            AuditAction::SignIn => ("signed in", "sign in"),
            AuditAction::Suspend => ("suspended", "suspend"),
            AuditAction::Reactivate => ("reactivated", "reactivate"),
            AuditAction::BeginRecovery => ("began recovery for", "begin recovery for"),
            AuditAction::ResendRecovery => (
                "sent a new recovery email to",
                "send a new recovery email to",
            ),
            AuditAction::CompleteRecovery => ("completed recovery for", "complete recovery for"),
            AuditAction::AcceptRecovery => (
                "set a new password through a recovery link",
                "set a new password through a recovery link",
            ),
            AuditAction::InspectRecovery => ("opened a recovery link", "open a recovery link"),
            AuditAction::UnknownMethod => {
                ("called an unknown method on", "call an unknown method on")
            }
            AuditAction::Schedule => ("scheduled a change for", "schedule a change for"),
            AuditAction::CancelSchedule => (
                "cancelled a scheduled change for",
                "cancel a scheduled change for",
            ),
            AuditAction::ConfirmIdentity => {
                ("confirmed the identity of", "confirm the identity of")
            }
            AuditAction::PruneAudit => ("pruned old audit records", "prune old audit records"),
            AuditAction::ChangeState => ("changed the state of", "change the state of"),
        }
    }

    /// The action that names a change of state seen in 1Password (from `before`, as Keydesk
    /// last knew the person, to `after`), so that a recovery completed in the admin console is
    /// found among completed recoveries.
    pub fn observed(before: &crate::UserState, after: &crate::UserState) -> AuditAction {
        use crate::UserState;
        match (before, after) {
            (_, UserState::Suspended) => AuditAction::Suspend,
            (UserState::Suspended, UserState::Active) => AuditAction::Reactivate,
            (UserState::RecoveryStarted | UserState::RecoveryAccepted, UserState::Active) => {
                AuditAction::CompleteRecovery
            }
            (_, UserState::RecoveryStarted) => AuditAction::BeginRecovery,
            (_, UserState::RecoveryAccepted) => AuditAction::AcceptRecovery,
            _ => AuditAction::ChangeState,
        }
    }

    /// What was seen done in 1Password, for a sentence: "recovery completed", "suspended".
    pub fn seen_done(self) -> &'static str {
        match self {
            AuditAction::Suspend => "suspended",
            AuditAction::Reactivate => "reactivated",
            AuditAction::CompleteRecovery => "recovery completed",
            AuditAction::BeginRecovery | AuditAction::ResendRecovery => "recovery begun",
            AuditAction::AcceptRecovery => "new password set (recovery accepted)",
            _ => "state changed",
        }
    }

    /// The state a person is in after this action succeeded for them, for actions that change
    /// a state: replaying a person's succeeded records gives their state.
    pub fn resulting_state(self) -> Option<crate::UserState> {
        use crate::UserState;
        match self {
            AuditAction::Suspend => Some(UserState::Suspended),
            AuditAction::Reactivate | AuditAction::CompleteRecovery => Some(UserState::Active),
            AuditAction::BeginRecovery | AuditAction::ResendRecovery => {
                Some(UserState::RecoveryStarted)
            }
            AuditAction::AcceptRecovery => Some(UserState::RecoveryAccepted),
            AuditAction::SignIn
            | AuditAction::InspectRecovery
            | AuditAction::UnknownMethod
            | AuditAction::Schedule
            | AuditAction::CancelSchedule
            | AuditAction::ConfirmIdentity
            | AuditAction::PruneAudit
            | AuditAction::ChangeState => None,
        }
    }
}

closed_enum!(
    /// How an attempt ended.
    AuditOutcome {
        Succeeded = "succeeded",
        /// Refused before anything was tried: no identity, no permission, a rate limit, another
        /// site, a rule such as one's own account.
        Denied = "denied",
        /// Tried and refused or broken: bad input, a state that does not allow it, an upstream
        /// error.
        Failed = "failed",
        /// About to ask 1Password (upstream directory): written before the call, so that a
        /// change is never without a record; a later record with `settles` set says how it
        /// ended.
        Attempted = "attempted",
        /// Seen, not made (upstream directory): a reading of 1Password found the person in a
        /// state Keydesk did not put them in (completed in the admin console, suspended by the
        /// identity provider). The actor is `1Password`; `observed` says from what to what.
        Observed = "observed",
    }
);

/// The actor of an `observed` record: 1Password itself, or someone in its console.
pub const OBSERVED_ACTOR: &str = "1Password";

/// What a reading of 1Password found changed about one person (an `observed` record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Observation {
    /// The state Keydesk last knew.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub before: crate::UserState,
    /// The state 1Password reported: what replaying the trail gives the person.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub after: crate::UserState,
}

fn is_one(count: &u32) -> bool {
    *count == 1
}

fn one() -> u32 {
    1
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
    pub action: AuditAction,
    /// The people acted on (IDs or, for refused names, the names given).
    pub targets: Vec<String>,
    pub outcome: AuditOutcome,
    /// Why it was denied or failed; empty on success.
    pub reason: String,
    pub request_id: String,
    pub client_address: String,
    /// How many attempts alike this record stands for: repeated refusals from one address for
    /// one reason are recorded once a minute, with their count.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u32,
    /// The `attempted` record whose outcome this is (upstream directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settles: Option<i64>,
    /// SHA-256 of the previous record's hash and this record, hex.
    pub hash: String,
    /// Why the change was asked for, in the words of whoever asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_reason: Option<String>,
    /// The ticket the change belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The checks the admin confirmed (completing a recovery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked: Vec<String>,
    /// A scheduled change: the person who scheduled it (the actor is `scheduler`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// An `observed` record: the change of state seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observation>,
}

impl AuditRecord {
    /// The state this record puts its targets in when the trail is replayed: a change that
    /// succeeded, or one seen in 1Password. Replaying every record gives every person's state.
    pub fn resulting_state(&self) -> Option<crate::UserState> {
        match self.outcome {
            AuditOutcome::Succeeded => self.action.resulting_state(),
            AuditOutcome::Observed => self.observed.as_ref().map(|seen| seen.after.clone()),
            _ => None,
        }
    }
}

/// `GET /api/audit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    /// Newest first.
    pub records: Vec<AuditRecord>,
    /// Keydesk extension: each record as a sentence with names, in the same order, e.g.
    /// "Amara Okafor suspended Hannah Müller <hannah.muller@example.com>". Not part of the
    /// chained record: the names are the directory's as it is now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentences: Vec<String>,
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
    #[cfg_attr(feature = "openapi", param(max_length = 320))]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::audit_action_schema))]
    pub action: Option<String>,
    /// A user ID or name among the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 320))]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::audit_outcome_schema))]
    pub outcome: Option<String>,
    /// RFC 3339: records at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::time_or_empty_schema))]
    pub since: Option<String>,
    /// RFC 3339: records before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::time_or_empty_schema))]
    pub until: Option<String>,
    /// 1 to 1000; 50 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::page_size_schema))]
    pub max_page_size: Option<String>,
    /// The previous page's `next_page_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(pattern = "^([1-9][0-9]{0,17})?$"))]
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
