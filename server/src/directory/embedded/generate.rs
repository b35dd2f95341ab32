//! Filling a directory: the demo on first start, and `keydesk-server generate` for load work.

use std::{path::PathBuf, time::SystemTime};

use keydesk_api::UserState;
use rusqlite::{Connection, params};

use super::{Context, links, schema, seed, seed::NewUser, text, users::search_key};
use crate::{Config, directory::DirectoryError};

pub fn insert_users(conn: &mut Connection, users: &[NewUser]) -> rusqlite::Result<()> {
    insert(conn, users, Texts::Now)
}

/// When the users' search texts are written: with their rows, or after the migrations.
enum Texts {
    Now,
    Later,
}

fn insert(conn: &mut Connection, users: &[NewUser], texts: Texts) -> rusqlite::Result<()> {
    // Seeded recoveries look recent: they began two days before the directory was made (the
    // last change of those still started), and those accepted were accepted a day later (their
    // last change, which "waiting since" shows).
    let days_ago = |days: u64| {
        humantime::format_rfc3339_seconds(
            SystemTime::now() - std::time::Duration::from_secs(days * 24 * 3600),
        )
        .to_string()
    };
    let (recovery_began, recovery_accepted) = (days_ago(2), days_ago(1));
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                                update_time, name_key, email_key, search_key,
                                recovery_started_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                     CASE ?4 WHEN 'RECOVERY_ACCEPTED' THEN ?12 WHEN 'RECOVERY_STARTED' THEN ?11
                             ELSE ?7 END, ?8, ?9, ?10,
                     CASE WHEN ?4 IN ('RECOVERY_STARTED', 'RECOVERY_ACCEPTED') THEN ?11 END)",
        )?;
        for user in users {
            let id = seed::id_for(&user.email);
            let name_key = text::fold(&user.display_name);
            let email_key = user.email.to_lowercase();
            let search_key = match texts {
                Texts::Now => search_key(&name_key, &user.email, &id),
                Texts::Later => String::new(),
            };
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
                recovery_began,
                recovery_accepted,
            ])?;
        }
    }
    tx.commit()
}

/// Everyone's search text, for rows inserted without it.
fn write_texts(conn: &mut Connection, users: &[NewUser]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut update = tx.prepare("UPDATE users SET search_key = ?2 WHERE id = ?1")?;
        for user in users {
            let id = seed::id_for(&user.email);
            let text = search_key(&text::fold(&user.display_name), &user.email, &id);
            update.execute(params![id, text])?;
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
    // Everyone goes in before the later indexes exist: building those over 100,000 rows at once
    // takes about half the time that keeping them up to date row by row does (8 s against 15 s,
    // measured). Their search texts go in after the migrations: one of them built an FTS5 index
    // of the texts, which a later one dropped, and over a million texts that index alone cost
    // 28 s of CPU, half of generating.
    migrate(&mut conn, Some(schema::GENERATE_BEFORE))?;
    let users = seed::generated_users(count);
    insert(&mut conn, &users, Texts::Later)?;
    migrate(&mut conn, None)?;
    write_texts(&mut conn, &users)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('seeded', 'generated')",
        [],
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(path)
}

/// The demo, as if its people had been through Keydesk: everyone in RECOVERY_STARTED has a live
/// link and the email that carries it, as a real begin leaves them.
pub fn seed_demo(conn: &mut Connection, context: &Context) -> Result<(), DirectoryError> {
    insert_users(conn, &seed::demo_users())?;
    let tx = conn.transaction()?;
    let started: Vec<String> = tx
        .prepare("SELECT id FROM users WHERE state = ?1 ORDER BY id")?
        .query_map([UserState::RecoveryStarted.as_str()], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for id in started {
        let id = keydesk_api::UserId::parse(&id)
            .map_err(|err| DirectoryError::Internal(err.to_string()))?;
        let user = super::users::load_user(&tx, &context.account, &id)?;
        links::issue_link(&tx, context, &user, SystemTime::now())?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('seeded', 'demo')",
        params![],
    )?;
    tx.commit()?;
    Ok(())
}
