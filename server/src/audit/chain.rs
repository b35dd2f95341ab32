//! The audit table and its hash chain, usable inside any SQLite transaction: the embedded
//! directory appends a change's record in the very transaction that makes the change, so the two
//! are committed together or not at all.
//!
//! The table brings its own schema (created and extended by [`prepare`], idempotently) rather
//! than a numbered migration, because it lives in whichever file holds the changes it records:
//! `keydesk.db` for the embedded directory, `audit.db` beside an upstream one.

use std::time::SystemTime;

use data_encoding::HEXLOWER;
use keydesk_api::{AuditAction, AuditOutcome, AuditRecord};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a record may keep of what a caller sent: enough to investigate, never a way to fill the
/// disk (a 300 KB groups header, an 80 KB name).
const MAX_TEXT_CHARS: usize = 320;
const MAX_REASON_CHARS: usize = 1000;
const MAX_LIST_ITEMS: usize = 20;

/// One attempt to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub actor_email: String,
    pub actor_groups: Vec<String>,
    pub action: AuditAction,
    pub targets: Vec<String>,
    pub outcome: AuditOutcome,
    pub reason: String,
    pub request_id: String,
    pub client_address: String,
    /// How many attempts alike this record stands for (see `refusals`).
    pub count: u32,
    /// The `attempted` record whose outcome this is.
    pub settles: Option<i64>,
    /// Why the change was asked for, as the person asking said.
    pub note: Note,
}

/// What a record says besides who did what to whom and how it ended: why (as the person asking
/// said), under which ticket, which checks they confirmed, for whom a scheduled change runs, and
/// for a change seen in 1Password, from which state to which. Kept with the record, in its hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Note {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checked: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<keydesk_api::Observation>,
}

impl Note {
    pub fn is_empty(&self) -> bool {
        *self == Note::default()
    }

    /// What a stored record's note says.
    pub fn of(record: &AuditRecord) -> Note {
        Note {
            reason: record.change_reason.clone(),
            ticket: record.ticket.clone(),
            checked: record.checked.clone(),
            on_behalf_of: record.on_behalf_of.clone(),
            observed: record.observed.clone(),
        }
    }

    /// Every text cut to a bounded length, as for the rest of a record.
    fn bounded(self) -> Note {
        let text = |t: Option<String>| t.map(|t| cut(&t, MAX_REASON_CHARS));
        Note {
            reason: text(self.reason),
            ticket: text(self.ticket),
            checked: cut_list(&self.checked, "checks"),
            on_behalf_of: text(self.on_behalf_of),
            observed: self.observed,
        }
    }
}

impl Entry {
    /// The entry as the trail keeps it: every caller-supplied text cut to a bounded length.
    fn bounded(mut self) -> Self {
        self.actor_email = cut(&self.actor_email, MAX_TEXT_CHARS);
        self.actor_groups = cut_list(&self.actor_groups, "groups");
        self.targets = cut_list(&self.targets, "targets");
        self.reason = cut(&self.reason, MAX_REASON_CHARS);
        self.request_id = cut(&self.request_id, 64);
        self.client_address = cut(&self.client_address, 64);
        self.note = self.note.bounded();
        self
    }
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((end, _)) => format!(
            "{}… ({} characters in all)",
            &text[..end],
            text.chars().count()
        ),
    }
}

fn cut_list(items: &[String], what: &str) -> Vec<String> {
    let mut kept: Vec<String> = items
        .iter()
        .take(MAX_LIST_ITEMS)
        .map(|item| cut(item, MAX_TEXT_CHARS))
        .collect();
    if items.len() > MAX_LIST_ITEMS {
        kept.push(format!("… {} more {what}", items.len() - MAX_LIST_ITEMS));
    }
    kept
}

/// Create the table and indexes, or add what an older Keydesk's table lacks.
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS audit (
            seq            INTEGER PRIMARY KEY,
            time           TEXT NOT NULL,
            actor_email    TEXT NOT NULL,
            actor_groups   TEXT NOT NULL, -- JSON array
            action         TEXT NOT NULL,
            targets        TEXT NOT NULL, -- JSON array
            outcome        TEXT NOT NULL,
            reason         TEXT NOT NULL,
            request_id     TEXT NOT NULL,
            client_address TEXT NOT NULL,
            hash           TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor_email COLLATE NOCASE, seq);
        CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time);",
    )?;
    let has_column = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = ?1",
            [name],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    if !has_column("count")? {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;")?;
    }
    if !has_column("settles")? {
        conn.execute_batch(
            "ALTER TABLE audit ADD COLUMN settles INTEGER;
             CREATE INDEX IF NOT EXISTS audit_by_settles ON audit (settles) WHERE settles IS NOT NULL;
             CREATE INDEX IF NOT EXISTS audit_attempts ON audit (seq) WHERE outcome = 'attempted';",
        )?;
    }
    if !has_column("note")? {
        // A JSON object ([`Note`]); NULL when the change came with nothing to say.
        conn.execute_batch("ALTER TABLE audit ADD COLUMN note TEXT;")?;
    }
    super::retention::prepare(conn)
}

