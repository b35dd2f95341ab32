//! A change to a 1Password account and its audit record, as one event across two systems that
//! share no transaction: Keydesk commits (and syncs) an `attempted` record before asking
//! 1Password, and a record of the outcome, which settles it, after.
//!
//! - The attempted record cannot be written: nothing is asked (503), so nothing changes
//!   unrecorded.
//! - The outcome cannot be written (the trail is locked, the disk full): it is held and written
//!   as soon as it can be.
//! - The outcome is not known (Keydesk was killed mid-call, or 1Password's answer never came):
//!   the attempt stays open, and [`Ledger::catch_up`] settles it by reading each person's state
//!   ("outcome found after restart"), at start-up and after every reading of the directory.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use keydesk_api::{AuditOutcome, AuditRecord, UserId};

use super::client::UsersApi;
use crate::{
    audit::{Attempt, AuditError, AuditLog, Entry},
    directory::DirectoryError,
};

pub struct Ledger {
    audit: Arc<AuditLog>,
    /// Outcomes known but not yet written.
    held: Mutex<Vec<Entry>>,
    /// Attempts whose call is under way: not for `catch_up` to settle.
    in_flight: Mutex<HashSet<i64>>,
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
            .insert(record.seq);
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
        if let Err(err) = self.audit.record(entry.clone()).await {
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

    /// Write the outcomes held back, then settle every attempt nobody settled by reading the
    /// people it concerned. Whatever cannot be done now is tried again next time.
    pub async fn catch_up(&self, api: &UsersApi, after_restart: bool) {
        let held = std::mem::take(&mut *self.held.lock().expect("not poisoned"));
        let mut held = held.into_iter();
        while let Some(entry) = held.next() {
            if self.audit.record(entry.clone()).await.is_err() {
                let mut keep = self.held.lock().expect("not poisoned");
                keep.push(entry);
                keep.extend(held);
                return;
            }
        }
        let unsettled = match self.audit.unsettled().await {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for unsettled changes");
                return;
            }
        };
        let in_flight = self.in_flight.lock().expect("not poisoned").clone();
        let waiting: HashSet<i64> = self
            .held
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(|entry| entry.settles)
            .collect();
        for record in unsettled {
            if in_flight.contains(&record.seq) || waiting.contains(&record.seq) {
                continue;
            }
            if let Err(err) = self.settle_by_reading(api, &record, after_restart).await {
                tracing::warn!(seq = record.seq, error = %err, "could not settle an earlier change yet");
                return;
            }
        }
    }

    /// Settle one attempt by what its people's states say now.
    async fn settle_by_reading(
        &self,
        api: &UsersApi,
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
            match api.get(&id).await {
                Ok(user) if Some(&user.state) == expected.as_ref() => {
                    done.push((target.clone(), user.state))
                }
                Ok(user) => not_done.push((target.clone(), format!("they are {}", user.state))),
                Err(DirectoryError::Missing(_) | DirectoryError::NotFound(_)) => {
                    not_done.push((target.clone(), "1Password has no such user".to_owned()));
                }
                Err(err) => return Err(err),
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
            self.audit
                .record(settling(targets, outcome))
                .await
                .map_err(|err| DirectoryError::Internal(err.to_string()))?;
        }
        tracing::info!(seq = attempt.seq, action = %attempt.action, "settled an earlier change by reading the people it concerned");
        Ok(())
    }
}
