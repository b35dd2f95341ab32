//! The person's side of a recovery: the single-use link emailed to them (only its hash is
//! stored), looking at it, and accepting it with a new password and a new Secret Key.

use std::time::SystemTime;

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use keydesk_api::{MIN_PASSWORD_CHARS, RecoveryLinkInfo, User, UserId, UserState};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use async_trait::async_trait;
use keydesk_api::OutboxMessage;

use super::{Context, SqliteDirectory, hashing, recovery::rfc3339, users::load_user};
use crate::{
    audit::Attempt,
    directory::{DirectoryError, RecoveryLinks},
};

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
        // The link is a credential: the Outbox page shows it to admins, the log never does.
        tracing::info!(to = ?user.email, "recovery email in the outbox (no SMTP configured)");
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
    // The link first: whoever holds no link learns nothing about the password rules.
    link_for_email(conn, context, token, email, now)?;
    check_password(password, email)
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

/// The person's side of recovery, and the outbox that carries their links.
#[async_trait]
impl RecoveryLinks for SqliteDirectory {
    async fn inspect_link(&self, token: String) -> Result<RecoveryLinkInfo, DirectoryError> {
        self.run(move |conn, context| inspect(conn, context, &token, SystemTime::now()))
            .await
    }

    async fn accept_link(
        &self,
        token: String,
        email: String,
        password: String,
        attempt: &Attempt,
    ) -> Result<(UserId, String), DirectoryError> {
        // Anyone can call this: the link and the email are checked cheaply before the slow
        // hashing, so forged tokens cost nothing, and hashing waits its turn.
        let (checked_token, checked_email) = (token.clone(), email.clone());
        let checked_password = password.clone();
        self.run(move |conn, context| {
            check_acceptable(
                conn,
                context,
                &checked_token,
                &checked_email,
                &checked_password,
                SystemTime::now(),
            )
        })
        .await?;
        let hasher = self.hashing.get_or_init(hashing::Hasher::start);
        let secret_key = new_secret_key();
        let credentials = Credentials {
            password_hash: hasher.hash(password).await?,
            secret_key_hash: hasher.hash(secret_key.clone()).await?,
            secret_key,
        };
        self.change(attempt, move |tx, context, now| {
            let id = accept(tx, context, &token, &email, &credentials, now)?;
            let targets = vec![id.to_string()];
            Ok(((id, credentials.secret_key), targets))
        })
        .await
    }

    async fn outbox(&self) -> Result<Vec<OutboxMessage>, DirectoryError> {
        self.run(|conn, _| {
            let mut statement = conn.prepare_cached(
                "SELECT id, to_address, subject, body, link, create_time, sent_time
                 FROM outbox ORDER BY id DESC LIMIT 200",
            )?;
            let messages = statement
                .query_map([], |row| {
                    Ok(OutboxMessage {
                        id: row.get(0)?,
                        to: row.get(1)?,
                        subject: row.get(2)?,
                        body: row.get(3)?,
                        link: row.get(4)?,
                        create_time: row.get(5)?,
                        sent_time: row.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(messages)
        })
        .await
    }
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
