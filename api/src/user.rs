//! The User object and its open sets of states, types and roles.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// An enum whose set of values is open: the known ones are variants, anything else is kept as
/// `Other` with its raw text, so a value 1Password adds tomorrow displays instead of failing to
/// decode.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(from = "String")]
        pub enum $name {
            $($variant,)+
            /// A value Keydesk does not know, exactly as received.
            Other(String),
        }

        impl $name {
            /// Every value Keydesk knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(raw) => raw,
                }
            }

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        // By hand rather than `into = "String"`, which allocated a copy of the text for every
        // value serialised: three per user in every list.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// A user's state, as the 1Password CLI reports it. The Users API itself only uses
    /// `STATE_UNSPECIFIED`, `ACTIVE` and `SUSPENDED`.
    UserState {
        Active = "ACTIVE",
        Pending = "PENDING",
        Suspended = "SUSPENDED",
        RecoveryStarted = "RECOVERY_STARTED",
        RecoveryAccepted = "RECOVERY_ACCEPTED",
        TransferPending = "TRANSFER_PENDING",
        TransferStarted = "TRANSFER_STARTED",
        TransferSuspended = "TRANSFER_SUSPENDED",
        TransferAccepted = "TRANSFER_ACCEPTED",
        Deleted = "DELETED",
        EmailVerifiedButRegistrationIncomplete = "EMAIL_VERIFIED_BUT_REGISTRATION_INCOMPLETE",
        TeamRegistrationInitiated = "TEAM_REGISTRATION_INITIATED",
        Unknown = "UNKNOWN",
        StateUnspecified = "STATE_UNSPECIFIED",
    }
);

open_enum!(
    /// What kind of account a user has.
    UserType {
        Member = "MEMBER",
        Guest = "GUEST",
        ServiceAccount = "SERVICE_ACCOUNT",
    }
);

// How a state and a type read on screen. Here rather than in the page because the server writes
// the first rows into the page it sends (server/src/page/first_rows.rs) and must word them the
// same way.
impl UserState {
    /// The words for a state. A state Keydesk does not know reads as its raw value.
    pub fn label(&self) -> &str {
        match self {
            UserState::Active => "Active",
            UserState::Pending => "Pending",
            UserState::Suspended => "Suspended",
            UserState::RecoveryStarted => "Recovery started",
            UserState::RecoveryAccepted => "Recovery accepted",
            UserState::TransferPending => "Transfer pending",
            UserState::TransferStarted => "Transfer started",
            UserState::TransferSuspended => "Transfer suspended",
            UserState::TransferAccepted => "Transfer accepted",
            UserState::Deleted => "Deleted",
            UserState::EmailVerifiedButRegistrationIncomplete => "Registration incomplete",
            UserState::TeamRegistrationInitiated => "Team registration started",
            UserState::Unknown => "Unknown",
            UserState::StateUnspecified => "Unspecified",
            UserState::Other(raw) => raw,
        }
    }

    /// Which colour family a state belongs to: the suffix of the page's `badge-…` class.
    pub fn tone(&self) -> &'static str {
        match self {
            UserState::Active => "ok",
            UserState::Suspended | UserState::TransferSuspended | UserState::Deleted => "stop",
            UserState::RecoveryStarted | UserState::RecoveryAccepted => "attention",
            UserState::Pending
            | UserState::TransferPending
            | UserState::TransferStarted
            | UserState::TransferAccepted
            | UserState::EmailVerifiedButRegistrationIncomplete
            | UserState::TeamRegistrationInitiated => "waiting",
            _ => "neutral",
        }
    }
}

// What each of 1Password's two sources says of a state. The Users API's own `state` is only
// `STATE_UNSPECIFIED`, `ACTIVE` or `SUSPENDED` (1Password's Users API reference); the recovery
// and transfer states exist only in what `op` reports (`op user list`, `op user get`). Keydesk's
// stand-in for the Users API answers `in_users_api`, and the connector puts the two back
// together with `merge`: one rule, both sides.
impl UserState {
    /// What the Users API reports for someone `op` sees in this state. What it says of people
    /// in recovery or transfer is not documented: Keydesk assumes `ACTIVE` (they still hold an
    /// account the API can list and suspend) and `STATE_UNSPECIFIED` for anyone else (pending,
    /// deleted, a state nobody knows yet).
    pub fn in_users_api(&self) -> UserState {
        match self {
            UserState::Active
            | UserState::RecoveryStarted
            | UserState::RecoveryAccepted
            | UserState::TransferPending
            | UserState::TransferStarted
            | UserState::TransferSuspended
            | UserState::TransferAccepted => UserState::Active,
            UserState::Suspended => UserState::Suspended,
            _ => UserState::StateUnspecified,
        }
    }

    /// A state only `op` can tell: the Users API reports something vaguer for it.
    pub fn only_in_cli(&self) -> bool {
        self.in_users_api() != *self
    }

    /// One person's state from the Users API's answer (`api`) and `op user list`'s (`cli`),
    /// read moments apart: the CLI's where the API has no word for it (the API says
    /// `STATE_UNSPECIFIED`, or the vaguer state the CLI's implies), the API's where the two
    /// disagree (someone changed in between: the API is the source of its own states).
    pub fn merge(api: &UserState, cli: &UserState) -> UserState {
        if *api == UserState::StateUnspecified || cli.in_users_api() == *api {
            cli.clone()
        } else {
            api.clone()
        }
    }
}

impl UserType {
    /// The words for a type; one Keydesk does not know reads as its raw value.
    pub fn label(&self) -> &str {
        match self {
            UserType::Member => "Member",
            UserType::Guest => "Guest",
            UserType::ServiceAccount => "Service account",
            UserType::Other(raw) => raw,
        }
    }
}

