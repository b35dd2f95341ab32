//! Reading the trail: filtered pages for the page, everything for the export, and the attempts
//! whose outcome is not yet known.

use keydesk_api::{AuditOutcome, AuditQuery, AuditRecord};
use rusqlite::types::Value;

use super::{AuditError, AuditLog, chain, people::Named};

const DEFAULT_PAGE_SIZE: u32 = 50;

/// An RFC 3339 time (any offset, any year; without an offset, UTC), written as the trail
/// writes its times, so that comparing text compares times. Before 1970 or after 9999 there are
/// no records, so those ends stand for them.
fn stored_time(text: &str) -> Option<String> {
    let timestamp = text
        .parse::<jiff::Timestamp>()
        .or_else(|_| format!("{text}Z").parse::<jiff::Timestamp>())
        .ok()?;
    let bounded = timestamp.clamp(
        jiff::Timestamp::UNIX_EPOCH,
        "9999-12-30T00:00:00Z".parse().expect("a valid time"),
    );
    Some(bounded.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The condition that `column` holds part of `text` (LIKE ignores ASCII case; `%` and `_` are
/// taken literally) or is one of the people `named` for it; `None` without a text.
fn matching(
    column: &str,
    text: &Option<String>,
    named: Vec<String>,
) -> Option<(String, Vec<Value>)> {
    let text = text.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let mut clause = format!("({column} LIKE ? ESCAPE '\\'");
    let mut values = vec![Value::Text(format!("%{escaped}%"))];
    if !named.is_empty() {
        let places = vec!["?"; named.len()].join(", ");
        clause.push_str(&format!(" OR {column} COLLATE NOCASE IN ({places})"));
        values.extend(named.into_iter().map(Value::Text));
    }
    clause.push(')');
    Some((clause, values))
}

impl AuditLog {
    /// The last five tickets `actor` gave with a change, newest first.
    pub async fn recent_tickets(&self, actor: &str) -> Result<Vec<String>, AuditError> {
        let actor = actor.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT json_extract(note, '$.ticket') AS ticket FROM audit
                 WHERE actor_email = ?1 COLLATE NOCASE AND ticket IS NOT NULL
                 GROUP BY ticket ORDER BY MAX(seq) DESC LIMIT 5",
            )?
            .query_map([actor], |row| row.get(0))?
            .collect()
        })
        .await
    }

    /// The newest record of one of `actions` succeeding for the person with ID `id`, or seen
    /// done to them in 1Password: what put them in their state, and why.
    pub async fn last_change(
        &self,
        id: &keydesk_api::UserId,
        actions: &[keydesk_api::AuditAction],
    ) -> Result<Option<AuditRecord>, AuditError> {
        // IDs are letters and digits: no LIKE wildcard can hide in one.
        let pattern = format!("%\"{id}\"%");
        let actions: Vec<String> = actions
            .iter()
            .map(|a| format!("'{}'", a.as_str()))
            .collect();
        let sql = format!(
            "SELECT {} FROM audit WHERE outcome IN ('succeeded', 'observed') AND action IN ({}) \
             AND targets LIKE ?1 ORDER BY seq DESC LIMIT 1",
            chain::COLUMNS,
            actions.join(", ")
        );
        self.run(move |conn| {
            use rusqlite::OptionalExtension;
            conn.query_row(&sql, [pattern], chain::row_to_record)
                .optional()
        })
        .await
        .map_err(AuditError::Unreadable)
    }

    /// Records matching the filters, newest first, one page at a time; with `all`, every match
    /// oldest first (for the JSON Lines export). The actor and target filters match part of the
    /// recorded email or target, or one of the people `named` for them.
    pub async fn query(
        &self,
        query: AuditQuery,
        named: Named,
        all: bool,
    ) -> Result<(Vec<AuditRecord>, Option<String>), AuditError> {
        let page_size =
            keydesk_api::parse_page_size(query.max_page_size.as_deref(), DEFAULT_PAGE_SIZE)
                .map_err(AuditError::Invalid)?;
        let before: Option<i64> = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(
                token
                    .parse::<i64>()
                    .ok()
                    .filter(|seq| *seq > 0)
                    .ok_or_else(|| {
                        AuditError::Invalid(
                            "page_token is not valid; start again without it".into(),
                        )
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
                *bound = Some(stored_time(value).ok_or_else(|| {
                    AuditError::Invalid(format!(
                        "{name} must be a time like 2026-11-22T10:00:00Z, not '{}'",
                        value.chars().take(40).collect::<String>()
                    ))
                })?);
            }
        }
        let [since, until] = bounds;
        for (name, value) in [("actor", &query.actor), ("target", &query.target)] {
            if value.as_deref().is_some_and(|v| v.chars().count() > 320) {
                return Err(AuditError::Invalid(format!(
                    "{name} is too long: at most 320 characters"
                )));
            }
        }
        // Empty is no filter; anything else is an action's exact name (a lone space or line
        // break is not one: schemathesis sent "\n").
        if let Some(action) = query.action.as_deref().filter(|a| !a.is_empty())
            && keydesk_api::AuditAction::parse(action).is_none()
        {
            let known: Vec<&str> = keydesk_api::AuditAction::ALL
                .iter()
                .map(|a| a.as_str())
                .collect();
            return Err(AuditError::Invalid(format!(
                "action must be one of {}",
                known.join(", ")
            )));
        }
        if let Some(outcome) = query.outcome.as_deref().filter(|o| !o.is_empty())
            && AuditOutcome::parse(outcome).is_none()
        {
            let known: Vec<&str> = AuditOutcome::ALL.iter().map(|o| o.as_str()).collect();
            return Err(AuditError::Invalid(format!(
                "outcome must be one of {}",
                known.join(", ")
            )));
        }
        self.run(move |conn| {
            let mut sql = format!("SELECT {} FROM audit WHERE 1 = 1", chain::COLUMNS);
            let mut args: Vec<Value> = Vec::new();
            let mut filter = |clause: &str, value: &Option<String>| {
                if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                    sql.push_str(clause);
                    args.push(Value::Text(value.to_owned()));
                }
            };
            filter(" AND action = ?", &query.action);
            filter(" AND outcome = ?", &query.outcome);
            filter(" AND time >= ?", &since);
            filter(" AND time < ?", &until);
            if let Some((clause, values)) = matching("actor_email", &query.actor, named.actors) {
                sql.push_str(&format!(" AND {clause}"));
                args.extend(values);
            }
            if let Some((clause, values)) = matching("value", &query.target, named.targets) {
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM json_each(targets) WHERE {clause})"
                ));
                args.extend(values);
            }
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
            let mut statement = conn.prepare(&sql)?;
            let mut records = statement
                .query_map(rusqlite::params_from_iter(args), chain::row_to_record)?
                .collect::<Result<Vec<_>, _>>()?;
            let next = if !all && records.len() > page_size as usize {
                records.truncate(page_size as usize);
                records.last().map(|r| r.seq.to_string())
            } else {
                None
            };
            Ok((records, next))
        })
        .await
        .map_err(AuditError::Unreadable)
    }

    /// The `attempted` records no later record settles, oldest first: changes asked of
    /// 1Password whose outcome Keydesk never learned (it stopped, or the answer never came).
    pub async fn unsettled(&self) -> Result<Vec<AuditRecord>, AuditError> {
        self.run(|conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT {} FROM audit AS a WHERE outcome = 'attempted'
                 AND NOT EXISTS (SELECT 1 FROM audit AS b WHERE b.settles = a.seq)
                 ORDER BY seq",
                chain::COLUMNS
            ))?;
            let records = statement
                .query_map([], chain::row_to_record)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(records)
        })
        .await
        .map_err(AuditError::Unreadable)
    }

    /// The number of the trail's last record (0 when it is empty).
    pub async fn last_seq(&self) -> Result<i64, AuditError> {
        self.read(|conn| {
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |row| {
                row.get(0)
            })
        })
        .await
    }

    /// The records after record `after`, by action and outcome, and the last one's number: what
    /// the metrics count since they last looked.
    pub async fn tally_after(&self, after: i64) -> Result<(Vec<Tally>, i64), AuditError> {
        self.read(move |conn| {
            let tallies = conn
                .prepare_cached(
                    "SELECT action, outcome, COUNT(*), SUM(count), MAX(seq) FROM audit
                     WHERE seq > ?1 GROUP BY action, outcome",
                )?
                .query_map([after], |row| {
                    Ok((
                        Tally {
                            action: row.get(0)?,
                            outcome: row.get(1)?,
                            records: row.get(2)?,
                            attempts: row.get(3)?,
                        },
                        row.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let last = tallies.iter().map(|(_, seq)| *seq).fold(after, i64::max);
            Ok((tallies.into_iter().map(|(tally, _)| tally).collect(), last))
        })
        .await
    }
}

/// Records of one action and outcome.
pub struct Tally {
    pub action: String,
    pub outcome: String,
    pub records: u64,
    /// What they stand for: a record of repeated refusals counts each.
    pub attempts: u64,
}

#[cfg(test)]
mod tests {
    use super::stored_time;

    #[test]
    fn times_are_read_with_any_offset_and_written_as_the_trail_writes_them() {
        let cases = [
            ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.000Z"),
            ("2026-11-22T10:00:00.5Z", "2026-11-22T10:00:00.500Z"),
            ("2026-11-22T11:00:00+01:00", "2026-11-22T10:00:00.000Z"),
            ("2026-11-22T10:00:00", "2026-11-22T10:00:00.000Z"),
            ("0001-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ];
        for (given, stored) in cases {
            assert_eq!(stored_time(given).as_deref(), Some(stored), "{given}");
        }
        assert_eq!(stored_time("yesterday"), None);
        assert_eq!(stored_time("2026-13-01T00:00:00Z"), None);
    }
}
