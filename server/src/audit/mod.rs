//! The audit trail: every state-changing attempt, allowed, denied or failed, and every refused
//! sign-in, in a SQLite table ([`chain`]).
//!
//! A change and its record are one event. The embedded directory keeps the trail in its own file
//! and appends a change's record in the transaction that makes the change; beside an upstream
//! directory the trail is `audit.db`, where an `attempted` record is committed (and synced)
//! before 1Password is asked, and its outcome after (see `directory::upstream::ledger`).
//!
//! Tamper evident: each record carries the SHA-256 of the previous record's hash and its own
//! content. Changing, removing or reordering a record breaks every hash after it, and
//! [`AuditLog::verify`] names the first broken link. Nothing secret is ever passed in: entries
//! hold who, what, to whom, the outcome and why, never tokens, links or passwords.

pub mod anchor;
pub mod chain;
pub mod people;
mod query;
pub mod refusals;
pub mod report;
pub mod retention;
pub mod sentences;
mod settings;

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use keydesk_api::{AuditAction, AuditOutcome, AuditRecord, AuditVerification};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, TransactionBehavior};

pub use self::chain::{Entry, Note};
pub use self::settings::AuditSettings;
use crate::storage::{self, Pool, StorageError};

/// Why the trail could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit trail cannot be written: {0}")]
    Unwritable(StorageError),
    #[error("the audit trail cannot be read: {0}")]
    Unreadable(StorageError),
    /// A filter or page token the caller got wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Who is attempting which change: what the record of its outcome says besides the outcome.
/// The directory writes the outcome of a change it made, in the change's own transaction, and
/// marks the attempt recorded; the guard records any other outcome.
#[derive(Debug)]
pub struct Attempt {
    pub actor_email: String,
    pub actor_groups: Vec<String>,
    pub action: AuditAction,
    pub request_id: String,
    pub client_address: String,
    /// What the person said about the change: in every record of it, whatever its outcome.
    pub note: Note,
    recorded: AtomicBool,
}

impl Attempt {
    pub fn new(
        actor_email: String,
        actor_groups: Vec<String>,
        action: AuditAction,
        request_id: String,
        client_address: String,
    ) -> Self {
        Attempt {
            actor_email,
            actor_groups,
            action,
            request_id,
            client_address,
            note: Note::default(),
            recorded: AtomicBool::new(false),
        }
    }

    /// The attempt with what the person said about it.
    pub fn with_note(self, note: Note) -> Self {
        Attempt { note, ..self }
    }

    /// The record of this attempt's outcome.
    pub fn entry(&self, targets: Vec<String>, outcome: AuditOutcome, reason: String) -> Entry {
        Entry {
            actor_email: self.actor_email.clone(),
            actor_groups: self.actor_groups.clone(),
            action: self.action,
            targets,
            outcome,
            reason,
            request_id: self.request_id.clone(),
            client_address: self.client_address.clone(),
            count: 1,
            settles: None,
            note: self.note.clone(),
        }
    }

    /// Its outcome is in the trail (written by whoever made the change).
    pub fn mark_recorded(&self) {
        self.recorded.store(true, Ordering::Release);
    }

    pub fn is_recorded(&self) -> bool {
        self.recorded.load(Ordering::Acquire)
    }
}

pub struct AuditLog {
    pool: Pool,
    file: String,
    lock_timeout: Duration,
    /// Why the last write failed, until one succeeds: `/healthz` reports it.
    unwritable: Mutex<Option<StorageError>>,
    refusals: refusals::Refusals,
}

