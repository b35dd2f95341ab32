//! What a change is: who it is for, what it is called, and what its dialog says will happen.
//! The dialog that asks for it and sends it is `changes.rs`.

use keydesk_api::{MAX_RECOVERY_BATCH, User, UserMethod};
use leptos::prelude::*;

use crate::{
    Counts,
    components::{StateBadge, row_action::RowAction, wording::Words},
};

/// A change asked for and not yet confirmed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// One custom method on one person: suspend, reactivate, resend the recovery email.
    /// (Boxed: a `User` is large beside the other variants' vectors.)
    One { method: UserMethod, user: Box<User> },
    /// Begin recovery for one to ten people: everyone or nobody.
    BeginRecovery(Vec<User>),
    /// One method for several people, one request each: completing recoveries, or a batch
    /// suspension or reactivation (up to [`MAX_BATCH`]).
    Each(UserMethod, Vec<User>),
}

/// The most people a batch suspension or reactivation takes at once.
pub const MAX_BATCH: usize = 50;

/// Why a begin-recovery for this many people cannot even be asked; `None` when it can.
pub fn begin_recovery_refusal(count: usize) -> Option<String> {
    match count {
        0 => Some("Select at least one person to begin recovery.".to_owned()),
        n if n > MAX_RECOVERY_BATCH => Some(format!(
            "You selected {n} people. Recovery can begin for at most {MAX_RECOVERY_BATCH} at once: \
             clear some and try again."
        )),
        _ => None,
    }
}

pub(super) fn people(count: usize) -> String {
    if count == 1 {
        "1 person".to_owned()
    } else {
        format!("{count} people")
    }
}

pub(super) fn names(users: &[User]) -> String {
    users
        .iter()
        .map(|u| u.display_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Change {
    /// The change a person's action asks for, for them alone.
    pub fn of(action: RowAction, user: User) -> Change {
        match action {
            RowAction::BeginRecovery => Change::BeginRecovery(vec![user]),
            RowAction::Method(UserMethod::CompleteRecovery) => {
                Change::Each(UserMethod::CompleteRecovery, vec![user])
            }
            RowAction::Method(method) => Change::One {
                method,
                user: Box::new(user),
            },
        }
    }

    /// What this change is called (components/wording.rs).
    pub(super) fn words(&self) -> &'static Words {
        match self {
            Change::One { method, .. } => RowAction::Method(*method).words(),
            Change::BeginRecovery(_) => RowAction::BeginRecovery.words(),
            Change::Each(method, _) => RowAction::Method(*method).words(),
        }
    }

    pub fn title(&self) -> String {
        let who = match self {
            Change::One { user, .. } => user.display_name.clone(),
            Change::BeginRecovery(users) | Change::Each(_, users) => match &users[..] {
                [user] => user.display_name.clone(),
                users => people(users.len()),
            },
        };
        let (before, after) = self.words().title;
        format!("{before}{who}{after}")
    }

    /// The confirm button, and its label while in flight.
    pub(super) fn labels(&self) -> (&'static str, &'static str) {
        self.words().confirm
    }

    /// The change with `fresh` in place of the person it names, if their state is not what the
    /// dialog shows.
    pub(super) fn with_fresh(mut self, fresh: &User) -> Option<Change> {
        let users: Vec<&mut User> = match &mut self {
            Change::One { user, .. } => vec![user.as_mut()],
            Change::BeginRecovery(users) | Change::Each(_, users) => users.iter_mut().collect(),
        };
        let stale = users
            .into_iter()
            .find(|user| user.id == fresh.id && user.state != fresh.state)?;
        *stale = fresh.clone();
        Some(self)
    }

    /// Destructive changes start with focus on Cancel.
    pub(super) fn destructive(&self) -> bool {
        !matches!(
            self,
            Change::One {
                method: UserMethod::Reactivate,
                ..
            } | Change::Each(UserMethod::Reactivate, _)
        )
    }
}

/// A completed request for one person in a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub user: User,
    /// `None` while waiting, then the result.
    pub result: Option<Result<(), String>>,
}

/// What the dialog says will happen, naming everyone affected.
#[component]
pub fn ChangeSummary(
    change: Change,
    #[prop(into)] outcomes: Signal<Vec<Outcome>>,
) -> impl IntoView {
    match change {
        Change::One { method, user } => {
            let consequence = RowAction::Method(method).words().consequence;
            // Suspending one of two active owners is allowed, but leaves the account one
            // person away from having nobody who can manage it.
            let owners = use_context::<Counts>()
                .and_then(|counts| counts.counts.get_untracked()?.active_owners);
            let leaves_one_owner = method == UserMethod::Suspend
                && owners == Some(2)
                && user.role == Some(keydesk_api::Role::Owner)
                && user.state == keydesk_api::UserState::Active;
            view! {
                <PeopleList users=vec![*user] outcomes />
                <p>{consequence}</p>
                {leaves_one_owner.then(|| view! {
                    <p class="warning" role="note">
                        <strong>"This leaves one active owner. "</strong>
                        "If that person loses access, nobody can manage the account: make someone \
                         else an owner soon."
                    </p>
                })}
            }
            .into_any()
        }
        Change::BeginRecovery(users) => view! {
            <PeopleList users outcomes />
            <p><strong>"What recovery does:"</strong></p>
            <ul class="warnings">
                <li>"Each person gets an email with a link to confirm their address."</li>
                <li>"They receive a new Secret Key and choose a new account password."</li>
                <li>"They cannot sign in until an admin completes the recovery."</li>
                <li>"Completing it signs them out of every device and resets their two-factor authentication."</li>
            </ul>
        }
        .into_any(),
        Change::Each(method, users) => view! {
            <PeopleList users outcomes />
            <p>{RowAction::Method(method).words().consequence}</p>
        }
        .into_any(),
    }
}

/// Everyone a change affects: name, email, current state, and once a batch runs, what became
/// of each.
#[component]
fn PeopleList(users: Vec<User>, outcomes: Signal<Vec<Outcome>>) -> impl IntoView {
    let people = users
        .into_iter()
        .map(|user| {
            let id = user.id.clone();
            let outcome = move || {
                let outcomes = outcomes.read();
                let (class, note) =
                    match outcomes.iter().find(|o| o.user.id == id)?.result.as_ref()? {
                        Ok(()) => ("outcome ok", "Done".to_owned()),
                        Err(message) => ("outcome failed", format!("Not done: {message}")),
                    };
                Some(view! { <span class=class>" — "{note}</span> })
            };
            view! {
                <li>
                    <strong>{user.display_name}</strong>" "
                    <span class="email">{user.email}</span>" "
                    <StateBadge state=user.state />
                    {outcome}
                </li>
            }
        })
        .collect_view();
    view! { <ul class="people">{people}</ul> }
}
