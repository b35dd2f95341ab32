//! The audit trail: every state-changing attempt, allowed, denied or failed, and every refused
//! sign-in, in its own SQLite file (`audit.db`), so it works the same whichever directory backend
//! answers.
//!
//! Tamper evident: each record carries the SHA-256 of the previous record's hash and its own
//! content. Changing, removing or reordering a record breaks every hash after it, and
//! [`AuditLog::verify`] names the first broken link. Nothing secret is ever passed in: entries
//! hold who, what, to whom, the outcome and why, never tokens, links or passwords.

use std::{path::Path, time::SystemTime};

use data_encoding::HEXLOWER;
use keydesk_api::{AuditQuery, AuditRecord, AuditVerification};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, types::Value};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// The hash before the first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const DEFAULT_PAGE_SIZE: u32 = 50;

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Refused before anything was tried: no identity, no permission, rate limit, CSRF.
    Denied,
    /// Tried and refused or broken: bad input, a state that does not allow it, an upstream error.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One attempt to record.
#[derive(Clone, Debug)]
pub struct Entry {
    pub actor_email: String,
    pub actor_groups: Vec<String>,
    pub action: String,
    pub targets: Vec<String>,
    pub outcome: Outcome,
    pub reason: String,
    pub request_id: String,
    pub client_address: String,
}

pub struct AuditLog {
    pool: r2d2::Pool<SqliteConnectionManager>,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        "CREATE TABLE audit (
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
        CREATE INDEX audit_by_actor ON audit (actor_email COLLATE NOCASE, seq);
        CREATE INDEX audit_by_time ON audit (time);",
    )])
}

fn internal(err: impl std::fmt::Display) -> AppError {
    AppError::new(
        keydesk_api::ErrorStatus::Internal,
        format!("audit log: {err}"),
    )
}

/// The hash that chains a record to its predecessor.
fn chain_hash(previous: &str, record: &AuditRecord) -> String {
    let content = serde_json::to_string(&(
        record.seq,
        &record.time,
        &record.actor_email,
        &record.actor_groups,
        &record.action,
        &record.targets,
        &record.outcome,
        &record.reason,
        &record.request_id,
        &record.client_address,
    ))
    .expect("plain data serialises");
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.as_bytes());
    HEXLOWER.encode(&hasher.finalize())
}

const COLUMNS: &str = "seq, time, actor_email, actor_groups, action, targets, outcome, reason, \
                       request_id, client_address, hash";

fn row_to_record(row: &rusqlite::Row) -> rusqlite::Result<AuditRecord> {
    let json_list = |index: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = row.get(index)?;
        serde_json::from_str(&text).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(err),
            )
        })
    };
    Ok(AuditRecord {
        seq: row.get(0)?,
        time: row.get(1)?,
        actor_email: row.get(2)?,
        actor_groups: json_list(3)?,
        action: row.get(4)?,
        targets: json_list(5)?,
        outcome: row.get(6)?,
        reason: row.get(7)?,
        request_id: row.get(8)?,
        client_address: row.get(9)?,
        hash: row.get(10)?,
    })
}

