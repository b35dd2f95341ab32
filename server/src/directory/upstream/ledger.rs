//! A change to a 1Password account and its audit record, as one event across two systems that
//! share no transaction: Keydesk commits (and syncs) an `attempted` record before asking
//! 1Password, and a record of the outcome, which settles it, after.
//!
//! - The attempted record cannot be written: nothing is asked (503), so nothing changes
//!   unrecorded.
//! - The outcome cannot be written (the trail is locked, the disk full): it is held and written
//!   as soon as it can be.
//! - The outcome is not known (Keydesk was killed mid-call, or 1Password's answer never came):
//!   the attempt stays open, and [`Ledger::catch_up`] settles it by each person's state in the
//!   next reading of the directory ("outcome found after restart"), at start-up and after every
//!   reading.
//!
//! A change that succeeded also moves the state Keydesk knows the person in (see
//! [`super::observed`]), in the transaction of its record: a later reading then sees nothing
//! that Keydesk did not do.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use keydesk_api::{AuditOutcome, AuditRecord, UserId, UserState};

use super::observed;
use crate::{
    audit::{Attempt, AuditError, AuditLog, Entry, chain},
    directory::DirectoryError,
};

pub struct Ledger {
    audit: Arc<AuditLog>,
    /// Outcomes known but not yet written.
    held: Mutex<Vec<Entry>>,
    /// Attempts whose call is under way, with their people: not for `catch_up` to settle.
    in_flight: Mutex<HashMap<i64, Vec<String>>>,
}

/// An attempt whose record is written and whose call may now be made.
pub struct Open {
    seq: i64,
}

impl Ledger {
    pub fn new(audit: Arc<AuditLog>) -> Self {
        Ledger {
            audit,
            held: Mutex::default(),
            in_flight: Mutex::default(),
        }
    }

    /// Record that `attempt` is about to ask 1Password to change `targets`. Without this
    /// record, nothing is asked.
    pub async fn open(
        &self,
        attempt: &Attempt,
        targets: &[UserId],
    ) -> Result<Open, DirectoryError> {
        let entry = attempt.entry(
            targets.iter().map(ToString::to_string).collect(),
            AuditOutcome::Attempted,
            String::new(),
        );
        let record = self.audit.record(entry).await.map_err(|err| match err {
            AuditError::Unwritable(err) => DirectoryError::Storage(err),
            other => DirectoryError::Internal(other.to_string()),
        })?;
        attempt.mark_recorded();
        self.in_flight
            .lock()
            .expect("not poisoned")
            .insert(record.seq, record.targets.clone());
        Ok(Open { seq: record.seq })
    }

    /// Record how (part of) an open attempt ended. Never fails: an outcome the trail cannot
    /// take now is held and written later.
    pub async fn settle(
        &self,
        attempt: &Attempt,
        open: &Open,
        targets: Vec<String>,
        outcome: AuditOutcome,
        reason: String,
    ) {
        let entry = Entry {
            settles: Some(open.seq),
            ..attempt.entry(targets, outcome, reason)
        };
        if let Err(err) = self.write(entry.clone()).await {
            tracing::error!(error = %err, seq = open.seq, "the outcome of a change could not be recorded yet; it is held and will be");
            self.held.lock().expect("not poisoned").push(entry);
        }
    }

    /// The call is over: settled above, or left open for `catch_up` when its outcome is not
    /// known.
    pub fn close(&self, open: Open) {
        self.in_flight
            .lock()
            .expect("not poisoned")
            .remove(&open.seq);
    }

    /// Append one outcome; a success also moves the state Keydesk knows its people in, in the
    /// same transaction.
    async fn write(&self, entry: Entry) -> Result<AuditRecord, AuditError> {
        let state = match entry.outcome {
            AuditOutcome::Succeeded => entry.action.resulting_state(),
            _ => None,
        };
        self.audit
            .write(move |tx| {
                if let Some(state) = &state {
                    observed::note_change(tx, &entry.targets, state)?;
                }
                chain::append(tx, entry, std::time::SystemTime::now())
            })
            .await
    }

