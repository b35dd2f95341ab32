//! The embedded directory: users in a SQLite file, seeded with a demo on first start. The audit
//! trail lives in the same file, so that every change and its record commit in one transaction.

mod generate;
mod hashing;
mod links;
mod listing;
mod mirror;
mod outbox;
mod page_token;
mod recovery;
mod schema;
mod seed;
mod text;
mod text_index;
mod users;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use keydesk_api::{
    AccountId, AuditOutcome, BeginRecoveryResponse, ListUsersResponse, StateCount, StateCounts,
    User, UserId, UserState,
};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use self::generate::generate_directory;
use self::page_token::PageTokens;
use self::users::{decide_reactivate, decide_suspend, load_user, now};
pub use self::{outbox::QueuedMail, recovery::RecoverySettings};
use super::{Directory, DirectoryError, ListQuery, RecoveryLinks};
use crate::{
    audit::{Attempt, Entry, chain},
    storage::{self, Pool, StorageError},
};

pub struct SqliteDirectory {
    pool: Pool,
    context: Arc<Context>,
    /// Woken when an email is queued, so delivery does not wait for its next round.
    mail_queued: Arc<tokio::sync::Notify>,
    /// Argon2id for new passwords and Secret Keys, with a memory ceiling (see [`hashing`]);
    /// started at the first accept.
    hashing: std::sync::OnceLock<hashing::Hasher>,
}

/// What a blocking task needs besides its connection.
struct Context {
    account: AccountId,
    tokens: PageTokens,
    recovery: RecoverySettings,
    /// What listing and search keep in memory: places, states, search texts, listed users.
    memory: listing::Memory,
    /// The file's name and how long a write waits for another process's lock, for errors.
    file: String,
    lock_timeout: Duration,
}

/// Every connection waits a bounded time for a busy writer (see [`storage`]), and WAL lets
/// readers run while one person's change is written. Connections read the file through one
/// shared memory map rather than each copying pages into its own 2 MB cache: a search reads
/// pages all over a 100 MB file, and through the cache every one of them was a system call.
fn configure(conn: &Connection, lock_timeout: Duration) -> rusqlite::Result<()> {
    storage::configure(conn, lock_timeout, false)?;
    conn.pragma_update(None, "mmap_size", MAP_SIZE)
}

/// How much of the file each connection maps (see [`configure`]).
const MAP_SIZE: i64 = 1 << 30;

/// Run `scan`, which reads the whole users table or one of its indexes, without the memory map:
/// through the map, every page it read (and the kernel's read-ahead around it) would stay
/// resident in this process, at a million people 470 MB counted as Keydesk's memory for each
/// connection that once scanned, when a scan needs each page once.
fn without_map<T>(
    conn: &Connection,
    scan: impl FnOnce(&Connection) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    conn.pragma_update(None, "mmap_size", 0)?;
    let result = scan(conn);
    conn.pragma_update(None, "mmap_size", MAP_SIZE)?;
    result
}

/// Bring the schema (and the audit trail's table, which lives in this file) up to date and give
/// back the page-token key, creating it the first time.
fn prepare(conn: &mut Connection, lock_timeout: Duration) -> Result<Vec<u8>, DirectoryError> {
    configure(conn, lock_timeout)?;
    schema::migrations()
        .to_latest(conn)
        .map_err(|err| DirectoryError::Internal(format!("migrating the database: {err}")))?;
    chain::prepare(conn)?;
    let key: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'page_token_key'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match key {
        Some(key) => key,
        None => {
            let key: [u8; 32] = rand::random();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('page_token_key', ?1)",
                [&key[..]],
            )?;
            key.to_vec()
        }
    })
}

impl SqliteDirectory {
    /// Open (creating and seeding with the demo on first start) the database at `path`.
    pub fn open(
        path: &Path,
        account: AccountId,
        recovery: RecoverySettings,
        lock_timeout: Duration,
    ) -> Result<Self, DirectoryError> {
        Self::open_with(path, account, recovery, lock_timeout, true)
    }

