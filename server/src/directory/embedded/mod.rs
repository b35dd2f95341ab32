//! The embedded directory: users in a SQLite file, seeded with a demo on first start.

mod listing;
mod page_token;
mod recovery;
mod schema;
mod seed;
mod text;
mod text_index;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use async_trait::async_trait;
use keydesk_api::{
    AccountId, BeginRecoveryResponse, ListUsersResponse, OrderField, OutboxMessage,
    RecoveryLinkInfo, Role, StateCount, StateCounts, User, UserId, UserState, UserType,
    user_resource_name,
};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use self::page_token::PageTokens;
pub use self::recovery::RecoverySettings;
use self::seed::NewUser;
use super::{Directory, DirectoryError, ListQuery, RecoveryLinks};
use crate::Config;

type Pool = r2d2::Pool<SqliteConnectionManager>;

pub struct SqliteDirectory {
    pool: Pool,
    context: Arc<Context>,
    /// Woken when an email is queued, so delivery does not wait for its next round.
    mail_queued: Arc<tokio::sync::Notify>,
}

impl From<rusqlite::Error> for DirectoryError {
    fn from(err: rusqlite::Error) -> Self {
        DirectoryError::Internal(format!("database: {err}"))
    }
}

impl From<r2d2::Error> for DirectoryError {
    fn from(err: r2d2::Error) -> Self {
        DirectoryError::Unavailable(format!("database pool: {err}"))
    }
}

/// Every connection waits for a busy writer instead of failing, and WAL lets readers run while
/// one person's change is written. Connections read the file through one shared memory map
/// rather than each copying pages into its own 2 MB cache: a search reads pages all over a
/// 100 MB file, and through the cache every one of them was a system call.
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA synchronous = NORMAL;
         PRAGMA mmap_size = 1073741824;",
    )
}

/// Bring the schema up to date and give back the page-token key, creating it the first time.
fn prepare(conn: &mut Connection) -> Result<Vec<u8>, DirectoryError> {
    configure(conn)?;
    schema::migrations()
        .to_latest(conn)
        .map_err(|err| DirectoryError::Internal(format!("migrating the database: {err}")))?;
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

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The text search matches: the folded name, the folded email, the ID.
fn search_key(name_key: &str, email: &str, id: &str) -> String {
    format!("{name_key}\n{}\n{}", text::fold(email), id.to_lowercase())
}

fn insert_users(conn: &mut Connection, users: &[NewUser]) -> rusqlite::Result<()> {
    // Seeded recoveries look recent: they began two days before the directory was made.
    let recovery_seeded = humantime::format_rfc3339_seconds(
        SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600),
    )
    .to_string();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                                update_time, name_key, email_key, search_key,
                                recovery_started_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10,
                     CASE WHEN ?4 IN ('RECOVERY_STARTED', 'RECOVERY_ACCEPTED') THEN ?11 END)",
        )?;
        for user in users {
            let id = seed::id_for(&user.email);
            let name_key = text::fold(&user.display_name);
            let email_key = user.email.to_lowercase();
            let search_key = search_key(&name_key, &user.email, &id);
            insert.execute(params![
                id,
                user.email,
                user.display_name,
                user.state.as_str(),
                user.user_type.as_str(),
                user.role.as_str(),
                user.create_time,
                name_key,
                email_key,
                search_key,
                recovery_seeded,
            ])?;
        }
    }
    tx.commit()
}