impl AuditLog {
    /// Open the trail in `path`, creating the table if it is not there. `durable`: every commit
    /// is synced to the disk (`audit.db` beside an upstream directory, whose `attempted` records
    /// must outlive a power cut before 1Password is called).
    pub fn open(path: &Path, lock_timeout: Duration, durable: bool) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        storage::configure(&conn, lock_timeout, durable)?;
        chain::prepare(&conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path)
            .with_init(move |conn| storage::configure(conn, lock_timeout, durable));
        Ok(AuditLog {
            pool: storage::pool(manager, 4, lock_timeout)?,
            file: storage::file_name(path),
            lock_timeout,
            unwritable: Mutex::new(None),
            refusals: refusals::Refusals::default(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let pool = self.pool.clone();
        let (file, lock_timeout) = (self.file.clone(), self.lock_timeout);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|err| StorageError::from_pool(&err, &file, lock_timeout))?;
            work(&mut conn).map_err(|err| StorageError::from_sqlite(&err, &file, lock_timeout))
        })
        .await
        .unwrap_or_else(|err| {
            Err(StorageError::Other {
                file: self.file.clone(),
                cause: format!("the database task failed: {err}"),
            })
        })
    }

    /// Run `work` in a write transaction on the trail's file, committed only if it succeeds: for
    /// what lives beside the trail (scheduled changes) and must be written with its record.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        let result = self
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = work(&tx)?;
                tx.commit()?;
                Ok(value)
            })
            .await;
        self.observe(result.as_ref().err());
        result.map_err(AuditError::Unwritable)
    }

    /// Read from the trail's file.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        self.run(move |conn| work(conn))
            .await
            .map_err(AuditError::Unreadable)
    }

    /// Append one record in a transaction of its own. Callers answer only after this returns.
    pub async fn record(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        if entry.outcome != AuditOutcome::Succeeded {
            // Structured fields, written escaped: a name with a newline cannot forge a log line.
            tracing::info!(actor = ?entry.actor_email, action = %entry.action, outcome = %entry.outcome, reason = ?entry.reason, "audited");
        }
        let result = self
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let record = chain::append(&tx, entry, SystemTime::now())?;
                tx.commit()?;
                Ok(record)
            })
            .await;
        self.observe(result.as_ref().err());
        result.map_err(AuditError::Unwritable)
    }

    /// Record a refusal that may come in floods (refused sign-ins, refused recovery links): the
    /// first of its kind from its address this minute at once, the rest in one record with a
    /// count when the minute is over (see [`refusals`]).
    pub async fn record_refusal(&self, entry: Entry) -> Result<(), AuditError> {
        for entry in self.refusals.refuse(entry, std::time::Instant::now()) {
            self.record(entry).await?;
        }
        Ok(())
    }

    /// Write the counts of refusals whose minute is over; every count with `stopping`.
    pub async fn close_refusals(&self, stopping: bool) -> Result<(), AuditError> {
        let now = (!stopping).then(std::time::Instant::now);
        for entry in self.refusals.close(now) {
            self.record(entry).await?;
        }
        Ok(())
    }

    /// Note how a write to the trail's file went, for `/healthz`: a write that failed because
    /// the file is locked, full or read-only makes the trail unwritable until one succeeds.
    pub fn observe(&self, failure: Option<&StorageError>) {
        let mut unwritable = self.unwritable.lock().expect("not poisoned");
        match failure {
            Some(err) if err.is_unavailable() => {
                if unwritable.is_none() {
                    tracing::error!(error = %err, "the audit trail cannot be written; changes are refused until it can");
                }
                *unwritable = Some(err.clone());
            }
            Some(_) => {}
            None => {
                if unwritable.take().is_some() {
                    tracing::info!("the audit trail can be written again");
                }
            }
        }
    }

    /// Why the trail cannot be written now, if it cannot: each call takes the write lock
    /// (waiting at most a second), so a lock held elsewhere shows before any change fails; after
    /// a failed write it also writes, so a full disk shows until there is room again.
    pub async fn unwritable(&self) -> Option<StorageError> {
        let failed_before = self.unwritable.lock().expect("not poisoned").is_some();
        let lock_timeout = self.lock_timeout;
        let result = self
            .run(move |conn| {
                conn.busy_timeout(lock_timeout.min(Duration::from_secs(1)))?;
                let probe = (|| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    if failed_before {
                        tx.execute_batch(
                            "CREATE TABLE IF NOT EXISTS audit_probe (time TEXT NOT NULL);
                             DELETE FROM audit_probe;",
                        )?;
                        tx.execute(
                            "INSERT INTO audit_probe (time) VALUES (?1)",
                            [humantime::format_rfc3339_millis(SystemTime::now()).to_string()],
                        )?;
                        tx.commit()
                    } else {
                        tx.rollback()
                    }
                })();
                conn.busy_timeout(lock_timeout)?;
                probe
            })
            .await;
        self.observe(result.as_ref().err());
        result.err().filter(StorageError::is_unavailable)
    }

    /// Prune the records older than `keep` at `now` (see [`retention`]).
    pub async fn prune(
        &self,
        keep: Duration,
        now: SystemTime,
    ) -> Result<Option<retention::Pruned>, AuditError> {
        self.write(move |tx| retention::prune(tx, keep, now)).await
    }

    /// Recompute the chain from the start; the first record that does not follow is broken.
    pub async fn verify(&self) -> Result<AuditVerification, AuditError> {
        let (records, first_broken) = self
            .run(|conn| chain::verify(conn))
            .await
            .map_err(AuditError::Unreadable)?;
        Ok(AuditVerification {
            records,
            first_broken,
        })
    }
}
/// Write the counts of repeated refusals once their minute is over, until the log is dropped.
pub async fn close_refusals_every_minute(log: std::sync::Weak<AuditLog>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Some(log) = log.upgrade() else {
            return;
        };
        if let Err(err) = log.close_refusals(false).await {
            tracing::warn!(error = %err, "could not record the count of repeated refusals yet");
        }
    }
}

