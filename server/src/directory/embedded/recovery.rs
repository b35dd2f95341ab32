//! Account recovery in the embedded directory, as helpdesk admins run it: begin (all or nothing),
//! send the link again, complete. The person's side of the link is in [`super::links`].
//!
//! Functions take `now` so expiry is decided by the caller's clock, and tests choose it.

use std::time::{Duration, SystemTime};

use keydesk_api::{User, UserId, UserMethod, UserState};
use rusqlite::{Transaction, params};

use super::{
    Context,
    links::issue_link,
    text,
    users::{USER_COLUMNS, describe, load_user, row_to_user},
};
use crate::directory::DirectoryError;

/// How recovery links are made.
#[derive(Clone, Debug)]
pub struct RecoverySettings {
    /// How long a link works.
    pub link_ttl: Duration,
    /// The address people reach Keydesk at, for the link in the email.
    pub public_url: String,
    /// Whether emails leave by SMTP. Without it they stay in the outbox, which the page shows and
    /// the log mentions, so the demo can be followed by clicking.
    pub smtp_enabled: bool,
}

pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Everyone a name could mean: an ID, an email (any case), or a display name (any case, any
/// accents).
fn resolve(tx: &Transaction, context: &Context, name: &str) -> Result<Vec<User>, DirectoryError> {
    let (column, key) = if UserId::parse(name).is_ok() {
        ("id", name.to_owned())
    } else if name.contains('@') {
        ("email_key", name.to_lowercase())
    } else {
        ("name_key", text::fold(name))
    };
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1 ORDER BY email_key"
    ))?;
    let users = statement
        .query_map([key], |row| row_to_user(&context.account, row))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(users)
}

/// Begin recovery for everyone named, or for nobody: every offending name is reported at once.
/// The caller holds the write lock (and commits). Answers everyone, and whom an email went to.
pub fn begin(
    tx: &Transaction,
    context: &Context,
    actor_email: &str,
    names: &[String],
    now: SystemTime,
) -> Result<(Vec<User>, Vec<UserId>), DirectoryError> {
    let chosen = choose(tx, context, actor_email, names)?;
    let stamp = rfc3339(now);
    let mut started = Vec::with_capacity(chosen.len());
    let mut emailed = Vec::new();
    for user in chosen {
        // Beginning again for someone already in RECOVERY_STARTED changes nothing, and sends no
        // email: resending does.
        if user.state == UserState::Active {
            emailed.push(user.id.clone());
            tx.execute(
                "UPDATE users SET state = 'RECOVERY_STARTED', recovery_started_time = ?1,
                        update_time = ?1, recovery_started_by = ?3
                 WHERE id = ?2",
                params![stamp, user.id.as_str(), actor_email],
            )?;
            issue_link(tx, context, &user, now)?;
        }
        started.push(load_user(tx, &context.account, &user.id)?);
    }
    Ok((started, emailed))
}