/// What a record adds to the original ten hashed fields, present only when not the default so
/// that records written before these existed keep their hashes.
#[derive(Serialize)]
struct Extensions {
    #[serde(skip_serializing_if = "is_one")]
    count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    settles: Option<i64>,
    #[serde(skip_serializing_if = "Note::is_empty")]
    note: Note,
}

fn is_one(count: &u32) -> bool {
    *count == 1
}

/// The hash that chains a record to its predecessor.
pub fn chain_hash(previous: &str, record: &AuditRecord) -> String {
    let fields = (
        record.seq,
        &record.time,
        &record.actor_email,
        &record.actor_groups,
        record.action,
        &record.targets,
        record.outcome,
        &record.reason,
        &record.request_id,
        &record.client_address,
    );
    let note = Note::of(record);
    let content = if record.count == 1 && record.settles.is_none() && note.is_empty() {
        serde_json::to_string(&fields)
    } else {
        let (seq, time, actor, groups, action, targets, outcome, reason, request, address) = fields;
        let extensions = Extensions {
            count: record.count,
            settles: record.settles,
            note,
        };
        serde_json::to_string(&(
            seq, time, actor, groups, action, targets, outcome, reason, request, address,
            extensions,
        ))
    }
    .expect("plain data serialises");
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.as_bytes());
    HEXLOWER.encode(&hasher.finalize())
}

pub const COLUMNS: &str = "seq, time, actor_email, actor_groups, action, targets, outcome, \
                           reason, request_id, client_address, count, settles, hash, note";

fn conversion(
    index: usize,
    err: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
}

#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a value Keydesk writes")]
struct UnknownValue(String);

pub fn row_to_record(row: &rusqlite::Row) -> rusqlite::Result<AuditRecord> {
    let json_list = |index: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = row.get(index)?;
        serde_json::from_str(&text).map_err(|err| conversion(index, err))
    };
    let action: String = row.get(4)?;
    let outcome: String = row.get(6)?;
    let note: Note = match row.get::<_, Option<String>>(13)? {
        Some(text) => serde_json::from_str(&text).map_err(|err| conversion(13, err))?,
        None => Note::default(),
    };
    Ok(AuditRecord {
        seq: row.get(0)?,
        time: row.get(1)?,
        actor_email: row.get(2)?,
        actor_groups: json_list(3)?,
        action: AuditAction::parse(&action).ok_or_else(|| conversion(4, UnknownValue(action)))?,
        targets: json_list(5)?,
        outcome: AuditOutcome::parse(&outcome)
            .ok_or_else(|| conversion(6, UnknownValue(outcome)))?,
        reason: row.get(7)?,
        request_id: row.get(8)?,
        client_address: row.get(9)?,
        count: row.get(10)?,
        settles: row.get(11)?,
        hash: row.get(12)?,
        change_reason: note.reason,
        ticket: note.ticket,
        checked: note.checked,
        on_behalf_of: note.on_behalf_of,
        observed: note.observed,
    })
}

/// Append one record to the chain. The caller holds the write lock (an IMMEDIATE transaction),
/// which makes reading the last hash and appending one step; the record is durable when the
/// caller commits, together with whatever else the transaction changed.
pub fn append(conn: &Connection, entry: Entry, now: SystemTime) -> rusqlite::Result<AuditRecord> {
    let entry = entry.bounded();
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (previous_seq, previous_hash) = last.unwrap_or((0, GENESIS.to_owned()));
    let mut record = AuditRecord {
        seq: previous_seq + 1,
        time: humantime::format_rfc3339_millis(now).to_string(),
        actor_email: entry.actor_email,
        actor_groups: entry.actor_groups,
        action: entry.action,
        targets: entry.targets,
        outcome: entry.outcome,
        reason: entry.reason,
        request_id: entry.request_id,
        client_address: entry.client_address,
        count: entry.count,
        settles: entry.settles,
        hash: String::new(),
        change_reason: entry.note.reason.clone(),
        ticket: entry.note.ticket.clone(),
        checked: entry.note.checked.clone(),
        on_behalf_of: entry.note.on_behalf_of.clone(),
        observed: entry.note.observed.clone(),
    };
    record.hash = chain_hash(&previous_hash, &record);
    let json = |list: &Vec<String>| serde_json::to_string(list).expect("strings serialise");
    conn.prepare_cached(&format!(
        "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        record.seq,
        record.time,
        record.actor_email,
        json(&record.actor_groups),
        record.action.as_str(),
        json(&record.targets),
        record.outcome.as_str(),
        record.reason,
        record.request_id,
        record.client_address,
        record.count,
        record.settles,
        record.hash,
        (!entry.note.is_empty())
            .then(|| serde_json::to_string(&entry.note).expect("strings serialise")),
    ])?;
    Ok(record)
}