    /// Open (creating, empty) a directory that mirrors another one, as the upstream connector's
    /// snapshot: search, filters, sorting and page tokens work over it exactly as they do over
    /// the embedded directory. [`SqliteDirectory::mirror_all`] and [`SqliteDirectory::mirror_one`]
    /// keep it up to date.
    pub fn open_mirror(
        path: &Path,
        account: AccountId,
        lock_timeout: Duration,
    ) -> Result<Self, DirectoryError> {
        let recovery = RecoverySettings {
            link_ttl: Duration::ZERO,
            public_url: String::new(),
            smtp_enabled: false,
        };
        Self::open_with(path, account, recovery, lock_timeout, false)
    }

    fn open_with(
        path: &Path,
        account: AccountId,
        recovery: RecoverySettings,
        lock_timeout: Duration,
        seed_demo: bool,
    ) -> Result<Self, DirectoryError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| {
                DirectoryError::Internal(format!("creating {}: {err}", dir.display()))
            })?;
        }
        let file = storage::file_name(path);
        let in_file = |err| in_file(err, &file, lock_timeout);
        let mut conn = Connection::open(path)
            .map_err(DirectoryError::from)
            .map_err(in_file)?;
        let key = prepare(&mut conn, lock_timeout).map_err(in_file)?;
        let context = Arc::new(Context {
            account,
            tokens: PageTokens::new(key),
            recovery,
            memory: listing::Memory::default(),
            file: file.clone(),
            lock_timeout,
        });
        let seeded: bool = conn
            .query_row("SELECT 1 FROM meta WHERE key = 'seeded'", [], |_| Ok(()))
            .optional()
            .map_err(DirectoryError::from)
            .map_err(in_file)?
            .is_some();
        if !seeded && !seed_demo {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seeded', 'mirror')",
                [],
            )
            .map_err(DirectoryError::from)
            .map_err(in_file)?;
        } else if !seeded {
            generate::seed_demo(&mut conn, &context).map_err(in_file)?;
            tracing::info!(path = %path.display(), "created the embedded directory with demo users");
        }
        drop(conn);
        let manager = SqliteConnectionManager::file(path)
            .with_init(move |conn| configure(conn, lock_timeout));
        let pool = storage::pool(manager, 8, lock_timeout).map_err(|err| {
            DirectoryError::Storage(StorageError::from_pool(&err, &file, lock_timeout))
        })?;
        let (warm_pool, warm_context) = (pool.clone(), context.clone());
        std::thread::spawn(move || {
            let warmed = match warm_pool.get() {
                Ok(conn) => listing::warm(&conn, &warm_context.memory),
                Err(err) => Err(DirectoryError::Internal(err.to_string())),
            };
            if let Err(err) = warmed {
                tracing::warn!(%err, "could not prepare search in advance; the first search will");
            }
        });
        Ok(SqliteDirectory {
            pool,
            context,
            mail_queued: Arc::new(tokio::sync::Notify::new()),
            hashing: std::sync::OnceLock::new(),
        })
    }

    /// Run blocking database work off the async threads. SQLite's errors come back named by
    /// the file and what they mean (locked, full, …).
    async fn run<T, F>(&self, work: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Context) -> Result<T, DirectoryError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let context = self.context.clone();
        tokio::task::spawn_blocking(move || {
            let (file, lock_timeout) = (&context.file, context.lock_timeout);
            let mut conn = pool.get().map_err(|err| {
                DirectoryError::Storage(StorageError::from_pool(&err, file, lock_timeout))
            })?;
            work(&mut conn, &context).map_err(|err| in_file(err, file, lock_timeout))
        })
        .await
        .map_err(|err| DirectoryError::Internal(format!("database task failed: {err}")))?
    }

    /// Run a change in one write transaction with the record of its success: `work` makes the
    /// change and says whom it concerned; both commit together, or neither does.
    async fn change<T, F>(&self, attempt: &Attempt, work: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction, &Context, SystemTime) -> Result<(T, Vec<String>), DirectoryError>
            + Send
            + 'static,
    {
        let record = attempt.entry(Vec::new(), AuditOutcome::Succeeded, String::new());
        let result = self
            .run(move |conn, context| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = SystemTime::now();
                let (value, targets) = work(&tx, context, now)?;
                chain::append(&tx, Entry { targets, ..record }, now)?;
                tx.commit()?;
                Ok(value)
            })
            .await;
        if result.is_ok() {
            attempt.mark_recorded();
        }
        result
    }

    /// Change one user's state if `decide` allows it (nothing to do: idempotent), under the
    /// write lock so that the check and the change see the same row even when two admins act
    /// at once.
    async fn transition(
        &self,
        id: &UserId,
        attempt: &Attempt,
        decide: fn(&User, &Transaction) -> Result<Option<UserState>, DirectoryError>,
    ) -> Result<User, DirectoryError> {
        let id = id.clone();
        self.change(attempt, move |tx, context, _| {
            let user = load_user(tx, &context.account, &id)?;
            if let Some(next) = decide(&user, tx)? {
                // Any later change ends "just completed" (see `recovery::complete`): times are
                // whole seconds, so comparing them alone cannot tell a change from a completion.
                // A suspension signs the person out of every device, as 1Password's does.
                tx.execute(
                    "UPDATE users SET state = ?1, update_time = ?2, recovery_completed_time = NULL,
                         signed_in_devices = CASE WHEN ?1 = 'SUSPENDED' THEN 0
                                                  ELSE signed_in_devices END
                     WHERE id = ?3",
                    params![next.as_str(), now(), id.as_str()],
                )?;
            }
            let user = load_user(tx, &context.account, &id)?;
            Ok((user, vec![id.to_string()]))
        })
        .await
    }
}