/// The people the names mean, in order, if recovery may begin for every one of them; otherwise
/// an error listing every offending name at once.
pub fn choose(
    tx: &Transaction,
    context: &Context,
    actor_email: &str,
    names: &[String],
) -> Result<Vec<User>, DirectoryError> {
    let mut chosen: Vec<(String, User)> = Vec::new();
    let mut problems: Vec<(Problem, String)> = Vec::new();
    for raw in names {
        let name = raw.trim();
        if name.is_empty() {
            problems.push((Problem::Malformed, "an empty name".to_owned()));
            continue;
        }
        if name.chars().any(char::is_control) {
            problems.push((
                Problem::Malformed,
                "a name with a control character in it".to_owned(),
            ));
            continue;
        }
        let mut matches = resolve(tx, context, name)?;
        let user = match matches.len() {
            0 => {
                problems.push((Problem::Nobody, format!("'{name}' matches nobody")));
                continue;
            }
            1 => matches.remove(0),
            n => {
                let emails: Vec<&str> = matches.iter().map(|u| u.email.as_str()).collect();
                problems.push((
                    Problem::Malformed,
                    format!(
                        "'{name}' matches {n} people ({}): name them by email",
                        emails.join(", ")
                    ),
                ));
                continue;
            }
        };
        if let Some((earlier, _)) = chosen.iter().find(|(_, u)| u.id == user.id) {
            problems.push((
                Problem::Malformed,
                format!(
                    "'{earlier}' and '{name}' are the same person, {}",
                    user.email
                ),
            ));
            continue;
        }
        if user.email.eq_ignore_ascii_case(actor_email) {
            problems.push((
                Problem::OwnAccount,
                format!(
                    "{} is your own account, and nobody may recover their own account",
                    describe(&user)
                ),
            ));
        } else if !keydesk_api::recovery_may_begin_from(&user.state) {
            problems.push((
                Problem::State,
                format!(
                    "{} is {}, and recovery begins only for someone Active",
                    describe(&user),
                    user.state.label()
                ),
            ));
        }
        chosen.push((name.to_owned(), user));
    }
    // The answer is the gravest kind of problem (the request's fault before the directory's
    // state); the message names every one.
    if let Some(worst) = problems.iter().map(|(kind, _)| *kind).min() {
        let each: Vec<String> = problems.into_iter().map(|(_, text)| text).collect();
        let message = format!("Recovery was not begun for anyone: {}.", each.join("; "));
        return Err(match worst {
            Problem::Malformed => DirectoryError::InvalidArgument(message),
            Problem::Nobody => DirectoryError::Missing(message),
            Problem::OwnAccount => DirectoryError::Refused(message),
            Problem::State => DirectoryError::FailedPrecondition(message),
        });
    }
    Ok(chosen.into_iter().map(|(_, user)| user).collect())
}

/// What is wrong with one name given to begin recovery, gravest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    /// Empty, ambiguous, or the same person twice: 400.
    Malformed,
    /// Nobody by that name: 404.
    Nobody,
    /// The caller's own account: 403.
    OwnAccount,
    /// Someone whose state does not allow it: 409.
    State,
}

/// A new link for someone in RECOVERY_STARTED; every earlier link stops working.
pub fn resend(
    tx: &Transaction,
    context: &Context,
    id: &UserId,
    now: SystemTime,
) -> Result<User, DirectoryError> {
    let user = load_user(tx, &context.account, id)?;
    if !UserMethod::ResendRecovery.allowed_from(&user.state) {
        return Err(DirectoryError::FailedPrecondition(format!(
            "{} is {}: a recovery email can only be sent again while recovery is started",
            describe(&user),
            user.state.label()
        )));
    }
    tx.execute(
        "UPDATE recovery_links SET revoked_time = ?1
         WHERE user_id = ?2 AND used_time IS NULL AND revoked_time IS NULL",
        params![rfc3339(now), id.as_str()],
    )?;
    issue_link(tx, context, &user, now)?;
    Ok(user)
}

/// RECOVERY_ACCEPTED to ACTIVE: two-factor authentication is reset and every device signed out.
pub fn complete(
    tx: &Transaction,
    context: &Context,
    id: &UserId,
    now: SystemTime,
) -> Result<User, DirectoryError> {
    let user = load_user(tx, &context.account, id)?;
    let just_completed: bool = tx.query_row(
        "SELECT recovery_completed_time IS NOT NULL AND recovery_completed_time = update_time
         FROM users WHERE id = ?1",
        [id.as_str()],
        |row| row.get(0),
    )?;
    match user.state {
        UserState::RecoveryAccepted => {}
        UserState::Active if just_completed => return Ok(user),
        ref other => {
            return Err(DirectoryError::FailedPrecondition(format!(
                "{} cannot complete recovery: their state is {}, and only a person in \
                 Recovery accepted (who has set a new password) can",
                describe(&user),
                other.label()
            )));
        }
    }
    tx.execute(
        "UPDATE users SET state = 'ACTIVE', two_factor_enabled = 0, signed_in_devices = 0,
                recovery_started_time = NULL, recovery_started_by = NULL,
                recovery_completed_time = ?1, update_time = ?1
         WHERE id = ?2",
        params![rfc3339(now), id.as_str()],
    )?;
    load_user(tx, &context.account, id)
}