/// Recompute the chain from its start (the first record, or where retention left it): the
/// number of records, and the first that does not follow from its content and predecessor. A
/// start no `prune_audit` record names is itself broken: records before it were removed.
pub fn verify(conn: &Connection) -> rusqlite::Result<(i64, Option<i64>)> {
    let (mut previous, mut expected_seq) = super::retention::chain_start(conn)?;
    if let Some(start) = super::retention::start(conn)?
        && !super::retention::is_announced(conn, &start)?
    {
        let records = conn.query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))?;
        return Ok((records, Some(start.seq)));
    }
    let mut statement = conn.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))?;
    let mut rows = statement.query([])?;
    let mut records = 0;
    while let Some(row) = rows.next()? {
        records += 1;
        let intact = match row_to_record(row) {
            Ok(record) => {
                let ok =
                    record.seq == expected_seq && chain_hash(&previous, &record) == record.hash;
                previous = record.hash;
                ok
            }
            Err(_) => false,
        };
        if !intact {
            return Ok((records, Some(expected_seq)));
        }
        expected_seq += 1;
    }
    Ok((records, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::sample_entry;

    fn entry() -> Entry {
        sample_entry("ZBSTFQCWDIORFX5C56NHLY6MQV")
    }

    #[test]
    fn records_written_before_the_extensions_keep_their_hashes() {
        // A record as the first Keydesk wrote it, with the hash it computed then.
        let record = AuditRecord {
            seq: 1,
            time: "2026-11-22T10:00:00.000Z".into(),
            actor_email: "amara.okafor@example.com".into(),
            actor_groups: vec!["keydesk-admins".into()],
            action: AuditAction::Suspend,
            targets: vec!["ZBSTFQCWDIORFX5C56NHLY6MQV".into()],
            outcome: AuditOutcome::Succeeded,
            reason: String::new(),
            request_id: "r1".into(),
            client_address: "127.0.0.1".into(),
            count: 1,
            settles: None,
            hash: String::new(),
            change_reason: None,
            ticket: None,
            checked: Vec::new(),
            on_behalf_of: None,
            observed: None,
        };
        let old_content = r#"[1,"2026-11-22T10:00:00.000Z","amara.okafor@example.com",["keydesk-admins"],"suspend",["ZBSTFQCWDIORFX5C56NHLY6MQV"],"succeeded","","r1","127.0.0.1"]"#;
        let mut hasher = Sha256::new();
        hasher.update(format!("{GENESIS}\n{old_content}").as_bytes());
        assert_eq!(
            chain_hash(GENESIS, &record),
            HEXLOWER.encode(&hasher.finalize())
        );
        let counted = AuditRecord {
            count: 3,
            ..record.clone()
        };
        assert_ne!(chain_hash(GENESIS, &counted), chain_hash(GENESIS, &record));
    }

    #[test]
    fn what_a_caller_sent_is_kept_bounded() {
        let conn = Connection::open_in_memory().unwrap();
        prepare(&conn).unwrap();
        let huge = Entry {
            actor_groups: (0..5000).map(|n| format!("group-{n}")).collect(),
            reason: "x".repeat(80_000),
            targets: vec!["y".repeat(90_000)],
            ..entry()
        };
        let record = append(&conn, huge, SystemTime::now()).unwrap();
        assert_eq!(record.actor_groups.len(), MAX_LIST_ITEMS + 1);
        assert_eq!(record.actor_groups.last().unwrap(), "… 4980 more groups");
        assert!(record.reason.chars().count() < MAX_REASON_CHARS + 40);
        assert!(record.reason.ends_with("(80000 characters in all)"));
        assert!(record.targets[0].chars().count() < MAX_TEXT_CHARS + 40);
        let row_bytes: i64 = conn
            .query_row(
                "SELECT SUM(LENGTH(actor_groups) + LENGTH(reason) + LENGTH(targets)) FROM audit",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(row_bytes < 10_000, "{row_bytes} bytes kept");
    }

    #[test]
    fn prepare_is_idempotent_and_extends_an_old_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor_email TEXT NOT NULL,
             actor_groups TEXT NOT NULL, action TEXT NOT NULL, targets TEXT NOT NULL,
             outcome TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL,
             client_address TEXT NOT NULL, hash TEXT NOT NULL);",
        )
        .unwrap();
        prepare(&conn).unwrap();
        prepare(&conn).unwrap();
        append(
            &conn,
            Entry {
                count: 4,
                ..entry()
            },
            SystemTime::now(),
        )
        .unwrap();
        append(&conn, entry(), SystemTime::now()).unwrap();
        assert_eq!(verify(&conn).unwrap(), (2, None));
    }
}