impl AuditLog {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
        migrations().to_latest(&mut conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
        });
        Ok(AuditLog {
            pool: r2d2::Pool::builder().max_size(4).build(manager)?,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || work(&mut *pool.get().map_err(internal)?))
            .await
            .map_err(internal)?
    }

    /// Append one record to the chain. Callers answer only after this returns.
    pub async fn record(&self, entry: Entry) -> Result<(), AppError> {
        if entry.outcome != Outcome::Succeeded {
            tracing::info!(actor = %entry.actor_email, action = %entry.action, outcome = entry.outcome.as_str(), reason = %entry.reason, "audited");
        }
        self.run(move |conn| {
            // The write lock makes reading the last hash and appending one step.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(internal)?;
            let last: Option<(i64, String)> = tx
                .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(internal)?;
            let (previous_seq, previous_hash) = last.unwrap_or((0, GENESIS.to_owned()));
            let mut record = AuditRecord {
                seq: previous_seq + 1,
                time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                actor_email: entry.actor_email,
                actor_groups: entry.actor_groups,
                action: entry.action,
                targets: entry.targets,
                outcome: entry.outcome.as_str().to_owned(),
                reason: entry.reason,
                request_id: entry.request_id,
                client_address: entry.client_address,
                hash: String::new(),
            };
            record.hash = chain_hash(&previous_hash, &record);
            tx.execute(
                &format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    record.seq,
                    record.time,
                    record.actor_email,
                    serde_json::to_string(&record.actor_groups).map_err(internal)?,
                    record.action,
                    serde_json::to_string(&record.targets).map_err(internal)?,
                    record.outcome,
                    record.reason,
                    record.request_id,
                    record.client_address,
                    record.hash,
                ],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)
        })
        .await
    }

    /// Recompute the chain from the start; the first record that does not follow is broken.
    pub async fn verify(&self) -> Result<AuditVerification, AppError> {
        self.run(|conn| {
            let mut statement = conn
                .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
                .map_err(internal)?;
            let mut rows = statement.query([]).map_err(internal)?;
            let mut previous = GENESIS.to_owned();
            let mut expected_seq = 1;
            let mut records = 0;
            while let Some(row) = rows.next().map_err(internal)? {
                records += 1;
                let broken = match row_to_record(row) {
                    Ok(record) => {
                        let ok = record.seq == expected_seq
                            && chain_hash(&previous, &record) == record.hash;
                        previous = record.hash;
                        !ok
                    }
                    Err(_) => true,
                };
                if broken {
                    return Ok(AuditVerification {
                        records,
                        first_broken: Some(expected_seq),
                    });
                }
                expected_seq += 1;
            }
            Ok(AuditVerification {
                records,
                first_broken: None,
            })
        })
        .await
    }

    /// Records matching the filters, newest first, one page at a time; with `all`, every match
    /// oldest first (for the JSON Lines export).
    pub async fn query(
        &self,
        query: AuditQuery,
        all: bool,
    ) -> Result<(Vec<AuditRecord>, Option<String>), AppError> {
        let page_size =
            keydesk_api::parse_page_size(query.max_page_size.as_deref(), DEFAULT_PAGE_SIZE)
                .map_err(AppError::invalid)?;
        let before: Option<i64> = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(
                token
                    .parse::<i64>()
                    .ok()
                    .filter(|seq| *seq > 0)
                    .ok_or_else(|| {
                        AppError::invalid("page_token is not valid; start again without it")
                    })?,
            ),
        };
        // Compared as text with the stored times, so written the same way: to the millisecond
        // (as given, `10:00:00Z` would sort after `10:00:00.500Z`).
        let mut bounds = [None, None];
        for (bound, (name, value)) in bounds
            .iter_mut()
            .zip([("since", &query.since), ("until", &query.until)])
        {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                let time = humantime::parse_rfc3339_weak(value).map_err(|_| {
                    AppError::invalid(format!(
                        "{name} must be a time like 2026-11-22T10:00:00Z, not '{}'",
                        value.chars().take(40).collect::<String>()
                    ))
                })?;
                *bound = Some(humantime::format_rfc3339_millis(time).to_string());
            }
        }
        let [since, until] = bounds;
        if let Some(outcome) = query.outcome.as_deref().filter(|o| !o.is_empty())
            && !["succeeded", "denied", "failed"].contains(&outcome)
        {
            return Err(AppError::invalid(
                "outcome must be succeeded, denied or failed",
            ));
        }
        self.run(move |conn| {
            let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            let mut filter = |clause: &str, value: &Option<String>| {
                if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                    sql.push_str(clause);
                    args.push(Value::Text(value.to_owned()));
                }
            };
            filter(" AND actor_email = ? COLLATE NOCASE", &query.actor);
            filter(" AND action = ?", &query.action);
            filter(
                " AND EXISTS (SELECT 1 FROM json_each(targets) WHERE value = ?)",
                &query.target,
            );
            filter(" AND outcome = ?", &query.outcome);
            filter(" AND time >= ?", &since);
            filter(" AND time < ?", &until);
            if all {
                sql.push_str(" ORDER BY seq ASC");
            } else {
                if let Some(before) = before {
                    sql.push_str(" AND seq < ?");
                    args.push(Value::Integer(before));
                }
                sql.push_str(" ORDER BY seq DESC LIMIT ?");
                args.push(Value::Integer(i64::from(page_size) + 1));
            }
            let mut statement = conn.prepare(&sql).map_err(internal)?;
            let mut records = statement
                .query_map(rusqlite::params_from_iter(args), row_to_record)
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            let next = if !all && records.len() > page_size as usize {
                records.truncate(page_size as usize);
                records.last().map(|r| r.seq.to_string())
            } else {
                None
            };
            Ok((records, next))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> Entry {
        Entry {
            actor_email: "amara.okafor@example.com".into(),
            actor_groups: vec!["keydesk-admins".into()],
            action: action.into(),
            targets: vec!["ZBSTFQCWDIORFX5C56NHLY6MQV".into()],
            outcome: Outcome::Succeeded,
            reason: String::new(),
            request_id: "r1".into(),
            client_address: "127.0.0.1".into(),
        }
    }

    #[tokio::test]
    async fn a_tampered_record_breaks_the_chain_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = AuditLog::open(&path).unwrap();
        for action in ["suspend", "reactivate", "begin_recovery", "suspend"] {
            log.record(entry(action)).await.unwrap();
        }
        assert_eq!(
            log.verify().await.unwrap(),
            AuditVerification {
                records: 4,
                first_broken: None
            }
        );

        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 3", [])
            .unwrap();
        assert_eq!(log.verify().await.unwrap().first_broken, Some(3));

        conn.execute("UPDATE audit SET outcome = 'succeeded' WHERE seq = 3", [])
            .unwrap();
        conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        assert_eq!(log.verify().await.unwrap().first_broken, Some(2));
    }

    #[tokio::test]
    async fn queries_filter_and_page_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.db")).unwrap();
        for n in 0..7 {
            let mut e = entry(if n % 2 == 0 { "suspend" } else { "reactivate" });
            e.targets = vec![format!("T{n}")];
            log.record(e).await.unwrap();
        }
        let query = |action: &str, token: Option<String>| AuditQuery {
            action: Some(action.into()),
            max_page_size: Some("2".into()),
            page_token: token,
            ..AuditQuery::default()
        };
        let (first, token) = log.query(query("suspend", None), false).await.unwrap();
        assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 5]);
        let (second, token) = log.query(query("suspend", token), false).await.unwrap();
        assert_eq!(second.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(token, None);
        let by_target = AuditQuery {
            target: Some("T4".into()),
            ..AuditQuery::default()
        };
        let (found, _) = log.query(by_target, false).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].seq, 5);
        let bad = AuditQuery {
            since: Some("yesterday".into()),
            ..AuditQuery::default()
        };
        assert!(log.query(bad, false).await.is_err());
    }
}