/// `keydesk-server generate`: a fresh database file with `count` generated users.
pub fn generate_directory(config: &Config, count: u32) -> Result<PathBuf, DirectoryError> {
    let path = config.database_path();
    std::fs::create_dir_all(&config.data_dir).map_err(|err| {
        DirectoryError::Internal(format!("creating {}: {err}", config.data_dir.display()))
    })?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file).map_err(|err| {
                DirectoryError::Internal(format!("removing {}: {err}", file.display()))
            })?;
        }
    }
    let mut conn = Connection::open(&path)?;
    // A new file that nobody else has open: if this stops halfway, it is run again. So no
    // journal (each page is written once, not to the WAL and then the file), and the whole file
    // fits in the page cache.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA cache_size = -524288;",
    )?;
    let migrations = schema::migrations();
    let migrate = |conn: &mut Connection, to: Option<usize>| {
        match to {
            Some(version) => migrations.to_version(conn, version),
            None => migrations.to_latest(conn),
        }
        .map_err(|err| DirectoryError::Internal(format!("migrating the database: {err}")))
    };
    // Everyone goes in before the search index and the later indexes exist: building those over
    // 100,000 rows at once takes about half the time that keeping them up to date row by row does
    // (8 s against 15 s, measured).
    migrate(&mut conn, Some(schema::GENERATE_BEFORE))?;
    insert_users(&mut conn, &seed::generated_users(count))?;
    migrate(&mut conn, None)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('seeded', 'generated')",
        [],
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(path)
}

const USER_COLUMNS: &str = "id, email, display_name, state, user_type, role, create_time, \
     update_time, recovery_started_time, two_factor_enabled, signed_in_devices";

impl SqliteDirectory {
    /// Open (creating and seeding with the demo on first start) the database at `path`.
    pub fn open(
        path: &Path,
        account: AccountId,
        recovery: RecoverySettings,
    ) -> Result<Self, DirectoryError> {
        Self::open_with(path, account, recovery, true)
    }

    /// Open (creating, empty) a directory that mirrors another one, as the upstream connector's
    /// snapshot: search, filters, sorting and page tokens work over it exactly as they do over
    /// the embedded directory. [`SqliteDirectory::mirror_all`] and [`SqliteDirectory::mirror_one`]
    /// keep it up to date.
    pub fn open_mirror(path: &Path, account: AccountId) -> Result<Self, DirectoryError> {
        let recovery = RecoverySettings {
            link_ttl: std::time::Duration::ZERO,
            public_url: String::new(),
            smtp_enabled: false,
        };
        Self::open_with(path, account, recovery, false)
    }

    fn open_with(
        path: &Path,
        account: AccountId,
        recovery: RecoverySettings,
        seed_demo: bool,
    ) -> Result<Self, DirectoryError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| {
                DirectoryError::Internal(format!("creating {}: {err}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path)?;
        let key = prepare(&mut conn)?;
        let seeded: bool = conn
            .query_row("SELECT 1 FROM meta WHERE key = 'seeded'", [], |_| Ok(()))
            .optional()?
            .is_some();
        if !seeded && !seed_demo {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seeded', 'mirror')",
                [],
            )?;
        } else if !seeded {
            insert_users(&mut conn, &seed::demo_users())?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seeded', 'demo')",
                [],
            )?;
            tracing::info!(path = %path.display(), "created the embedded directory with demo users");
        }
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = r2d2::Pool::builder().max_size(8).build(manager)?;
        let context = Arc::new(Context {
            account,
            tokens: PageTokens::new(key),
            recovery,
            memory: listing::Memory::default(),
        });
        let (warm_pool, warm_context) = (pool.clone(), context.clone());
        std::thread::spawn(move || {
            let warmed = warm_pool
                .get()
                .map_err(DirectoryError::from)
                .and_then(|conn| listing::warm(&conn, &warm_context.memory));
            if let Err(err) = warmed {
                tracing::warn!(%err, "could not prepare search in advance; the first search will");
            }
        });
        Ok(SqliteDirectory {
            pool,
            context,
            mail_queued: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Run blocking database work off the async threads.
    async fn run<T, F>(&self, work: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Context) -> Result<T, DirectoryError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let context = self.context.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn, &context)
        })
        .await
        .map_err(|err| DirectoryError::Internal(format!("database task failed: {err}")))?
    }

    /// Change one user's state inside a write transaction, so that the check and the change see
    /// the same row even when two admins act at once.
    async fn transition(
        &self,
        id: &UserId,
        decide: fn(&User, &rusqlite::Transaction) -> Result<Option<UserState>, DirectoryError>,
    ) -> Result<User, DirectoryError> {
        let id = id.clone();
        self.run(move |conn, context| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let user = load_user(&tx, &context.account, &id)?;
            let Some(next) = decide(&user, &tx)? else {
                return Ok(user); // already there: idempotent
            };
            // Any later change ends "just completed" (see `recovery::complete`): times are
            // whole seconds, so comparing them alone cannot tell a change from a completion.
            tx.execute(
                "UPDATE users SET state = ?1, update_time = ?2, recovery_completed_time = NULL
                 WHERE id = ?3",
                params![next.as_str(), now(), id.as_str()],
            )?;
            let user = load_user(&tx, &context.account, &id)?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }
}