/// Prune by `keep` hourly (Keydesk prunes once at start, [`retention::prune_file`]), anchoring the new start each time, until the log is
/// dropped.
pub async fn prune_hourly(
    log: std::sync::Weak<AuditLog>,
    keep: Duration,
    sink: std::sync::Arc<anchor::Sink>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let Some(log) = log.upgrade() else {
            return;
        };
        match log.prune(keep, SystemTime::now()).await {
            Ok(Some(pruned)) => {
                tracing::info!(
                    first = pruned.first,
                    last = pruned.last,
                    start = pruned.start.seq,
                    "pruned audit records older than [audit] keep"
                );
                anchor::anchor(&log, &sink, "pruned").await;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, "could not prune old audit records; trying again in an hour")
            }
        }
    }
}

/// An older Keydesk kept the embedded directory's trail in `audit.db`: move its records, chain
/// and all, into the directory's file the first time, and set the old file aside. Records are
/// copied as they are, so the chain still verifies.
pub fn adopt_legacy(trail: &Path, legacy: &Path) -> anyhow::Result<()> {
    if !legacy.exists() {
        return Ok(());
    }
    let conn = Connection::open(trail)?;
    let here: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))?;
    let attached = conn.execute("ATTACH DATABASE ?1 AS legacy", [legacy.to_string_lossy()]);
    let there: i64 = match attached {
        Ok(_) => conn
            .query_row("SELECT COUNT(*) FROM legacy.audit", [], |row| row.get(0))
            .unwrap_or(0),
        Err(_) => 0,
    };
    if here > 0 && there > 0 {
        tracing::warn!(legacy = %legacy.display(), "an older audit.db is beside a trail that already has records; it is left where it is");
        return Ok(());
    }
    if there > 0 {
        conn.execute_batch(&format!(
            "INSERT INTO main.audit ({columns}) SELECT {columns} FROM legacy.audit ORDER BY seq;",
            columns = "seq, time, actor_email, actor_groups, action, targets, outcome, reason, \
                       request_id, client_address, hash"
        ))?;
    }
    conn.execute_batch("DETACH DATABASE legacy;")?;
    drop(conn);
    let moved = legacy.with_extension("db.moved");
    std::fs::rename(legacy, &moved)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", legacy.display()));
    }
    tracing::info!(records = there, from = %legacy.display(), set_aside = %moved.display(), "moved the audit trail into the directory's file");
    Ok(())
}

#[cfg(test)]
mod tests;
