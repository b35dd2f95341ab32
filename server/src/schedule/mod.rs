//! Scheduled changes: a suspension or reactivation Keydesk makes by itself at a set time.
//!
//! They live in the audit trail's file ([`store`]), written in one transaction with the record
//! of scheduling or cancelling them, so they survive restarts. Every Keydesk process sharing the
//! file looks for due changes ([`Scheduler::tick`]) and takes each in a write transaction, so
//! each is made once; one that was due while no Keydesk ran is made at the next start, and its
//! record says it ran late. Made by `scheduler` on behalf of whoever scheduled it, through the
//! directory like any change, so its record is written with it. If the person's state changed
//! since (someone reactivated them by hand), the change is skipped, and the skip is recorded.
//!
//! Time is an input: [`Scheduler::tick`] takes `now`, so tests move the clock instead of waiting.

mod make;
pub mod store;

use std::{
    sync::{Arc, Weak},
    time::{Duration, SystemTime},
};

use keydesk_api::{
    AuditAction, AuditOutcome, ErrorStatus, ScheduleRequest, ScheduleStatus, ScheduledChange,
    ScheduledList, User, UserId, UserState,
};

use crate::{
    audit::{Attempt, AuditLog, Note, chain},
    directory::Directory,
    error::AppError,
    events::Events,
};

/// Who makes a scheduled change, in its record.
pub const ACTOR: &str = "scheduler";
/// A change taken by a process that has not finished it in this long is taken again (the
/// process died); the person's state then says whether it was made.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Made later than this after its time, a change says it ran late.
const LATE_AFTER: Duration = Duration::from_secs(2 * 60);
/// How far ahead a change may be scheduled.
const FURTHEST: Duration = Duration::from_secs(2 * 366 * 24 * 3600);

fn stamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The state a person must be in for `action` to be made, and the one it leaves them in.
fn states(action: AuditAction) -> Option<(UserState, UserState)> {
    match action {
        AuditAction::Suspend => Some((UserState::Active, UserState::Suspended)),
        AuditAction::Reactivate => Some((UserState::Suspended, UserState::Active)),
        _ => None,
    }
}

fn describe(user: &User) -> String {
    format!("{} <{}>", user.display_name, user.email)
}

pub struct Scheduler {
    audit: Arc<AuditLog>,
    directory: Arc<dyn Directory>,
    events: Arc<Events>,
}

impl Scheduler {
    pub fn new(audit: Arc<AuditLog>, directory: Arc<dyn Directory>, events: Arc<Events>) -> Self {
        Scheduler {
            audit,
            directory,
            events,
        }
    }

    /// Schedule a change, recorded with `attempt` in the same transaction.
    pub async fn add(
        &self,
        request: ScheduleRequest,
        attempt: &Attempt,
        now: SystemTime,
    ) -> Result<ScheduledChange, AppError> {
        let Some((before, _)) = states(request.action) else {
            return Err(AppError::invalid(format!(
                "only suspend and reactivate can be scheduled, not {}",
                request.action
            )));
        };
        let due = due_time(&request.due_time, now)?;
        let user = self.directory.known_user(&request.user_id).await?;
        if user.state != before {
            return Err(AppError::new(
                ErrorStatus::FailedPrecondition,
                format!(
                    "{} is {}: a scheduled {} is for someone who is {}",
                    describe(&user),
                    user.state.label(),
                    request.action,
                    before.label()
                ),
            ));
        }
        let change = ScheduledChange {
            id: 0,
            user_id: request.user_id.clone(),
            person: describe(&user),
            action: request.action,
            due_time: due.clone(),
            scheduled_by: attempt.actor_email.clone(),
            scheduled_time: stamp(now),
            reason: attempt.note.reason.clone(),
            ticket: attempt.note.ticket.clone(),
            status: ScheduleStatus::Pending,
            finished_time: None,
            outcome: None,
        };
        let what = format!("{} at {due}", request.action);
        let entry = attempt.entry(
            vec![request.user_id.to_string()],
            AuditOutcome::Succeeded,
            what,
        );
        let row = change.clone();
        let id = self
            .audit
            .write(move |tx| {
                let id = store::insert(tx, &row)?;
                let record = chain::append(tx, entry, SystemTime::now())?;
                store::set_scheduled_seq(tx, id, record.seq)?;
                Ok(id)
            })
            .await?;
        attempt.mark_recorded();
        self.events.scheduled();
        Ok(ScheduledChange { id, ..change })
    }

    /// One scheduled change, as stored.
    pub async fn get(&self, id: i64) -> Result<ScheduledChange, AppError> {
        self.audit
            .read(move |conn| store::get(conn, id))
            .await?
            .ok_or_else(|| AppError::not_found(format!("there is no scheduled change {id}")))
    }

    /// Call off a pending change, recorded with `attempt` in the same transaction.
    pub async fn cancel(
        &self,
        change: ScheduledChange,
        attempt: &Attempt,
        now: SystemTime,
    ) -> Result<ScheduledChange, AppError> {
        let what = format!("{} at {}", change.action, change.due_time);
        let entry = attempt.entry(
            vec![change.user_id.to_string()],
            AuditOutcome::Succeeded,
            what,
        );
        let outcome = format!("Cancelled by {}", attempt.actor_email);
        let id = change.id;
        let cancelled = self
            .audit
            .write(move |tx| {
                let pending = store::get(tx, id)?.filter(|c| c.status == ScheduleStatus::Pending);
                if pending.is_some() {
                    store::finish(tx, id, ScheduleStatus::Cancelled, &stamp(now), &outcome)?;
                    chain::append(tx, entry, SystemTime::now())?;
                }
                Ok(pending.is_some())
            })
            .await?;
        if !cancelled {
            return Err(AppError::new(
                ErrorStatus::FailedPrecondition,
                format!("scheduled change {id} is no longer pending: it ran or was cancelled"),
            ));
        }
        attempt.mark_recorded();
        self.events.scheduled();
        self.get(id).await
    }