/// Keeping a mirror (the upstream connector's snapshot) the same as the directory it mirrors.
impl SqliteDirectory {
    /// Make the mirror hold exactly `users`, and remember when they were read. Rows that did not
    /// change are not rewritten, so what search keeps in memory survives a refresh that changed nothing.
    pub async fn mirror_all(
        &self,
        users: Vec<User>,
        read_at: String,
    ) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch("CREATE TEMP TABLE IF NOT EXISTS mirrored (id TEXT PRIMARY KEY); DELETE FROM mirrored;")?;
            for user in &users {
                upsert_mirrored(&tx, user)?;
                tx.execute("INSERT OR IGNORE INTO mirrored (id) VALUES (?1)", [user.id.as_str()])?;
            }
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

/// What a blocking task needs besides its connection.
struct Context {
    account: AccountId,
    tokens: PageTokens,
    recovery: RecoverySettings,
    /// What listing and search keep in memory: places, states, search texts, listed users.
    memory: listing::Memory,
}

fn row_to_user(account: &AccountId, row: &rusqlite::Row) -> rusqlite::Result<User> {
    let id = UserId::parse(row.get_ref(0)?.as_str()?).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    })?;
    Ok(User {
        path: user_resource_name(account, &id),
        id,
        email: row.get(1)?,
        display_name: row.get(2)?,
        state: UserState::parse(row.get_ref(3)?.as_str()?),
        user_type: Some(UserType::parse(row.get_ref(4)?.as_str()?)),
        role: Some(Role::parse(row.get_ref(5)?.as_str()?)),
        create_time: row.get(6)?,
        update_time: Some(row.get(7)?),
        recovery_started_time: row.get(8)?,
        two_factor_enabled: Some(row.get(9)?),
        signed_in_devices: Some(row.get(10)?),
    })
}

fn load_user(conn: &Connection, account: &AccountId, id: &UserId) -> Result<User, DirectoryError> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id.as_str()],
        |row| row_to_user(account, row),
    )
    .optional()?
    .ok_or_else(|| DirectoryError::NotFound(id.clone()))
}

fn describe(user: &User) -> String {
    format!("{} <{}>", user.display_name, user.email)
}

fn decide_suspend(
    user: &User,
    tx: &rusqlite::Transaction,
) -> Result<Option<UserState>, DirectoryError> {
    match &user.state {
        UserState::Suspended => Ok(None),
        UserState::Active => {
            if user.role == Some(Role::Owner) {
                let other_owners: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM users WHERE role = 'OWNER' AND state = 'ACTIVE' AND id != ?1",
                    [user.id.as_str()],
                    |row| row.get(0),
                )?;
                if other_owners == 0 {
                    return Err(DirectoryError::FailedPrecondition(format!(
                        "{} is the last active owner of this account and cannot be suspended; \
                         make someone else an owner first",
                        describe(user)
                    )));
                }
            }
            Ok(Some(UserState::Suspended))
        }
        other => Err(DirectoryError::FailedPrecondition(format!(
            "{} cannot be suspended: their state is {other}, and only an ACTIVE user can be suspended",
            describe(user)
        ))),
    }
}

fn decide_reactivate(
    user: &User,
    _tx: &rusqlite::Transaction,
) -> Result<Option<UserState>, DirectoryError> {
    match &user.state {
        UserState::Active => Ok(None),
        UserState::Suspended => Ok(Some(UserState::Active)),
        other => Err(DirectoryError::FailedPrecondition(format!(
            "{} cannot be reactivated: their state is {other}, and only a SUSPENDED user can be reactivated",
            describe(user)
        ))),
    }
}

