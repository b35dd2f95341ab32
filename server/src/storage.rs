//! What every SQLite file of Keydesk shares: how a connection is set up, how long it waits for a
//! lock another process holds, and what a failure to write means for the person who asked.
//!
//! A database that is locked (a backup tool, an operator's `sqlite3`), full or read-only is not
//! a bug in Keydesk: it is answered 503 with the file and the cause named, after a bounded wait,
//! and the write did not happen.

use std::{path::Path, time::Duration};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode};

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// The default for `[storage] lock_timeout`.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a database could not be used, in words for the person who asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// Another process holds the write lock, and it was not let go within the lock timeout.
    #[error("{file} is locked by another process (Keydesk waited {} s for it)", waited.as_secs_f32())]
    Locked { file: String, waited: Duration },
    #[error("the disk holding {file} is full")]
    Full { file: String },
    /// Read-only, gone, or an I/O error.
    #[error("{file} cannot be written: {cause}")]
    Unwritable { file: String, cause: String },
    /// Anything else: a bug, reported as an internal error.
    #[error("{file}: {cause}")]
    Other { file: String, cause: String },
}

impl StorageError {
    /// What this error means, for an error from `file` on a connection that waits `lock_timeout`.
    pub fn from_sqlite(err: &rusqlite::Error, file: &str, lock_timeout: Duration) -> Self {
        let file = file.to_owned();
        let code = match err {
            rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
            _ => None,
        };
        match code {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StorageError::Locked {
                file,
                waited: lock_timeout,
            },
            Some(ErrorCode::DiskFull) => StorageError::Full { file },
            Some(
                ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied,
            ) => StorageError::Unwritable {
                file,
                cause: err.to_string(),
            },
            _ => StorageError::Other {
                file,
                cause: err.to_string(),
            },
        }
    }

    /// Waiting for a pooled connection timed out: every connection is stuck behind a lock.
    pub fn from_pool(err: &r2d2::Error, file: &str, lock_timeout: Duration) -> Self {
        tracing::warn!(file, error = %err, "no database connection became free");
        StorageError::Locked {
            file: file.to_owned(),
            waited: lock_timeout,
        }
    }

    /// Locked, full or unwritable: the service cannot write now, which is not a bug.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StorageError::Other { .. })
    }
}

/// The file name alone, for messages: the data directory is the operator's business.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Every connection: WAL (readers never wait for the writer), a bounded wait for another
/// process's lock, and `synchronous = FULL` where `durable` (a committed audit record survives a
/// power cut, not only a crash of Keydesk).
pub fn configure(conn: &Connection, lock_timeout: Duration, durable: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(lock_timeout)?;
    conn.execute_batch(if durable {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
    })
}

/// A pool whose callers wait at most `lock_timeout` for a connection, as they would for a lock.
pub fn pool(
    manager: SqliteConnectionManager,
    max_size: u32,
    lock_timeout: Duration,
) -> Result<Pool, r2d2::Error> {
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(lock_timeout.max(Duration::from_millis(250)))
        .build(manager)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_elsewhere_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let holder = Connection::open(&path).unwrap();
        configure(&holder, Duration::ZERO, false).unwrap();
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE;")
            .unwrap();
        let waiter = Connection::open(&path).unwrap();
        configure(&waiter, Duration::from_millis(50), false).unwrap();
        let err = waiter.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let err = StorageError::from_sqlite(&err, "x.db", Duration::from_millis(50));
        assert!(matches!(err, StorageError::Locked { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("x.db is locked by another process"),
            "{err}"
        );
    }
}
