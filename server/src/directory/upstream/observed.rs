//! What happened in 1Password without Keydesk: a recovery completed in the admin console, a
//! suspension by the identity provider. Keydesk keeps, beside the audit trail, the state it knows
//! each person to be in (`upstream_states`): what the first reading found, then every change it
//! made (written in the transaction of the change's record) and every change it saw. A later
//! reading that disagrees found a change made elsewhere: it is recorded, outcome `observed`,
//! actor `1Password`, in the transaction that updates the known state, so that replaying the
//! trail still gives every person's state.

use std::collections::{HashMap, HashSet};

use keydesk_api::{
    AuditAction, AuditOutcome, OBSERVED_ACTOR, Observation, User, UserId, UserState,
};
use rusqlite::{Connection, Transaction, params};

use crate::audit::{AuditError, AuditLog, Entry, Note, chain};

pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS upstream_states (
            user_id TEXT PRIMARY KEY,
            state   TEXT NOT NULL
        );",
    )
}

/// Keydesk made a change: `targets` are now in `state`. Called in the transaction that writes
/// the change's record.
pub fn note_change(tx: &Transaction, targets: &[String], state: &UserState) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(
        "INSERT INTO upstream_states (user_id, state) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state",
    )?;
    for target in targets {
        statement.execute(params![target, state.as_str()])?;
    }
    Ok(())
}

/// What one reading knows.
pub struct Reading<'a> {
    /// Everyone 1Password listed, as merged from both sources.
    pub users: &'a [User],
    /// People a change of Keydesk's is under way for, or not yet settled: theirs is the
    /// ledger's to record.
    pub busy: &'a HashSet<UserId>,
    /// Whether `op` reported the CLI's states: without them, a person Keydesk knows in recovery
    /// whom the API reports as `ACTIVE` may still be in recovery, and nothing is concluded.
    pub cli_states: bool,
}

/// Compare a reading with the states Keydesk knows, record each difference as observed, and
/// return the people whose state changed so. Someone Keydesk has not known (the first reading
/// ever, someone new) is known from now on, not recorded.
pub async fn compare(audit: &AuditLog, reading: Reading<'_>) -> Result<Vec<User>, AuditError> {
    let listed: Vec<(String, UserState)> = reading
        .users
        .iter()
        .filter(|user| !reading.busy.contains(&user.id))
        .map(|user| (user.id.to_string(), user.state.clone()))
        .collect();
    let busy: HashSet<String> = reading.busy.iter().map(ToString::to_string).collect();
    let cli_states = reading.cli_states;
    let changed: Vec<String> = audit
        .write(move |tx| record_differences(tx, listed, &busy, cli_states))
        .await?;
    let changed: HashSet<String> = changed.into_iter().collect();
    Ok(reading
        .users
        .iter()
        .filter(|user| changed.contains(user.id.as_str()))
        .cloned()
        .collect())
}

fn record_differences(
    tx: &Transaction,
    listed: Vec<(String, UserState)>,
    busy: &HashSet<String>,
    cli_states: bool,
) -> rusqlite::Result<Vec<String>> {
    let known: HashMap<String, UserState> = tx
        .prepare("SELECT user_id, state FROM upstream_states")?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, UserState::parse(&row.get::<_, String>(1)?)))
        })?
        .collect::<Result<_, _>>()?;
    let mut changed = Vec::new();
    let now = std::time::SystemTime::now();
    let mut seen: HashSet<&str> = HashSet::new();
    for (id, after) in &listed {
        seen.insert(id);
        let before = match known.get(id) {
            None => {
                note_change(tx, std::slice::from_ref(id), after)?;
                continue;
            }
            Some(before) if before == after => continue,
            Some(before) => before,
        };
        // The API says ACTIVE both of someone active and of someone in recovery.
        if !cli_states && before.only_in_cli() && before.in_users_api() == *after {
            continue;
        }
        tracing::info!(user = %id, %before, %after, "seen in 1Password: a change Keydesk did not make");
        chain::append(tx, observed(id, before, after), now)?;
        changed.push(id.clone());
        note_change(tx, std::slice::from_ref(id), after)?;
    }
    // Known, not busy, and no longer listed: 1Password deleted them.
    for (id, before) in &known {
        if seen.contains(id.as_str()) || busy.contains(id) || *before == UserState::Deleted {
            continue;
        }
        tracing::info!(user = %id, %before, "seen in 1Password: no longer listed");
        chain::append(tx, observed(id, before, &UserState::Deleted), now)?;
        note_change(tx, std::slice::from_ref(id), &UserState::Deleted)?;
    }
    Ok(changed)
}

fn observed(id: &str, before: &UserState, after: &UserState) -> Entry {
    Entry {
        actor_email: OBSERVED_ACTOR.to_owned(),
        actor_groups: Vec::new(),
        action: AuditAction::observed(before, after),
        targets: vec![id.to_owned()],
        outcome: AuditOutcome::Observed,
        reason: String::new(),
        request_id: String::new(),
        client_address: String::new(),
        count: 1,
        settles: None,
        note: Note {
            observed: Some(Observation {
                before: before.clone(),
                after: after.clone(),
            }),
            ..Note::default()
        },
    }
}
