//! Making one taken change: unless the person changed since it was scheduled, and with a
//! record of whatever happened.

use std::time::SystemTime;

use keydesk_api::{AuditAction, AuditOutcome, ErrorStatus, ScheduleStatus, ScheduledChange, User};

use super::{Scheduler, describe, stamp, states, store};
use crate::{
    audit::{Attempt, chain},
    directory::DirectoryError,
    error::AppError,
};

impl Scheduler {
    /// Make a taken change unless the person's state changed since it was scheduled, and say
    /// how it went in the table; every outcome is recorded (by the directory, or here).
    pub(super) async fn make(
        &self,
        change: &ScheduledChange,
        attempt: &Attempt,
        now: SystemTime,
    ) -> Result<User, AppError> {
        let (before, after) = states(change.action).expect("only these are stored");
        let id = change.id;
        let request_id = format!("scheduled-{id}");
        let user = match self.directory.known_user(&change.user_id).await {
            Ok(user) => user,
            Err(err @ DirectoryError::NotFound(_)) => {
                let err = AppError::from(err);
                return Err(self
                    .settle(change, attempt, now, ScheduleStatus::Failed, err)
                    .await);
            }
            Err(err) => return Err(err.into()),
        };
        let last = self
            .audit
            .last_change(
                &change.user_id,
                &[
                    AuditAction::Suspend,
                    AuditAction::Reactivate,
                    AuditAction::BeginRecovery,
                    AuditAction::CompleteRecovery,
                ],
            )
            .await?;
        // Made before this process died, between the change and noting it here.
        if user.state == after && last.as_ref().is_some_and(|r| r.request_id == request_id) {
            let at = stamp(now);
            self.audit
                .write(move |tx| store::finish(tx, id, ScheduleStatus::Done, &at, "Made"))
                .await?;
            attempt.mark_recorded();
            return Ok(user);
        }
        let scheduled_seq = self
            .audit
            .read(move |conn| store::scheduled_seq(conn, id))
            .await?;
        let by_hand = last
            .filter(|record| record.seq > scheduled_seq)
            .map(|record| record.actor_email);
        if user.state != before || by_hand.is_some() {
            let why = match by_hand {
                Some(actor) => format!(
                    "skipped: {} was changed by {actor} after it was scheduled, and is {} now",
                    describe(&user),
                    user.state.label()
                ),
                None => format!("skipped: {} is {} now", describe(&user), user.state.label()),
            };
            let err = AppError::new(ErrorStatus::FailedPrecondition, why);
            return Err(self
                .settle(change, attempt, now, ScheduleStatus::Skipped, err)
                .await);
        }
        let made = match change.action {
            AuditAction::Suspend => self.directory.suspend_user(&change.user_id, attempt).await,
            _ => {
                self.directory
                    .reactivate_user(&change.user_id, attempt)
                    .await
            }
        };
        match made {
            Ok(user) => {
                let at = stamp(now);
                let outcome = match &attempt.note.reason {
                    Some(reason) if reason.contains("ran late") => "Made, late",
                    _ => "Made",
                };
                self.audit
                    .write(move |tx| store::finish(tx, id, ScheduleStatus::Done, &at, outcome))
                    .await?;
                self.events.user(&user);
                self.events.scheduled();
                Ok(user)
            }
            Err(err) => {
                let err = AppError::from(err);
                if err.retry_after.is_some() || err.status == ErrorStatus::Unavailable {
                    return Err(err);
                }
                Err(self
                    .settle(change, attempt, now, ScheduleStatus::Failed, err)
                    .await)
            }
        }
    }

    /// Record a change that was not made, and note it in the table, in one transaction.
    async fn settle(
        &self,
        change: &ScheduledChange,
        attempt: &Attempt,
        now: SystemTime,
        status: ScheduleStatus,
        err: AppError,
    ) -> AppError {
        let id = change.id;
        let outcome = match status {
            ScheduleStatus::Skipped => AuditOutcome::Denied,
            _ => AuditOutcome::Failed,
        };
        let recorded = attempt.is_recorded();
        let entry = attempt.entry(
            vec![change.user_id.to_string()],
            outcome,
            err.message.clone(),
        );
        let message = err.message.clone();
        let written = self
            .audit
            .write(move |tx| {
                store::finish(tx, id, status, &stamp(now), &message)?;
                if !recorded {
                    chain::append(tx, entry, SystemTime::now())?;
                }
                Ok(())
            })
            .await;
        match written {
            Ok(()) => {
                attempt.mark_recorded();
                self.events.scheduled();
                err
            }
            Err(unwritten) => unwritten.into(),
        }
    }
}
