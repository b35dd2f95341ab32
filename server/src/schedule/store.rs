//! The table of scheduled changes. It lives in the audit trail's file, so that scheduling or
//! cancelling a change and the record of it commit together.

use keydesk_api::{AuditAction, ScheduleStatus, ScheduledChange, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Create the table if it is not there.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS scheduled_changes (
            id             INTEGER PRIMARY KEY,
            user_id        TEXT NOT NULL,
            action         TEXT NOT NULL,
            due_time       TEXT NOT NULL, -- RFC 3339 UTC to the second: text order is time order
            scheduled_by   TEXT NOT NULL,
            scheduled_time TEXT NOT NULL,
            reason         TEXT,
            ticket         TEXT,
            status         TEXT NOT NULL,
            claimed_time   TEXT,
            finished_time  TEXT,
            outcome        TEXT,
            -- The audit record of scheduling it: a change of the person recorded after this
            -- one was made by hand in between.
            scheduled_seq  INTEGER
        );
        CREATE INDEX IF NOT EXISTS scheduled_by_due ON scheduled_changes (due_time)
            WHERE status IN ('pending', 'running');
        CREATE INDEX IF NOT EXISTS scheduled_by_user ON scheduled_changes (user_id);",
    )
}

const COLUMNS: &str = "id, user_id, action, due_time, scheduled_by, scheduled_time, reason, \
                       ticket, status, finished_time, outcome";

fn conversion(index: usize, text: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("'{text}' is not a value Keydesk writes").into(),
    )
}

fn row_to_change(row: &Row) -> rusqlite::Result<ScheduledChange> {
    let user_id: String = row.get(1)?;
    let action: String = row.get(2)?;
    let status: String = row.get(8)?;
    Ok(ScheduledChange {
        id: row.get(0)?,
        user_id: UserId::parse(&user_id).map_err(|_| conversion(1, user_id.clone()))?,
        person: user_id,
        action: AuditAction::parse(&action).ok_or_else(|| conversion(2, action.clone()))?,
        due_time: row.get(3)?,
        scheduled_by: row.get(4)?,
        scheduled_time: row.get(5)?,
        reason: row.get(6)?,
        ticket: row.get(7)?,
        status: ScheduleStatus::parse(&status).ok_or_else(|| conversion(8, status.clone()))?,
        finished_time: row.get(9)?,
        outcome: row.get(10)?,
    })
}

pub fn insert(conn: &Connection, change: &ScheduledChange) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO scheduled_changes (user_id, action, due_time, scheduled_by, scheduled_time,
                                        reason, ticket, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
        params![
            change.user_id.as_str(),
            change.action.as_str(),
            change.due_time,
            change.scheduled_by,
            change.scheduled_time,
            change.reason,
            change.ticket,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn set_scheduled_seq(conn: &Connection, id: i64, seq: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE scheduled_changes SET scheduled_seq = ?2 WHERE id = ?1",
        params![id, seq],
    )?;
    Ok(())
}

/// The audit record of scheduling change `id`.
pub fn scheduled_seq(conn: &Connection, id: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(scheduled_seq, 0) FROM scheduled_changes WHERE id = ?1",
        [id],
        |row| row.get(0),
    )
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<ScheduledChange>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM scheduled_changes WHERE id = ?1"),
        [id],
        row_to_change,
    )
    .optional()
}

/// Pending changes, soonest first, and the 50 that finished last; of one person, if given.
pub fn list(
    conn: &Connection,
    user: Option<&UserId>,
) -> rusqlite::Result<(Vec<ScheduledChange>, Vec<ScheduledChange>)> {
    let user = user.map(UserId::as_str);
    let query = |condition: &str, order: &str| -> rusqlite::Result<Vec<ScheduledChange>> {
        conn.prepare(&format!(
            "SELECT {COLUMNS} FROM scheduled_changes
             WHERE {condition} AND (?1 IS NULL OR user_id = ?1) ORDER BY {order}"
        ))?
        .query_map([user], row_to_change)?
        .collect()
    };
    Ok((
        query("status IN ('pending', 'running')", "due_time, id")?,
        query(
            "status NOT IN ('pending', 'running')",
            "finished_time DESC, id DESC LIMIT 50",
        )?,
    ))
}

/// How many changes are not yet made (pending, or being made now).
pub fn pending(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM scheduled_changes WHERE status IN ('pending', 'running')",
        [],
        |row| row.get(0),
    )
}

/// The pending changes due at `now`, and those a process took and never finished (it died) by
/// `stale`.
pub fn due(conn: &Connection, now: &str, stale: &str) -> rusqlite::Result<Vec<i64>> {
    conn.prepare(
        "SELECT id FROM scheduled_changes
         WHERE (status = 'pending' AND due_time <= ?1)
            OR (status = 'running' AND claimed_time <= ?2)
         ORDER BY due_time, id",
    )?
    .query_map([now, stale], |row| row.get(0))?
    .collect()
}

/// Take a change to make it: true for exactly one of any number of processes asking at once
/// (the caller's transaction holds the write lock).
pub fn claim(conn: &Connection, id: i64, now: &str, stale: &str) -> rusqlite::Result<bool> {
    let taken = conn.execute(
        "UPDATE scheduled_changes SET status = 'running', claimed_time = ?2
         WHERE id = ?1 AND (status = 'pending' OR (status = 'running' AND claimed_time <= ?3))",
        params![id, now, stale],
    )?;
    Ok(taken == 1)
}

/// Give a taken change back, to try again at the next round (1Password was unreachable).
pub fn release(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE scheduled_changes SET status = 'pending', claimed_time = NULL WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

pub fn finish(
    conn: &Connection,
    id: i64,
    status: ScheduleStatus,
    now: &str,
    outcome: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE scheduled_changes SET status = ?2, finished_time = ?3, outcome = ?4 WHERE id = ?1",
        params![id, status.as_str(), now, outcome],
    )?;
    Ok(())
}
