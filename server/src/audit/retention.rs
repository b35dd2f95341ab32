//! Retention (`[audit] keep`): records older than `keep` are deleted, and the hash of the last
//! deleted record becomes the chain's new start, so that what is kept still verifies.
//!
//! The start lives in `audit_start`, written in the transaction that deletes, and that same
//! transaction appends a `prune_audit` record saying where the chain now starts. Verification
//! demands that the newest `prune_audit` record names the start exactly: moving the start (to
//! hide deleted records) without a record saying so breaks the chain. Someone who can write the
//! file can still forge such a record (the chain has no key): the anchors, outside the file
//! (`anchor`), carry the start too, and `verify-audit --anchors` compares.

use std::time::{Duration, SystemTime};

use keydesk_api::{AuditAction, AuditOutcome, AuditRecord};
use rusqlite::{Connection, OptionalExtension, params};

use super::chain::{self, Entry, GENESIS, Note};

/// Who prunes: Keydesk itself, not a person.
pub const KEYDESK: &str = "keydesk";

const DAY: u64 = 24 * 3600;

/// Where the chain starts once records were pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    /// The first record kept.
    pub seq: i64,
    /// The hash of the record before it: the first kept record chains to this.
    pub previous_hash: String,
    /// Records older than this were pruned.
    pub cutoff: String,
    pub pruned_time: String,
}

/// What one pruning removed.
#[derive(Debug)]
pub struct Pruned {
    pub first: i64,
    pub last: i64,
    pub start: Start,
    /// The `prune_audit` record that says so.
    pub record: AuditRecord,
}

pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS audit_start (
            only          INTEGER PRIMARY KEY CHECK (only = 1),
            seq           INTEGER NOT NULL,
            previous_hash TEXT NOT NULL,
            cutoff        TEXT NOT NULL,
            pruned_time   TEXT NOT NULL
        );",
    )
}

/// The chain's start, if records were ever pruned.
pub fn start(conn: &Connection) -> rusqlite::Result<Option<Start>> {
    conn.query_row(
        "SELECT seq, previous_hash, cutoff, pruned_time FROM audit_start WHERE only = 1",
        [],
        |row| {
            Ok(Start {
                seq: row.get(0)?,
                previous_hash: row.get(1)?,
                cutoff: row.get(2)?,
                pruned_time: row.get(3)?,
            })
        },
    )
    .optional()
}

/// The hash the first kept record chains to, and that record's number.
pub fn chain_start(conn: &Connection) -> rusqlite::Result<(String, i64)> {
    Ok(match start(conn)? {
        Some(start) => (start.previous_hash, start.seq),
        None => (GENESIS.to_owned(), 1),
    })
}

/// How a `prune_audit` record names the start: one source for writing it and checking it.
fn names_start(seq: i64, previous_hash: &str) -> String {
    format!("the chain now starts at record {seq}, after hash {previous_hash}")
}

/// Whether the newest `prune_audit` record names `start` exactly: a start moved by anything but
/// retention is not.
pub fn is_announced(conn: &Connection, start: &Start) -> rusqlite::Result<bool> {
    let reason: Option<String> = conn
        .query_row(
            "SELECT reason FROM audit WHERE action = ?1 AND seq >= ?2 ORDER BY seq DESC LIMIT 1",
            params![AuditAction::PruneAudit.as_str(), start.seq],
            |row| row.get(0),
        )
        .optional()?;
    Ok(reason.is_some_and(|r| r.ends_with(&names_start(start.seq, &start.previous_hash))))
}

/// Where the chain starts, in words for `verify-audit`.
pub fn describe(start: Option<&Start>) -> String {
    match start {
        None => "the chain starts at record 1 (nothing was pruned)".to_owned(),
        Some(start) => format!(
            "the chain starts at record {}: records 1 to {} were pruned by retention at {} \
             (they were older than {})",
            start.seq,
            start.seq - 1,
            start.pruned_time,
            start.cutoff
        ),
    }
}

/// The cutoff for `keep` at `now`: whole days (UTC), so that pruning happens at most once a day.
fn cutoff(keep: Duration, now: SystemTime) -> SystemTime {
    let since_epoch = now
        .checked_sub(keep)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch / DAY * DAY)
}

/// Delete the records older than `keep` at `now`, in the caller's write transaction, with the
/// new start and the record saying so. Never the newest record, nor any record after one that is
/// recent enough (the kept records stay one unbroken chain).
pub fn prune(
    conn: &Connection,
    keep: Duration,
    now: SystemTime,
) -> rusqlite::Result<Option<Pruned>> {
    let cutoff = humantime::format_rfc3339_millis(cutoff(keep, now)).to_string();
    let (oldest, newest): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(seq), MAX(seq) FROM audit", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let (Some(oldest), Some(newest)) = (oldest, newest) else {
        return Ok(None);
    };
    let recent: Option<i64> = conn.query_row(
        "SELECT MIN(seq) FROM audit WHERE time >= ?1",
        [&cutoff],
        |row| row.get(0),
    )?;
    let first_kept = recent.unwrap_or(newest).min(newest);
    if first_kept <= oldest {
        return Ok(None);
    }
    let previous_hash: String = conn.query_row(
        "SELECT hash FROM audit WHERE seq = ?1",
        [first_kept - 1],
        |row| row.get(0),
    )?;
    conn.execute("DELETE FROM audit WHERE seq < ?1", [first_kept])?;
    let start = Start {
        seq: first_kept,
        previous_hash,
        cutoff,
        pruned_time: humantime::format_rfc3339_millis(now).to_string(),
    };
    conn.execute(
        "INSERT OR REPLACE INTO audit_start (only, seq, previous_hash, cutoff, pruned_time)
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            start.seq,
            start.previous_hash,
            start.cutoff,
            start.pruned_time
        ],
    )?;
    let reason = format!(
        "records {oldest} to {} were older than {} ([audit] keep = \"{}\") and were pruned; {}",
        first_kept - 1,
        start.cutoff,
        humantime::format_duration(keep),
        names_start(start.seq, &start.previous_hash)
    );
    let record = chain::append(
        conn,
        Entry {
            actor_email: KEYDESK.to_owned(),
            actor_groups: Vec::new(),
            action: AuditAction::PruneAudit,
            targets: Vec::new(),
            outcome: AuditOutcome::Succeeded,
            reason,
            request_id: String::new(),
            client_address: String::new(),
            count: 1,
            settles: None,
            note: Note::default(),
        },
        now,
    )?;
    Ok(Some(Pruned {
        first: oldest,
        last: first_kept - 1,
        start,
        record,
    }))
}

/// Prune the trail in `path` now, as Keydesk starts.
pub fn prune_file(
    path: &std::path::Path,
    keep: Duration,
    lock_timeout: Duration,
    now: SystemTime,
) -> rusqlite::Result<Option<Pruned>> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(lock_timeout)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let pruned = prune(&tx, keep, now)?;
    tx.commit()?;
    Ok(pruned)
}

/// What someone with write access to the file can do: delete the records before `seq` and make
/// the chain start there, with the right hash, and no record saying so. Gives back that hash.
#[cfg(test)]
pub(crate) fn forge_start(conn: &Connection, seq: i64) -> String {
    let hash: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq - 1], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute("DELETE FROM audit WHERE seq < ?1", [seq])
        .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO audit_start (only, seq, previous_hash, cutoff, pruned_time)
         VALUES (1, ?1, ?2, '2000-01-01T00:00:00.000Z', '2000-01-01T00:00:00.000Z')",
        params![seq, hash],
    )
    .unwrap();
    hash
}

#[cfg(test)]
mod tests;
