//! What `op` prints, read: its version, its people (`op user list`, `op user get`, `op user
//! recovery begin`, all `--format json`), its `[ERROR] <date> <time> <message>` lines, and which
//! of those say the session has ended.

use std::collections::HashMap;

use keydesk_api::{UserId, UserState, UserType};
use serde::Deserialize;

/// One person as `op` prints them: `op user list` gives the first five fields, `op user get`
/// and `op user recovery begin` the dates too.
#[derive(Clone, Debug, Deserialize)]
pub struct OpUser {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, rename = "type")]
    pub user_type: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

impl OpUser {
    /// The CLI's state; `UNKNOWN` when it printed none.
    pub fn state(&self) -> UserState {
        self.state
            .as_deref()
            .map_or(UserState::Unknown, UserState::parse)
    }

    pub fn user_type(&self) -> Option<UserType> {
        self.user_type.as_deref().map(UserType::parse)
    }
}

/// `op whoami --format json`: the account, and the user or service account signed in.
#[derive(Debug, Deserialize)]
pub struct Whoami {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// `SERVICE_ACCOUNT` for a service account; a person otherwise.
    #[serde(default)]
    pub user_type: Option<String>,
}

impl Whoami {
    pub fn is_service_account(&self) -> bool {
        self.user_type.as_deref() == Some("SERVICE_ACCOUNT")
    }
}

/// What one `op user recovery begin` call did, per person (by ID).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Recovery began, with the state `op` reported.
    pub began: HashMap<UserId, UserState>,
    /// `op` said why it could not.
    pub failed: HashMap<UserId, String>,
    /// Said of everyone `op` mentioned neither way (it crashed, timed out, printed nonsense).
    pub unknown: Option<String>,
}

/// What op says when a command needs a session and has none that works: without one, and for one
/// that has ended (op 2's words, as public wrappers of it match them; 1Password does not document
/// them). Matched loosely: a command that failed for this did nothing, so signing in again and
/// running it once more is safe.
const SESSION_ENDED: [&str; 5] = [
    "not currently signed in",
    "session expired",
    "sign in to create a new session",
    "account is not signed in",
    "could not find session token",
];

/// Whether op failed because its session has ended, not for what it was asked.
pub fn session_ended(stderr: &str) -> bool {
    let said = stderr.to_lowercase();
    SESSION_ENDED.iter().any(|words| said.contains(words))
}

/// op's messages without their `[ERROR] <date> <time>` prefix, on one line.
pub fn said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|line| {
            let line = line.trim();
            match line.strip_prefix("[ERROR]") {
                // `[ERROR] 2026/11/22 20:00:00 message`
                Some(rest) => rest.trim().splitn(3, ' ').nth(2).unwrap_or(rest).trim(),
                None => line,
            }
        })
        .filter(|line| !line.is_empty())
        .collect();
    match lines.is_empty() {
        true => "nothing".to_owned(),
        false => lines.join(" "),
    }
}

/// `2.32.0`, `2.32.1-beta.01` → (2, 32, 1).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let core = text.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Match `op user recovery begin`'s output to the people asked for.
pub fn read_outcome(ids: &[UserId], stdout: &str, stderr: &str, success: bool) -> Outcome {
    let mut outcome = Outcome::default();
    let stdout = stdout.trim();
    let listed: Result<Vec<OpUser>, _> = if stdout.is_empty() {
        Ok(Vec::new())
    } else {
        serde_json::from_str(stdout)
    };
    match listed {
        Ok(users) => {
            for user in users {
                if let Some(id) = ids.iter().find(|id| id.as_str() == user.id) {
                    let state = match user.state() {
                        UserState::Unknown => UserState::RecoveryStarted,
                        state => state,
                    };
                    outcome.began.insert(id.clone(), state);
                }
            }
        }
        Err(err) => {
            outcome.unknown = Some(format!("op's output could not be read ({err})"));
        }
    }
    for line in stderr.lines() {
        let Some(rest) = line.trim().strip_prefix("[ERROR]") else {
            continue;
        };
        // `[ERROR] 2026/11/22 20:00:00 "<user>": <reason>`
        let Some((_, quoted)) = rest.split_once('"') else {
            continue;
        };
        let Some((name, reason)) = quoted.split_once("\":") else {
            continue;
        };
        if let Some(id) = ids.iter().find(|id| id.as_str() == name) {
            outcome.failed.insert(id.clone(), reason.trim().to_owned());
        }
    }
    let accounted = outcome.began.len() + outcome.failed.len();
    if outcome.unknown.is_none() && accounted < ids.len() {
        outcome.unknown = Some(if success {
            "op did not mention them".to_owned()
        } else if stderr.trim().is_empty() {
            "op failed without saying why".to_owned()
        } else {
            format!("op failed: {}", said(stderr))
        });
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: char) -> UserId {
        UserId::parse(&n.to_string().repeat(26)).unwrap()
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.32.0\n"), Some((2, 32, 0)));
        assert_eq!(parse_version("2.32.1-beta.01"), Some((2, 32, 1)));
        assert_eq!(parse_version("2.4"), Some((2, 4, 0)));
        assert_eq!(parse_version("op"), None);
    }

    #[test]
    fn outcomes_per_person() {
        let ids = [id('A'), id('B'), id('C')];
        let stdout = format!(r#"[{{"id":"{}","state":"RECOVERY_STARTED"}}]"#, ids[0]);
        let stderr = format!(
            "[ERROR] 2026/11/22 20:00:00 \"{}\": the user is suspended\n",
            ids[1]
        );
        let outcome = read_outcome(&ids, &stdout, &stderr, false);
        assert_eq!(outcome.began[&ids[0]], UserState::RecoveryStarted);
        assert_eq!(outcome.failed[&ids[1]], "the user is suspended");
        assert!(outcome.unknown.unwrap().contains("the user is suspended"));

        let garbage = read_outcome(&ids, "not json", "", true);
        assert!(garbage.began.is_empty());
        assert!(garbage.unknown.unwrap().contains("could not be read"));
    }

    #[test]
    fn an_ended_session_is_told_from_a_refusal() {
        let expired =
            "[ERROR] 2026/12/07 10:00:00 session expired, sign in to create a new session\n";
        assert!(session_ended(expired));
        assert!(session_ended(
            "[ERROR] 2026/12/07 10:00:00 You are not currently signed in. Please run `op signin --help` for instructions"
        ));
        assert!(!session_ended(
            "[ERROR] 2026/12/07 10:00:00 \"a@example.com\": the user is suspended"
        ));
        assert_eq!(
            said(expired),
            "session expired, sign in to create a new session"
        );
        assert_eq!(said(""), "nothing");
    }
}