/// A SQLite error, named by the file it came from and what it means.
fn in_file(err: DirectoryError, file: &str, lock_timeout: Duration) -> DirectoryError {
    match err {
        DirectoryError::Sqlite(err) => {
            DirectoryError::Storage(StorageError::from_sqlite(&err, file, lock_timeout))
        }
        other => other,
    }
}

#[async_trait]
impl Directory for SqliteDirectory {
    fn kind(&self) -> keydesk_api::DirectoryKind {
        keydesk_api::DirectoryKind::Embedded
    }

    async fn list_users(&self, query: ListQuery) -> Result<ListUsersResponse, DirectoryError> {
        self.run(move |conn, context| listing::list(conn, context, &query))
            .await
    }

    async fn get_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        let id = id.clone();
        self.run(move |conn, context| load_user(conn, &context.account, &id))
            .await
    }

    async fn suspend_user(&self, id: &UserId, attempt: &Attempt) -> Result<User, DirectoryError> {
        self.transition(id, attempt, decide_suspend).await
    }

    async fn reactivate_user(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        self.transition(id, attempt, decide_reactivate).await
    }

    async fn begin_recovery(
        &self,
        names: Vec<String>,
        attempt: &Attempt,
    ) -> Result<BeginRecoveryResponse, DirectoryError> {
        let actor_email = attempt.actor_email.clone();
        let (users, emailed) = self
            .change(attempt, move |tx, context, now| {
                let began = recovery::begin(tx, context, &actor_email, &names, now)?;
                let ids = began.0.iter().map(|u| u.id.to_string()).collect();
                Ok((began, ids))
            })
            .await?;
        self.mail_queued.notify_one();
        Ok(BeginRecoveryResponse {
            users,
            emailed,
            failures: Vec::new(),
        })
    }

    async fn resend_recovery(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        let id = id.clone();
        let user = self
            .change(attempt, move |tx, context, now| {
                let user = recovery::resend(tx, context, &id, now)?;
                Ok((user, vec![id.to_string()]))
            })
            .await?;
        self.mail_queued.notify_one();
        Ok(user)
    }

    async fn complete_recovery(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        let id = id.clone();
        self.change(attempt, move |tx, context, now| {
            let user = recovery::complete(tx, context, &id, now)?;
            Ok((user, vec![id.to_string()]))
        })
        .await
    }

    async fn state_counts(&self) -> Result<StateCounts, DirectoryError> {
        self.run(|conn, _| {
            let mut statement = conn.prepare_cached(
                "SELECT state, count FROM user_state_counts WHERE count > 0 ORDER BY state",
            )?;
            let counts = statement
                .query_map([], |row| {
                    Ok(StateCount {
                        state: UserState::parse(row.get_ref(0)?.as_str()?),
                        count: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let active_owners: i64 = conn
                .prepare_cached(users::ACTIVE_OWNERS)?
                .query_row([], |row| row.get(0))?;
            Ok(StateCounts {
                counts,
                active_owners: Some(active_owners.try_into().unwrap_or(0)),
            })
        })
        .await
    }

    fn recovery_links(&self) -> Option<&dyn RecoveryLinks> {
        Some(self)
    }
}