    /// What is pending and what ran lately, of one person if given, with names as the
    /// directory has them now.
    pub async fn list(&self, user: Option<UserId>) -> Result<ScheduledList, AppError> {
        let (mut pending, mut recent) = self
            .audit
            .read(move |conn| store::list(conn, user.as_ref()))
            .await?;
        for change in pending.iter_mut().chain(recent.iter_mut()) {
            if let Ok(user) = self.directory.known_user(&change.user_id).await {
                change.person = describe(&user);
            }
        }
        Ok(ScheduledList { pending, recent })
    }

    /// How many changes are not yet made.
    pub async fn pending(&self) -> Result<i64, crate::audit::AuditError> {
        self.audit.read(store::pending).await
    }

    /// Make every change due at `now`; the IDs of those this process made or skipped.
    pub async fn tick(&self, now: SystemTime) -> Result<Vec<i64>, AppError> {
        let (at, stale) = (stamp(now), stamp(now - STALE_AFTER));
        let due = {
            let (at, stale) = (at.clone(), stale.clone());
            self.audit
                .read(move |conn| store::due(conn, &at, &stale))
                .await?
        };
        let mut handled = Vec::new();
        for id in due {
            let (at, stale) = (at.clone(), stale.clone());
            let taken = self
                .audit
                .write(move |tx| store::claim(tx, id, &at, &stale))
                .await?;
            if !taken {
                continue; // another Keydesk process has it
            }
            let change = self.get(id).await?;
            let late = now
                .duration_since(humantime::parse_rfc3339(&change.due_time).unwrap_or(now))
                .is_ok_and(|by| by > LATE_AFTER);
            let mut note = Note {
                reason: change.reason.clone(),
                ticket: change.ticket.clone(),
                on_behalf_of: Some(change.scheduled_by.clone()),
                ..Note::default()
            };
            if late {
                // Keydesk was not running when it was due: the record says so.
                let said = note.reason.map(|r| format!("{r}; ")).unwrap_or_default();
                note.reason = Some(format!("{said}ran late: it was due at {}", change.due_time));
            }
            let attempt = Attempt::new(
                ACTOR.to_owned(),
                Vec::new(),
                change.action,
                format!("scheduled-{id}"),
                ACTOR.to_owned(),
            )
            .with_note(note);
            match self.make(&change, &attempt, now).await {
                Err(err) if err.retry_after.is_some() || err.status == ErrorStatus::Unavailable => {
                    // 1Password or a database is unavailable: give it back for the next round.
                    tracing::warn!(id, error = %err.message, "a scheduled change could not be made yet");
                    self.audit.write(move |tx| store::release(tx, id)).await?;
                }
                _ => handled.push(id),
            }
        }
        Ok(handled)
    }

    /// Take a pending change to make it now, for `attempt`'s actor ("Run now").
    pub async fn run_now(
        &self,
        change: &ScheduledChange,
        attempt: &Attempt,
        now: SystemTime,
    ) -> Result<User, AppError> {
        let (id, at) = (change.id, stamp(now));
        let stale = stamp(now - STALE_AFTER);
        if !self
            .audit
            .write(move |tx| store::claim(tx, id, &at, &stale))
            .await?
        {
            return Err(AppError::new(
                ErrorStatus::FailedPrecondition,
                format!("scheduled change {id} is no longer pending: it ran or was cancelled"),
            ));
        }
        let result = self.make(change, attempt, now).await;
        if let Err(err) = &result
            && (err.retry_after.is_some() || err.status == ErrorStatus::Unavailable)
        {
            self.audit.write(move |tx| store::release(tx, id)).await?;
        }
        result
    }
}

/// `text` as the table writes times, if it is in the future and not too far.
fn due_time(text: &str, now: SystemTime) -> Result<String, AppError> {
    let time = text
        .parse::<jiff::Timestamp>()
        .map_err(|_| {
            AppError::invalid(format!(
                "due_time '{}' is not an RFC 3339 time such as 2026-12-24T17:00:00Z",
                crate::auth::printable(&text.chars().take(40).collect::<String>())
            ))
        })
        .map(SystemTime::from)?;
    // Well-formed, but not now: a 409, like a state that does not allow a change.
    if time <= now {
        return Err(AppError::new(
            ErrorStatus::FailedPrecondition,
            "due_time has passed: a change is scheduled for a time in the future",
        ));
    }
    if time > now + FURTHEST {
        return Err(AppError::new(
            ErrorStatus::FailedPrecondition,
            "due_time may be at most two years ahead",
        ));
    }
    Ok(stamp(time))
}

/// Make due changes every `period`, from the start (what was due while Keydesk was down first),
/// until the scheduler is dropped.
pub async fn run_every(scheduler: Weak<Scheduler>, period: Duration) {
    loop {
        let Some(scheduler) = scheduler.upgrade() else {
            return;
        };
        if let Err(err) = scheduler.tick(SystemTime::now()).await {
            tracing::warn!(error = %err.message, "scheduled changes could not be looked at");
        }
        drop(scheduler);
        tokio::time::sleep(period).await;
    }
}