    /// Write the outcomes held back, then settle every attempt nobody settled by the states of
    /// its people in a reading of the directory (`states`). Whatever cannot be done now is tried
    /// again next time. Answers the people whose changes are still under way or unsettled: a
    /// difference the reading shows for them is theirs to explain, not a change made elsewhere.
    pub async fn catch_up(
        &self,
        states: &HashMap<UserId, UserState>,
        after_restart: bool,
    ) -> HashSet<UserId> {
        let held = std::mem::take(&mut *self.held.lock().expect("not poisoned"));
        let mut held = held.into_iter();
        while let Some(entry) = held.next() {
            if self.write(entry.clone()).await.is_err() {
                let mut keep = self.held.lock().expect("not poisoned");
                keep.push(entry);
                keep.extend(held);
                return self.busy(Vec::new());
            }
        }
        let unsettled = match self.audit.unsettled().await {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for unsettled changes");
                return self.busy(Vec::new());
            }
        };
        let in_flight: HashSet<i64> = self
            .in_flight
            .lock()
            .expect("not poisoned")
            .keys()
            .copied()
            .collect();
        let waiting: HashSet<i64> = self
            .held
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|entry| entry.settles)
            .collect();
        let mut left = Vec::new();
        for record in unsettled {
            if in_flight.contains(&record.seq) || waiting.contains(&record.seq) {
                left.push(record);
                continue;
            }
            if let Err(err) = self.settle_by_reading(states, &record, after_restart).await {
                tracing::warn!(seq = record.seq, error = %err, "could not settle an earlier change yet");
                left.push(record);
            }
        }
        self.busy(left)
    }

    /// The people of changes under way, held, or `unsettled`.
    fn busy(&self, unsettled: Vec<AuditRecord>) -> HashSet<UserId> {
        let held = self.held.lock().expect("not poisoned");
        let targets = unsettled
            .iter()
            .flat_map(|record| record.targets.clone())
            .chain(held.iter().flat_map(|entry| entry.targets.clone()))
            .chain(self.in_flight_targets());
        targets
            .filter_map(|target| UserId::parse(&target).ok())
            .collect()
    }

    fn in_flight_targets(&self) -> Vec<String> {
        self.in_flight
            .lock()
            .expect("not poisoned")
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Settle one attempt by its people's states in a reading.
    async fn settle_by_reading(
        &self,
        states: &HashMap<UserId, UserState>,
        attempt: &AuditRecord,
        after_restart: bool,
    ) -> Result<(), DirectoryError> {
        let expected = attempt.action.resulting_state();
        let when = if after_restart {
            "outcome found after restart"
        } else {
            "outcome found afterwards, 1Password's answer having never come"
        };
        let mut done = Vec::new();
        let mut not_done = Vec::new();
        for target in &attempt.targets {
            let Ok(id) = UserId::parse(target) else {
                not_done.push((target.clone(), "not a user ID".to_owned()));
                continue;
            };
            match states.get(&id) {
                Some(state) if Some(state) == expected.as_ref() => {
                    done.push((target.clone(), state.clone()))
                }
                Some(state) => not_done.push((target.clone(), format!("they are {state}"))),
                None => {
                    not_done.push((target.clone(), "1Password has no such user".to_owned()));
                }
            }
        }
        let settling = |targets: Vec<(String, String)>, outcome: AuditOutcome| Entry {
            actor_email: attempt.actor_email.clone(),
            actor_groups: attempt.actor_groups.clone(),
            action: attempt.action,
            reason: format!(
                "{when}: {}",
                targets
                    .iter()
                    .map(|(_, why)| why.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            targets: targets.into_iter().map(|(target, _)| target).collect(),
            outcome,
            request_id: attempt.request_id.clone(),
            client_address: attempt.client_address.clone(),
            count: 1,
            settles: Some(attempt.seq),
            note: crate::audit::Note::of(attempt),
        };
        let done: Vec<(String, String)> = done
            .into_iter()
            .map(|(target, state)| (target, format!("they are {state}")))
            .collect();
        for (targets, outcome) in [
            (done, AuditOutcome::Succeeded),
            (not_done, AuditOutcome::Failed),
        ] {
            if targets.is_empty() {
                continue;
            }
            self.write(settling(targets, outcome))
                .await
                .map_err(|err| DirectoryError::Internal(err.to_string()))?;
        }
        tracing::info!(seq = attempt.seq, action = %attempt.action, "settled an earlier change by reading the people it concerned");
        Ok(())
    }
}
