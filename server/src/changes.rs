//! What every change must carry, from the configuration file: a reason and a ticket
//! (`[changes]`), and before an account is handed over, a checklist and a second admin
//! (`[recovery]`). One source for these rules: the routes check requests with [`Rules`], and the
//! page learns them from `GET /api/config` ([`ChangeRules`]).

use keydesk_api::{ChangeRules, MAX_REASON_CHARS, MAX_TICKET_CHARS, MethodRequest, User};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{audit::Note, error::AppError};

/// `[changes]`: what every change (suspend, reactivate, begin, resend, complete) must say.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChangeSettings {
    /// Every change must say why.
    pub require_reason: bool,
    /// Every change must name its ticket.
    pub require_ticket: bool,
    /// A ticket must match this regular expression, such as `^(INC|REQ)-\d+$`.
    pub ticket_pattern: Option<String>,
    /// Turns a ticket into a link: `{ticket}` stands for the reference.
    pub ticket_url: Option<String>,
}

/// `[recovery]`: completing a recovery hands a person's vault to whoever set the new password.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryRules {
    /// The admin who began a person's recovery may not complete it: another admin must.
    pub four_eyes: bool,
    /// What the completing admin confirms, every item ticked.
    pub checklist: Vec<String>,
}

impl Default for RecoveryRules {
    fn default() -> Self {
        RecoveryRules {
            four_eyes: true,
            checklist: vec![
                "I spoke to them on a number we already had".into(),
                "They confirmed the new password was set by them".into(),
            ],
        }
    }
}

/// The rules, checked once at start.
#[derive(Clone, Debug)]
pub struct Rules {
    wire: ChangeRules,
    ticket_pattern: Option<Regex>,
}

impl Rules {
    pub fn new(changes: &ChangeSettings, recovery: &RecoveryRules) -> anyhow::Result<Rules> {
        let ticket_pattern = match &changes.ticket_pattern {
            Some(pattern) => Some(Regex::new(pattern).map_err(|err| {
                anyhow::anyhow!("[changes] ticket_pattern is not a regular expression: {err}")
            })?),
            None => None,
        };
        if let Some(url) = &changes.ticket_url
            && !((url.starts_with("https://") || url.starts_with("http://"))
                && url.contains("{ticket}"))
        {
            anyhow::bail!(
                "[changes] ticket_url must be an http(s) address with {{ticket}} where the \
                 reference goes, such as \"https://desk.example.com/browse/{{ticket}}\""
            );
        }
        if recovery.checklist.iter().any(|item| item.trim().is_empty()) {
            anyhow::bail!("[recovery] checklist has an empty item");
        }
        Ok(Rules {
            wire: ChangeRules {
                require_reason: changes.require_reason,
                require_ticket: changes.require_ticket,
                ticket_pattern: changes.ticket_pattern.clone(),
                ticket_url: changes.ticket_url.clone(),
                checklist: recovery.checklist.clone(),
                four_eyes: recovery.four_eyes,
            },
            ticket_pattern,
        })
    }

    /// The rules as the page reads them.
    pub fn wire(&self) -> &ChangeRules {
        &self.wire
    }

    /// What a request said, as the audit keeps it whether or not it passes the rules.
    pub fn said(reason: Option<&str>, ticket: Option<&str>, checked: &[String]) -> Note {
        // Spaces around are dropped; control characters are kept (even those Unicode counts
        // as space, such as U+0085, and a tab), for the rules to refuse as the schema says.
        let space = |c: char| c.is_whitespace() && !c.is_control();
        let text = |t: Option<&str>| {
            let t = t?.trim_matches(space);
            (!t.is_empty()).then(|| t.to_owned())
        };
        Note {
            reason: text(reason),
            ticket: text(ticket),
            checked: checked.to_vec(),
            ..Note::default()
        }
    }

    /// The request's reason and ticket, if they meet the rules; otherwise a 400 naming the rule.
    /// `completing`: the checklist must be ticked too (409 until it is); any other change
    /// ignores checks.
    pub fn check(&self, note: &Note, completing: bool) -> Result<(), AppError> {
        match &note.reason {
            None if self.wire.require_reason => {
                return Err(AppError::invalid(
                    "a reason is required for every change: say why in 'reason'",
                ));
            }
            Some(reason) if reason.chars().count() > MAX_REASON_CHARS => {
                return Err(AppError::invalid(format!(
                    "the reason is too long: at most {MAX_REASON_CHARS} characters, and it has {}",
                    reason.chars().count()
                )));
            }
            Some(reason) if reason.chars().any(|c| c.is_control() && c != '\n') => {
                return Err(AppError::invalid(
                    "the reason has a control character in it; write it as plain text",
                ));
            }
            _ => {}
        }
        match &note.ticket {
            None if self.wire.require_ticket => {
                return Err(AppError::invalid(
                    "a ticket is required for every change: name it in 'ticket'",
                ));
            }
            Some(ticket) if ticket.chars().count() > MAX_TICKET_CHARS => {
                return Err(AppError::invalid(format!(
                    "the ticket is too long: at most {MAX_TICKET_CHARS} characters"
                )));
            }
            Some(ticket) if ticket.chars().any(char::is_control) => {
                return Err(AppError::invalid(
                    "the ticket has a control character in it",
                ));
            }
            Some(ticket)
                if self
                    .ticket_pattern
                    .as_ref()
                    .is_some_and(|pattern| !pattern.is_match(ticket)) =>
            {
                return Err(AppError::invalid(format!(
                    "the ticket '{ticket}' does not match the pattern this Keydesk requires: {}",
                    self.wire.ticket_pattern.as_deref().unwrap_or_default()
                )));
            }
            _ => {}
        }
        self.check_list(&note.checked, completing)
    }