fn sort_column(field: OrderField) -> &'static str {
    match field {
        OrderField::DisplayName => "name_key",
        OrderField::Email => "email_key",
        OrderField::State => "state",
        OrderField::CreateTime => "create_time",
    }
}

#[async_trait]
impl Directory for SqliteDirectory {
    fn kind(&self) -> &'static str {
        "embedded"
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

    async fn suspend_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        self.transition(id, decide_suspend).await
    }

    async fn reactivate_user(&self, id: &UserId) -> Result<User, DirectoryError> {
        self.transition(id, decide_reactivate).await
    }

    async fn begin_recovery(
        &self,
        actor_email: &str,
        names: Vec<String>,
    ) -> Result<BeginRecoveryResponse, DirectoryError> {
        let actor_email = actor_email.to_owned();
        let users = self
            .run(move |conn, context| {
                recovery::begin(conn, context, &actor_email, &names, SystemTime::now())
            })
            .await?;
        self.mail_queued.notify_one();
        Ok(BeginRecoveryResponse {
            users,
            failures: Vec::new(),
        })
    }

    async fn resend_recovery(&self, id: &UserId) -> Result<User, DirectoryError> {
        let id = id.clone();
        let user = self
            .run(move |conn, context| recovery::resend(conn, context, &id, SystemTime::now()))
            .await?;
        self.mail_queued.notify_one();
        Ok(user)
    }

    async fn complete_recovery(&self, id: &UserId) -> Result<User, DirectoryError> {
        let id = id.clone();
        self.run(move |conn, context| recovery::complete(conn, context, &id, SystemTime::now()))
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
                        state: row.get(0)?,
                        count: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(StateCounts { counts })
        })
        .await
    }

    fn recovery_links(&self) -> Option<&dyn RecoveryLinks> {
        Some(self)
    }
}

#[async_trait]
impl RecoveryLinks for SqliteDirectory {
    async fn inspect_link(&self, token: String) -> Result<RecoveryLinkInfo, DirectoryError> {
        self.run(move |conn, context| recovery::inspect(conn, context, &token, SystemTime::now()))
            .await
    }

    async fn accept_link(
        &self,
        token: String,
        email: String,
        password: String,
    ) -> Result<(UserId, String), DirectoryError> {
        self.run(move |conn, context| {
            recovery::accept(conn, context, &token, &email, &password, SystemTime::now())
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

/// One email waiting for SMTP delivery.
pub struct QueuedMail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The outbox as the SMTP delivery loop sees it.
impl SqliteDirectory {
    /// Wakes when an email is queued.
    pub fn mail_queued(&self) -> Arc<tokio::sync::Notify> {
        self.mail_queued.clone()
    }

    pub async fn undelivered_mail(&self) -> Result<Vec<QueuedMail>, DirectoryError> {
        self.run(|conn, _| {
            let mut statement = conn.prepare_cached(
                "SELECT id, to_address, subject, body FROM outbox WHERE sent_time IS NULL
                 ORDER BY id LIMIT 50",
            )?;
            let mail = statement
                .query_map([], |row| {
                    Ok(QueuedMail {
                        id: row.get(0)?,
                        to: row.get(1)?,
                        subject: row.get(2)?,
                        body: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(mail)
        })
        .await
    }

    /// Delivered: the body and link, which hold a live recovery link, are not kept.
    pub async fn mark_delivered(&self, id: i64) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE outbox SET sent_time = ?1, body = '', link = NULL, last_error = NULL
                 WHERE id = ?2",
                params![now(), id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_failed(&self, id: i64, error: String) -> Result<(), DirectoryError> {
        self.run(move |conn, _| {
            conn.execute(
                "UPDATE outbox SET last_error = ?1 WHERE id = ?2",
                params![error, id],
            )?;
            Ok(())
        })
        .await
    }
}
