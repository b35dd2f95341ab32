//! Account recovery in the embedded directory: begin (all or nothing), the person's single-use
//! link, accepting it with a new password and Secret Key, and completing.
//!
//! Functions take `now` so expiry is decided by the caller's clock, and tests choose it.

use std::time::{Duration, SystemTime};

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use keydesk_api::{MIN_PASSWORD_CHARS, RecoveryLinkInfo, User, UserId, UserMethod, UserState};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::{
    Context, text,
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

fn hash_token(token: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// A Secret Key in 1Password's shape: `A3-` then 34 characters in groups of 6, 6, 5, 5, 5, 5, 5,
/// from an alphabet without look-alikes (no 0/O, 1/I/L, U).
pub fn new_secret_key() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    let mut key = String::from("A3");
    for group in [6, 6, 5, 5, 5, 5, 5] {
        key.push('-');
        for _ in 0..group {
            key.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
        }
    }
    key
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
/// The caller holds the write lock (and commits).
pub fn begin(
    tx: &Transaction,
    context: &Context,
    actor_email: &str,
    names: &[String],
    now: SystemTime,
) -> Result<Vec<User>, DirectoryError> {
    let chosen = choose(tx, context, actor_email, names)?;
    let stamp = rfc3339(now);
    let mut started = Vec::with_capacity(chosen.len());
    for user in chosen {
        // Beginning again for someone already in RECOVERY_STARTED changes nothing.
        if user.state == UserState::Active {
            tx.execute(
                "UPDATE users SET state = 'RECOVERY_STARTED', recovery_started_time = ?1,
                        update_time = ?1
                 WHERE id = ?2",
                params![stamp, user.id.as_str()],
            )?;
            issue_link(tx, context, &user, now)?;
        }
        started.push(load_user(tx, &context.account, &user.id)?);
    }
    Ok(started)
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
                    "{} is {}, and only an ACTIVE person can begin recovery",
                    describe(&user),
                    user.state
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
            user.state
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

/// Store a new link (only its hash) and queue the email that carries it.
pub fn issue_link(
    tx: &Transaction,
    context: &Context,
    user: &User,
    now: SystemTime,
) -> Result<(), DirectoryError> {
    let settings = &context.recovery;
    let token = BASE64URL_NOPAD.encode(&rand::random::<[u8; 32]>());
    let expire_time = rfc3339(now + settings.link_ttl);
    tx.execute(
        "INSERT INTO recovery_links (token_hash, user_id, create_time, expire_time)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            hash_token(&token),
            user.id.as_str(),
            rfc3339(now),
            expire_time
        ],
    )?;
    // The token travels in the fragment: browsers never send it to a server or a proxy log.
    let link = format!(
        "{}/recover#{token}",
        settings.public_url.trim_end_matches('/')
    );
    let body = format!(
        "Hello {name},\n\n\
         Your helpdesk has begun recovering your 1Password account. Open this link to confirm \
         your email address, receive a new Secret Key and choose a new account password:\n\n\
         {link}\n\n\
         The link works once and expires at {expire_time}. If you did not ask for this, tell \
         your helpdesk.\n",
        name = user.display_name
    );
    tx.execute(
        "INSERT INTO outbox (to_address, subject, body, link, create_time) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user.email, "Recover your 1Password account", body, link, rfc3339(now)],
    )?;
    if settings.smtp_enabled {
        tracing::info!(to = ?user.email, "recovery email queued for SMTP delivery");
    } else {
        tracing::info!(to = ?user.email, %link, "recovery email in the outbox (no SMTP configured)");
    }
    Ok(())
}

/// The link's person, if the link may still be used.
fn usable_link(
    conn: &Connection,
    context: &Context,
    token: &str,
    now: SystemTime,
) -> Result<(String, User), DirectoryError> {
    let link: Option<(String, String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT user_id, expire_time, used_time, revoked_time FROM recovery_links
             WHERE token_hash = ?1",
            [hash_token(token.trim())],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    let Some((user_id, expire_time, used_time, revoked_time)) = link else {
        return Err(DirectoryError::Missing(
            "This recovery link is not valid. Open the whole link from the most recent email, \
             or ask your helpdesk to send a new one."
                .into(),
        ));
    };
    let refuse = |why: &str| {
        Err(DirectoryError::FailedPrecondition(format!(
            "{why} Ask your helpdesk to send a new recovery email."
        )))
    };
    if used_time.is_some() {
        return refuse("This recovery link has already been used.");
    }
    if revoked_time.is_some() {
        return refuse("This recovery link was replaced by a newer one.");
    }
    if expire_time <= rfc3339(now) {
        return refuse(&format!("This recovery link expired at {expire_time}."));
    }
    let id = UserId::parse(&user_id).map_err(|err| DirectoryError::Internal(err.to_string()))?;
    let user = load_user(conn, &context.account, &id)?;
    if user.state != UserState::RecoveryStarted {
        return refuse(&format!(
            "This account is {}: its recovery is no longer open.",
            user.state
        ));
    }
    Ok((expire_time, user))
}

pub fn inspect(
    conn: &Connection,
    context: &Context,
    token: &str,
    now: SystemTime,
) -> Result<RecoveryLinkInfo, DirectoryError> {
    let (expire_time, user) = usable_link(conn, context, token, now)?;
    Ok(RecoveryLinkInfo {
        display_name: user.display_name,
        expire_time,
    })
}

/// Check a new password before anything is stored.
pub fn check_password(password: &str, email: &str) -> Result<(), DirectoryError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(DirectoryError::InvalidArgument(format!(
            "The new password is too short: use at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if chars > 1000 {
        return Err(DirectoryError::InvalidArgument(
            "The new password is too long: use at most 1000 characters.".into(),
        ));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(DirectoryError::InvalidArgument(
            "The new password must not be your email address.".into(),
        ));
    }
    Ok(())
}

/// What accepting stores: the new password's and Secret Key's hashes, and the Secret Key to
/// show the person once.
pub struct Credentials {
    pub password_hash: String,
    pub secret_key_hash: String,
    pub secret_key: String,
}

/// Whether this link, email and password may be accepted, checked before the slow hashing (and
/// again under the write lock by [`accept`]).
pub fn check_acceptable(
    conn: &Connection,
    context: &Context,
    token: &str,
    email: &str,
    password: &str,
    now: SystemTime,
) -> Result<(), DirectoryError> {
    check_password(password, email)?;
    link_for_email(conn, context, token, email, now).map(|_| ())
}

/// The link's person, if the link may be used and the email is theirs.
fn link_for_email(
    conn: &Connection,
    context: &Context,
    token: &str,
    email: &str,
    now: SystemTime,
) -> Result<User, DirectoryError> {
    let (_, user) = usable_link(conn, context, token, now)?;
    if !user.email.eq_ignore_ascii_case(email.trim()) {
        return Err(DirectoryError::InvalidArgument(
            "That is not the email address this recovery link was sent to.".into(),
        ));
    }
    Ok(user)
}

/// The person confirms their email and sets a new password: the link is used up, the new
/// credentials stored, and they are RECOVERY_ACCEPTED. The caller holds the write lock.
pub fn accept(
    tx: &Transaction,
    context: &Context,
    token: &str,
    email: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<UserId, DirectoryError> {
    let user = link_for_email(tx, context, token, email, now)?;
    let stamp = rfc3339(now);
    tx.execute(
        "INSERT INTO credentials (user_id, password_hash, secret_key_hash, update_time)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id) DO UPDATE SET password_hash = ?2, secret_key_hash = ?3, update_time = ?4",
        params![
            user.id.as_str(),
            credentials.password_hash,
            credentials.secret_key_hash,
            stamp
        ],
    )?;
    tx.execute(
        "UPDATE recovery_links SET used_time = ?1 WHERE token_hash = ?2",
        params![stamp, hash_token(token.trim())],
    )?;
    tx.execute(
        "UPDATE users SET state = 'RECOVERY_ACCEPTED', update_time = ?1 WHERE id = ?2",
        params![stamp, user.id.as_str()],
    )?;
    Ok(user.id)
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
                "{} cannot complete recovery: their state is {other}, and only a person in \
                 RECOVERY_ACCEPTED (who has set a new password) can",
                describe(&user)
            )));
        }
    }
    tx.execute(
        "UPDATE users SET state = 'ACTIVE', two_factor_enabled = 0, signed_in_devices = 0,
                recovery_started_time = NULL, recovery_completed_time = ?1, update_time = ?1
         WHERE id = ?2",
        params![rfc3339(now), id.as_str()],
    )?;
    load_user(tx, &context.account, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_have_1passwords_shape() {
        let key = new_secret_key();
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups[0], "A3");
        let lengths: Vec<usize> = groups[1..].iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [6, 6, 5, 5, 5, 5, 5]);
        assert_ne!(new_secret_key(), key);
    }

    #[test]
    fn passwords_are_checked() {
        assert!(check_password("short", "a@b.c").is_err());
        assert!(check_password("a@example.com", "A@example.com").is_err());
        assert!(check_password("correct horse battery", "a@b.c").is_ok());
    }
}
