//! Reading the trail: filtered pages for the page, everything for the export, and the attempts
//! whose outcome is not yet known.

use keydesk_api::{AuditOutcome, AuditQuery, AuditRecord};
use rusqlite::types::Value;

use super::{AuditError, AuditLog, chain};

const DEFAULT_PAGE_SIZE: u32 = 50;

impl AuditLog {
    /// Records matching the filters, newest first, one page at a time; with `all`, every match
    /// oldest first (for the JSON Lines export).
    pub async fn query(
        &self,
        query: AuditQuery,
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
                let time = humantime::parse_rfc3339_weak(value).map_err(|_| {
                    AuditError::Invalid(format!(
                        "{name} must be a time like 2026-11-22T10:00:00Z, not '{}'",
                        value.chars().take(40).collect::<String>()
                    ))
                })?;
                *bound = Some(humantime::format_rfc3339_millis(time).to_string());
            }
        }
        let [since, until] = bounds;
        if let Some(outcome) = query.outcome.as_deref().filter(|o| !o.is_empty())
            && AuditOutcome::parse(outcome.trim()).is_none()
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
}