    /// Completing needs every check ticked. (What is not on the list was never asked, and is
    /// left out of the record: see [`Rules::confirmed`].)
    fn check_list(&self, checked: &[String], completing: bool) -> Result<(), AppError> {
        if !completing {
            return Ok(());
        }
        let missing: Vec<&str> = (self.wire.checklist.iter())
            .filter(|item| !checked.contains(item))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            // Well-formed, and not yet allowed: the admin has not confirmed everything.
            return Err(AppError::new(
                keydesk_api::ErrorStatus::FailedPrecondition,
                format!(
                    "before completing a recovery, confirm every check; not ticked: {}",
                    missing.join("; ")
                ),
            ));
        }
        Ok(())
    }

    /// The checks of `checked` that are on the checklist: only those were asked, so only
    /// those go into the record.
    pub fn confirmed(&self, checked: Vec<String>) -> Vec<String> {
        checked
            .into_iter()
            .filter(|item| self.wire.checklist.contains(item))
            .collect()
    }

    /// With four eyes, whoever began a person's recovery does not complete it.
    pub fn second_pair_of_eyes(&self, user: &User, actor: &str) -> Result<(), AppError> {
        match &user.recovery_started_by {
            Some(began) if self.wire.four_eyes && began.eq_ignore_ascii_case(actor) => {
                Err(AppError::new(
                    keydesk_api::ErrorStatus::PermissionDenied,
                    format!(
                        "You began the recovery of {} <{}>, so another admin must complete it: \
                         two people decide before an account is handed over",
                        user.display_name, user.email
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl From<&MethodRequest> for Note {
    fn from(request: &MethodRequest) -> Note {
        Rules::said(
            request.reason.as_deref(),
            request.ticket.as_deref(),
            &request.checked,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(
            &ChangeSettings {
                require_reason: true,
                require_ticket: false,
                ticket_pattern: Some(r"^(INC|REQ)-\d+$".into()),
                ticket_url: None,
            },
            &RecoveryRules::default(),
        )
        .unwrap()
    }

    fn note(reason: Option<&str>, ticket: Option<&str>) -> Note {
        Rules::said(reason, ticket, &[])
    }

    #[test]
    fn a_reason_and_a_well_formed_ticket_pass() {
        let rules = rules();
        rules
            .check(&note(Some("parental leave"), Some("INC-4211")), false)
            .unwrap();
        rules
            .check(&note(Some("parental leave"), None), false)
            .unwrap();
    }

    #[test]
    fn each_broken_rule_is_named() {
        let rules = rules();
        let message = |n: Note| rules.check(&n, false).unwrap_err().message;
        assert!(message(note(Some("  "), None)).contains("a reason is required"));
        assert!(message(note(Some(&"x".repeat(501)), None)).contains("at most 500"));
        assert!(message(note(Some("a\u{7}b"), None)).contains("control character"));
        assert!(message(note(Some("\u{85}"), None)).contains("control character"));
        assert!(message(note(Some("ok"), Some("JIRA-1"))).contains(r"^(INC|REQ)-\d+$"));
    }

    #[test]
    fn completing_needs_every_check_and_only_those() {
        let rules = rules();
        let all = RecoveryRules::default().checklist;
        let checked = |items: &[String]| Note {
            checked: items.to_vec(),
            ..note(Some("verified"), None)
        };
        rules.check(&checked(&all), true).unwrap();
        let missing = rules.check(&checked(&all[..1]), true).unwrap_err().message;
        assert!(missing.contains("not ticked: They confirmed"), "{missing}");
        let stranger = checked(&["I trust them".into()]);
        assert!(rules.check(&stranger, true).is_err());
        assert!(rules.confirmed(stranger.checked).is_empty());
    }

    #[test]
    fn bad_patterns_and_links_are_refused_at_start() {
        let recovery = RecoveryRules::default();
        let changes = |pattern: Option<&str>, url: Option<&str>| ChangeSettings {
            ticket_pattern: pattern.map(str::to_owned),
            ticket_url: url.map(str::to_owned),
            ..ChangeSettings::default()
        };
        assert!(Rules::new(&changes(Some("(unclosed"), None), &recovery).is_err());
        assert!(
            Rules::new(
                &changes(None, Some("https://desk/no-placeholder")),
                &recovery
            )
            .is_err()
        );
        assert!(Rules::new(&changes(None, Some("javascript:{ticket}")), &recovery).is_err());
        Rules::new(&changes(None, Some("https://desk/{ticket}")), &recovery).unwrap();
    }
}
