//! What happened in 1Password without Keydesk: a recovery completed in the admin console, a
//! suspension by the identity provider. Keydesk keeps, beside the audit trail, the state it knows
//! each person to be in (`upstream_states`): what the first reading found, then every change it
//! made (written in the transaction of the change's record) and every change it saw. A later
//! reading that disagrees found a change made elsewhere: it is recorded, outcome `observed`,
//! actor `1Password`, in the transaction that updates the known state, so that replaying the
//! trail still gives every person's state.
//!
//! A reading without the CLI's states (`op` failing) knows less: its ACTIVE may be someone in
//! recovery. What it alone says is kept as uncertain, and a later reading that only says it more
//! precisely (ACTIVE, then RECOVERY_ACCEPTED) refines it without a record; one that contradicts
//! it (SUSPENDED) is a change.

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
            state   TEXT NOT NULL,
            -- 0: read without the CLI's states, as vague as the Users API (ACTIVE may be more).
            certain INTEGER NOT NULL DEFAULT 1
        );",
    )
}

/// Keydesk made a change: `targets` are now in `state`. Called in the transaction that writes
/// the change's record.
pub fn note_change(
    tx: &Transaction,
    targets: &[String],
    state: &UserState,
) -> rusqlite::Result<()> {
    for target in targets {
        know(tx, target, state, true)?;
    }
    Ok(())
}

fn know(tx: &Transaction, id: &str, state: &UserState, certain: bool) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO upstream_states (user_id, state, certain) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, certain = excluded.certain",
    )?
    .execute(params![id, state.as_str(), certain])?;
    Ok(())
}

/// A state the Users API gives for more than one of the CLI's (ACTIVE, STATE_UNSPECIFIED).
fn vague(state: &UserState) -> bool {
    UserState::KNOWN
        .iter()
        .any(|cli| cli.only_in_cli() && cli.in_users_api() == *state)
}

/// The states Keydesk knows, for a reading without the CLI's to fall back on.
pub async fn known(audit: &AuditLog) -> Result<HashMap<UserId, UserState>, AuditError> {
    audit
        .read(|conn| {
            conn.prepare("SELECT user_id, state FROM upstream_states")?
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .map(|row| {
                    row.map(|(id, state)| (UserId::parse(&id).ok(), UserState::parse(&state)))
                })
                .filter_map(|row| match row {
                    Ok((Some(id), state)) => Some(Ok((id, state))),
                    Ok((None, _)) => None,
                    Err(err) => Some(Err(err)),
                })
                .collect()
        })
        .await
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
    let known: HashMap<String, (UserState, bool)> = tx
        .prepare("SELECT user_id, state, certain FROM upstream_states")?
        .query_map([], |row| {
            let state = UserState::parse(&row.get::<_, String>(1)?);
            Ok((row.get::<_, String>(0)?, (state, row.get::<_, bool>(2)?)))
        })?
        .collect::<Result<_, _>>()?;
    let mut changed = Vec::new();
    let now = std::time::SystemTime::now();
    let mut seen: HashSet<&str> = HashSet::new();
    for (id, after) in &listed {
        seen.insert(id);
        let certain = cli_states || !vague(after);
        let Some((before, was_certain)) = known.get(id) else {
            know(tx, id, after, certain)?;
            continue;
        };
        let same = before == after
            // This reading is vaguer than what Keydesk knows: the API says ACTIVE both of
            // someone active and of someone in recovery.
            || (!certain && before.in_users_api() == *after);
        if same {
            if certain && !was_certain {
                know(tx, id, after, true)?;
            }
            continue;
        }
        // What Keydesk knew was vaguer, and this only says it more precisely.
        if !was_certain && after.in_users_api() == *before {
            know(tx, id, after, certain)?;
            continue;
        }
        tracing::info!(user = %id, %before, %after, "seen in 1Password: a change Keydesk did not make");
        chain::append(tx, observed(id, before, after), now)?;
        changed.push(id.clone());
        know(tx, id, after, certain)?;
    }
    // Known, not busy, and no longer listed: 1Password deleted them.
    for (id, (before, _)) in &known {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(conn: &mut Connection, steps: &[(&[(&str, UserState)], bool)]) -> Vec<Vec<String>> {
        steps
            .iter()
            .map(|(listed, cli_states)| {
                let listed = listed
                    .iter()
                    .map(|(id, s)| (id.to_string(), s.clone()))
                    .collect();
                let tx = conn.transaction().unwrap();
                let changed =
                    record_differences(&tx, listed, &HashSet::new(), *cli_states).unwrap();
                tx.commit().unwrap();
                changed
            })
            .collect()
    }

    fn trail() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        chain::prepare(&conn).unwrap();
        prepare(&conn).unwrap();
        conn
    }

    #[test]
    fn only_a_change_is_recorded_and_only_once() {
        use UserState::*;
        let mut conn = trail();
        let changed = readings(
            &mut conn,
            &[
                (&[("A", Active), ("B", RecoveryAccepted)], true),
                (&[("A", Active), ("B", RecoveryAccepted)], true),
                (&[("A", Suspended), ("B", Active)], true),
                (&[("A", Suspended), ("B", Active)], true),
                (&[("B", Active)], true),
            ],
        );
        assert_eq!(changed, [vec![], vec![], vec!["A", "B"], vec![], vec![]]);
        let actions: Vec<String> = conn
            .prepare("SELECT action || ' ' || outcome FROM audit ORDER BY seq")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            actions,
            [
                "suspend observed",
                "complete_recovery observed",
                "change_state observed"
            ]
        );
    }

    #[test]
    fn a_reading_without_the_clis_states_concludes_nothing_it_cannot_know() {
        use UserState::*;
        let mut conn = trail();
        let changed = readings(
            &mut conn,
            &[
                // The first reading, without op: B's ACTIVE may be a recovery.
                (
                    &[("A", Active), ("B", Active), ("C", RecoveryStarted)],
                    false,
                ),
                // op again: B was in recovery all along; C too.
                (
                    &[
                        ("A", Active),
                        ("B", RecoveryAccepted),
                        ("C", RecoveryStarted),
                    ],
                    true,
                ),
                // op gone again: C's ACTIVE says nothing; A's suspension is the API's word.
                (&[("A", Suspended), ("B", Active), ("C", Active)], false),
            ],
        );
        assert_eq!(changed, [vec![], vec![], vec!["A"]]);
    }
}
