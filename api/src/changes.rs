//! Why a change is made, and what the server asks of it: a reason and a ticket on every change,
//! a checklist before an account is handed over. All Keydesk extensions.

use serde::{Deserialize, Serialize};

/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest ticket reference accepted, in characters.
pub const MAX_TICKET_CHARS: usize = 64;

/// The body of a custom method on one user (`POST …/users/{id}:suspend` and the others). Every
/// field is optional on the wire, so the Users API's own empty body still works; the server's
/// rules ([`ChangeRules`]) say which a change must carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MethodRequest {
    /// Why this change is made, up to 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
        )
    )]
    pub reason: Option<String>,
    /// The ticket it belongs to, such as `INC-4211`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")
    )]
    pub ticket: Option<String>,
    /// `:completeRecovery` only: the checks of [`ChangeRules::checklist`] the admin ticked, each
    /// exactly as worded there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked: Vec<String>,
}

/// What the server asks of every change (`GET /api/config`), so the page can ask for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRules {
    pub require_reason: bool,
    pub require_ticket: bool,
    /// The pattern a ticket must match (a regular expression), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_pattern: Option<String>,
    /// A link for a ticket: `{ticket}` stands for the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_url: Option<String>,
    /// What the admin completing a recovery confirms, every item ticked.
    #[serde(default)]
    pub checklist: Vec<String>,
    /// The admin who began a person's recovery may not complete it.
    pub four_eyes: bool,
}

impl ChangeRules {
    /// The link a ticket reference opens, when configured.
    pub fn ticket_link(&self, ticket: &str) -> Option<String> {
        let template = self.ticket_url.as_deref()?;
        let (before, after) = template.split_once("{ticket}")?;
        let encoded: String = ticket
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        Some(format!("{before}{encoded}{after}"))
    }
}

/// `GET /api/users/{user_id}/last-change`: the change that put a person in their state, from the
/// audit trail: who, when, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastChange {
    pub action: crate::AuditAction,
    /// RFC 3339.
    pub time: String,
    pub actor_email: String,
    /// The actor's display name in the directory, when they are in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Seen in 1Password rather than made by anyone through Keydesk (the actor is
    /// `1Password`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_link_fills_the_template_and_escapes_the_reference() {
        let rules = ChangeRules {
            ticket_url: Some("https://desk.example.com/browse/{ticket}?from=keydesk".into()),
            ..ChangeRules::default()
        };
        assert_eq!(
            rules.ticket_link("INC-42").as_deref(),
            Some("https://desk.example.com/browse/INC-42?from=keydesk")
        );
        assert_eq!(
            rules.ticket_link("a b&c").as_deref(),
            Some("https://desk.example.com/browse/a%20b%26c?from=keydesk")
        );
        assert_eq!(ChangeRules::default().ticket_link("INC-42"), None);
    }
}
