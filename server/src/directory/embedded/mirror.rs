//! Keeping a mirror (the upstream connector's snapshot) the same as the directory it mirrors.

use keydesk_api::{Role, User, UserType};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{SqliteDirectory, recovery, text, users::search_key};
use crate::directory::DirectoryError;

/// How many people [`SqliteDirectory::mirror_all`] writes in one transaction.
const MIRROR_CHUNK: usize = 1000;

impl SqliteDirectory {
    /// Make the mirror hold exactly `users`, and remember when they were read. Rows that did not
    /// change are not rewritten, so what search keeps in memory survives a refresh that changed nothing.
    ///
    /// Written a thousand people at a time, each their own transaction: at 100,000 people the
    /// whole reading takes seconds to write, and one of Keydesk's own changes, whose answer goes
    /// into the mirror too, waits for one chunk instead of all of it.
    pub async fn mirror_all(
        &self,
        users: Vec<User>,
        read_at: String,
    ) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            // A temporary table is the connection's own: every chunk is written through `conn`.
            conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS mirrored (id TEXT PRIMARY KEY); DELETE FROM mirrored;")?;
            for chunk in users.chunks(MIRROR_CHUNK) {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for user in chunk {
                    upsert_mirrored(&tx, user)?;
                    tx.execute("INSERT OR IGNORE INTO mirrored (id) VALUES (?1)", [user.id.as_str()])?;
                }
                tx.commit()?;
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM users WHERE id NOT IN (SELECT id FROM mirrored)", [])?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('mirror_time', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&read_at],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Put one user, as the mirrored directory just answered, into the mirror.
    pub async fn mirror_one(&self, user: User) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            upsert_mirrored(&tx, &user)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// When the mirror was last read whole, if ever (RFC 3339).
    pub async fn mirror_time(&self) -> Result<Option<String>, DirectoryError> {
        self.run(|conn, _| {
            Ok(conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'mirror_time'",
                    [],
                    |row| row.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// The people `names` mean, if recovery may begin for every one of them (see
    /// [`Directory::begin_recovery`]); nothing is changed.
    pub async fn choose_for_recovery(
        &self,
        actor_email: &str,
        names: Vec<String>,
    ) -> Result<Vec<User>, DirectoryError> {
        let actor_email = actor_email.to_owned();
        self.run(move |conn, context| {
            let tx = conn.transaction()?;
            recovery::choose(&tx, context, &actor_email, &names)
        })
        .await
    }
}

/// Insert or update one mirrored user. What the mirrored directory does not say (type, role)
/// is stored as MEMBER for the indexes; the connector hands out the user as it was received.
fn upsert_mirrored(tx: &rusqlite::Transaction, user: &User) -> rusqlite::Result<()> {
    let name_key = text::fold(&user.display_name);
    let search_key = search_key(&name_key, &user.email, user.id.as_str());
    let update_time = user.update_time.as_deref().unwrap_or(&user.create_time);
    // Email addresses are unique: someone who took over an address another person had in the
    // previous snapshot replaces them.
    tx.execute(
        "DELETE FROM users WHERE email = ?1 AND id != ?2",
        params![user.email, user.id.as_str()],
    )?;
    tx.execute(
        "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                            update_time, name_key, email_key, search_key, recovery_started_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET
             email = excluded.email, display_name = excluded.display_name,
             state = excluded.state, user_type = excluded.user_type, role = excluded.role,
             create_time = excluded.create_time, update_time = excluded.update_time,
             name_key = excluded.name_key, email_key = excluded.email_key,
             search_key = excluded.search_key,
             recovery_started_time = excluded.recovery_started_time
         WHERE (email, display_name, state, user_type, role, create_time, update_time,
                recovery_started_time)
               IS NOT (excluded.email, excluded.display_name, excluded.state, excluded.user_type,
                       excluded.role, excluded.create_time, excluded.update_time,
                       excluded.recovery_started_time)",
        params![
            user.id.as_str(),
            user.email,
            user.display_name,
            user.state.as_str(),
            user.user_type
                .as_ref()
                .unwrap_or(&UserType::Member)
                .as_str(),
            user.role.as_ref().unwrap_or(&Role::Member).as_str(),
            user.create_time,
            update_time,
            name_key,
            user.email.to_lowercase(),
            search_key,
            user.recovery_started_time,
        ],
    )?;
    Ok(())
}