open_enum!(
    /// A user's standing in the account. Keydesk extension: the last owner cannot be suspended.
    Role {
        Owner = "OWNER",
        Administrator = "ADMINISTRATOR",
        Member = "MEMBER",
    }
);

impl Role {
    /// The words for a role; one Keydesk does not know reads as its raw value.
    pub fn label(&self) -> &str {
        match self {
            Role::Owner => "Owner",
            Role::Administrator => "Administrator",
            Role::Member => "Member",
            Role::Other(raw) => raw,
        }
    }
}

/// A person in the account's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "IR7VJHJ36JHINBFAD7V2T5MP3E"))]
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    /// One of the states listed by the 1Password CLI; treat as an open set.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "ACTIVE"))]
    pub state: UserState,
    /// RFC 3339.
    pub create_time: String,
    /// The resource name: `accounts/{account_id}/users/{user_id}`.
    pub path: String,
    /// Keydesk extension: `MEMBER`, `GUEST` or `SERVICE_ACCOUNT`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "MEMBER"))]
    pub user_type: Option<UserType>,
    /// Keydesk extension: `OWNER`, `ADMINISTRATOR` or `MEMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "MEMBER"))]
    pub role: Option<Role>,
    /// Keydesk extension: when the state last changed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// Keydesk extension: when the current recovery began (RECOVERY_STARTED or _ACCEPTED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_started_time: Option<String>,
    /// Keydesk extension: who began the current recovery (their email), when Keydesk began it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_started_by: Option<String>,
    /// Keydesk extension: whether two-factor authentication is set up (completing a recovery
    /// resets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_factor_enabled: Option<bool>,
    /// Keydesk extension: devices signed in (completing a recovery signs them all out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_devices: Option<u32>,
}

impl User {
    /// The Users API's own fields of this user, without Keydesk's extensions.
    pub fn without_extensions(self) -> User {
        User {
            user_type: None,
            role: None,
            update_time: None,
            recovery_started_time: None,
            recovery_started_by: None,
            two_factor_enabled: None,
            signed_in_devices: None,
            ..self
        }
    }

    /// What the person is in the account, in words: a guest or a service account is that,
    /// anyone else is their role (Owner, Administrator, Member).
    pub fn role_label(&self) -> &str {
        match (&self.user_type, &self.role) {
            (Some(kind @ (UserType::Guest | UserType::ServiceAccount)), _) => kind.label(),
            (_, Some(role)) => role.label(),
            (Some(kind), None) => kind.label(),
            (None, None) => "—",
        }
    }

    /// An owner whose suspension is refused: the only ACTIVE one (`active_owners` from
    /// [`crate::StateCounts`]).
    pub fn is_last_owner(&self, active_owners: Option<u64>) -> bool {
        self.role == Some(Role::Owner)
            && self.state == UserState::Active
            && active_owners.is_some_and(|owners| owners <= 1)
    }
}

/// One page of `GET …/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListUsersResponse {
    pub results: Vec<User>,
    /// Present only when more pages exist; pass it back as `page_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
    /// Keydesk extension, upstream directory only: the page was served from Keydesk's snapshot
    /// of the 1Password directory, read whole at this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_time: Option<String>,
    /// Keydesk extension, upstream directory only: why the last refresh of the snapshot failed,
    /// while it is older than it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_error: Option<String>,
    /// Keydesk extension, upstream directory only: why the recovery and transfer states in this
    /// list are not known now. The Users API does not report them and `op` could not list them,
    /// so people read as Keydesk last knew them, or as the API says (`ACTIVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states_unknown: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_user() {
        let json = r#"{"id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "email": "wendy_appleseed@agilebits.com",
            "display_name": "Wendy Appleseed", "state": "ACTIVE",
            "create_time": "2024-01-15T10:30:00Z",
            "path": "accounts/ACCOUNT123/users/IR7VJHJ36JHINBFAD7V2T5MP3E"}"#;
        let user: User = serde_json::from_str(json).unwrap();
        assert_eq!(user.state, UserState::Active);
        assert_eq!(user.user_type, None);
        // Extensions that are absent stay absent on the way out.
        let back = serde_json::to_value(&user).unwrap();
        assert!(back.get("type").is_none());
    }

    #[test]
    fn the_users_api_says_three_states_and_the_cli_fills_them_in() {
        use UserState::*;
        assert_eq!(RecoveryAccepted.in_users_api(), Active);
        assert_eq!(TransferSuspended.in_users_api(), Active);
        assert_eq!(Pending.in_users_api(), StateUnspecified);
        assert_eq!(Other("FROZEN".into()).in_users_api(), StateUnspecified);
        for state in UserState::KNOWN {
            // The API's answer and the CLI's agree for every state: the CLI's is kept.
            assert_eq!(&UserState::merge(&state.in_users_api(), state), state);
        }
        // Changed between the two reads: the API's own states are the API's.
        assert_eq!(UserState::merge(&Suspended, &Active), Suspended);
        assert_eq!(UserState::merge(&Active, &Suspended), Active);
        assert_eq!(UserState::merge(&StateUnspecified, &Active), Active);
        assert!(RecoveryStarted.only_in_cli() && !Suspended.only_in_cli());
    }

    #[test]
    fn unknown_state_round_trips_raw() {
        let state: UserState = serde_json::from_str("\"FROZEN_SOLID\"").unwrap();
        assert_eq!(state, UserState::Other("FROZEN_SOLID".into()));
        assert_eq!(serde_json::to_string(&state).unwrap(), "\"FROZEN_SOLID\"");
    }
}
