//! Every state change goes through here: what the person asked for, the confirmation dialog that
//! names who is affected, the requests, and what the page says afterwards.

use keydesk_api::{MAX_RECOVERY_BATCH, User, UserMethod};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    Counts,
    api::{ApiFailure, Client, patiently},
    components::{ConfirmDialog, StateBadge, row_action::RowAction, wording::Words},
};

/// A change asked for and not yet confirmed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// One custom method on one person: suspend, reactivate, resend the recovery email.
    /// (Boxed: a `User` is large beside the other variants' vectors.)
    One { method: UserMethod, user: Box<User> },
    /// Begin recovery for one to ten people: everyone or nobody.
    BeginRecovery(Vec<User>),
    /// Complete recovery for one or several people, one request each.
    CompleteRecovery(Vec<User>),
}

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

fn people(count: usize) -> String {
    if count == 1 {
        "1 person".to_owned()
    } else {
        format!("{count} people")
    }
}

fn names(users: &[User]) -> String {
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
            RowAction::Method(UserMethod::CompleteRecovery) => Change::CompleteRecovery(vec![user]),
            RowAction::Method(method) => Change::One {
                method,
                user: Box::new(user),
            },
        }
    }

    /// What this change is called (components/wording.rs).
    fn words(&self) -> &'static Words {
        match self {
            Change::One { method, .. } => RowAction::Method(*method).words(),
            Change::BeginRecovery(_) => RowAction::BeginRecovery.words(),
            Change::CompleteRecovery(_) => RowAction::Method(UserMethod::CompleteRecovery).words(),
        }
    }

    pub fn title(&self) -> String {
        let who = match self {
            Change::One { user, .. } => user.display_name.clone(),
            Change::BeginRecovery(users) | Change::CompleteRecovery(users) => match &users[..] {
                [user] => user.display_name.clone(),
                users => people(users.len()),
            },
        };
        let (before, after) = self.words().title;
        format!("{before}{who}{after}")
    }

    /// The confirm button, and its label while in flight.
    fn labels(&self) -> (&'static str, &'static str) {
        self.words().confirm
    }

    /// Destructive changes start with focus on Cancel.
    fn destructive(&self) -> bool {
        !matches!(
            self,
            Change::One {
                method: UserMethod::Reactivate,
                ..
            }
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

/// The confirmation dialog for `pending`, and the requests once confirmed. Each person whose
/// state changed is passed to `on_updated`; `on_notice` gets the sentence to show afterwards.
#[component]
pub fn ChangeDialog(
    pending: RwSignal<Option<Change>>,
    on_updated: Callback<User>,
    on_notice: Callback<String>,
) -> impl IntoView {
    let client = expect_context::<Client>();
    let counts = use_context::<Counts>();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let outcomes = RwSignal::new(Vec::<Outcome>::new());
    let finished = RwSignal::new(false);
    // Refused by a rule (the last owner, a state that does not allow it): asking again would be
    // refused again, so only Cancel is left to press.
    let refused = RwSignal::new(false);
    let fail = move |err: ApiFailure| {
        refused.set(err.is_refusal());
        error.set(Some(err.to_string()));
    };

    // A new change starts clean.
    Effect::new(move |_| {
        pending.track();
        error.set(None);
        outcomes.set(Vec::new());
        finished.set(false);
        refused.set(false);
    });

    let after_change = move || {
        if let Some(counts) = counts {
            counts.refresh.run(());
        }
    };

    let confirm = Callback::new(move |()| {
        let Some(change) = pending.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        let note = keydesk_api::MethodRequest::default();
        let client = client.clone();
        let waiting = move |message: Option<String>| error.set(message);
        spawn_local(async move {
            match change {
                Change::One { method, user } => {
                    match patiently(|| client.call_user_method(method, &user.id, &note), waiting)
                        .await
                    {
                        Ok(updated) => {
                            let who = format!("{} ({})", updated.display_name, updated.email);
                            let (before, after) = RowAction::Method(method).words().done;
                            on_notice.run(format!("{before}{who}{after}"));
                            on_updated.run(updated);
                            pending.set(None);
                        }
                        Err(err) => {
                            // Someone else may have changed this person meanwhile: show them as
                            // they are now, beside the server's explanation.
                            if err.code() == Some(409)
                                && let Ok(fresh) = client.get_user(&user.id).await
                            {
                                on_updated.run(fresh);
                            }
                            fail(err);
                        }
                    }
                }
                Change::BeginRecovery(users) => {
                    match patiently(|| client.begin_recovery(&users, &note), waiting).await {
                        Ok(response) => {
                            let started = response.users;
                            on_notice.run(began_notice(&started, &response.emailed));
                            for user in started {
                                on_updated.run(user);
                            }
                            if response.failures.is_empty() {
                                pending.set(None);
                            } else {
                                // Say who was not reached, and keep the dialog open to read it.
                                let failed: Vec<String> = response
                                    .failures
                                    .iter()
                                    .map(|f| format!("{}: {}", f.user, f.message))
                                    .collect();
                                error.set(Some(format!(
                                    "Recovery did not begin for {}. {}",
                                    people(failed.len()),
                                    failed.join(" ")
                                )));
                                finished.set(true);
                            }
                        }
                        Err(err) => fail(err),
                    }
                }
                Change::CompleteRecovery(users) => {
                    outcomes.set(
                        users
                            .iter()
                            .map(|user| Outcome {
                                user: user.clone(),
                                result: None,
                            })
                            .collect(),
                    );
                    let mut completed = Vec::new();
                    // One request each, so one failure does not hide the others.
                    for (index, user) in users.iter().enumerate() {
                        let complete = || {
                            client.call_user_method(UserMethod::CompleteRecovery, &user.id, &note)
                        };
                        let result = match patiently(complete, waiting).await {
                            Ok(updated) => {
                                completed.push(updated.clone());
                                on_updated.run(updated);
                                Ok(())
                            }
                            Err(err) => Err(err.to_string()),
                        };
                        outcomes.update(|outcomes| outcomes[index].result = Some(result));
                    }
                    if completed.len() == users.len() {
                        let (before, after) =
                            RowAction::Method(UserMethod::CompleteRecovery).words().done;
                        on_notice.run(format!(
                            "{before}{}: {}{after} They must sign in again on every device and set up two-factor authentication again.",
                            people(completed.len()),
                            names(&completed)
                        ));
                        pending.set(None);
                    } else {
                        error.set(Some(format!(
                            "Recovery was completed for {} of {}; see each person below.",
                            completed.len(),
                            users.len()
                        )));
                        finished.set(true);
                    }
                }
            }
            busy.set(false);
            after_change();
        });
    });

    let current = move || pending.get();
    let busy_label = Signal::derive(move || {
        let done = outcomes
            .read()
            .iter()
            .filter(|o| o.result.is_some())
            .count();
        let total = outcomes.read().len();
        match current() {
            Some(Change::CompleteRecovery(users)) if users.len() > 1 => {
                format!("Completing {} of {total}…", (done + 1).min(total))
            }
            Some(change) => change.labels().1.to_owned(),
            None => String::new(),
        }
    });
    view! {
        <ConfirmDialog
            id="confirm-change"
            open=Signal::derive(move || pending.read().is_some())
            title=Signal::derive(move || current().map(|c| c.title()).unwrap_or_default())
            confirm_label=Signal::derive(move || current().map(|c| c.labels().0.to_owned()).unwrap_or_default())
            busy_label=busy_label
            destructive=Signal::derive(move || current().is_some_and(|c| c.destructive()))
            busy=busy
            error=error
            finished=finished
            refused=refused
            on_confirm=confirm
            on_cancel=Callback::new(move |()| pending.set(None))
        >
            {move || current().map(|change| view! { <ChangeSummary change outcomes /> })}
        </ConfirmDialog>
    }
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
        Change::CompleteRecovery(users) => view! {
            <PeopleList users outcomes />
            <p>{RowAction::Method(UserMethod::CompleteRecovery).words().consequence}</p>
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
                        Ok(()) => ("outcome ok", "Completed".to_owned()),
                        Err(message) => ("outcome failed", format!("Not completed: {message}")),
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

/// What beginning recovery did, truthfully: who was sent a new email, and who was already in
/// recovery and was not (their earlier link still works; "Resend email" sends a new one).
fn began_notice(started: &[User], emailed: &[keydesk_api::UserId]) -> String {
    let (sent, already): (Vec<User>, Vec<User>) = started
        .iter()
        .cloned()
        .partition(|user| emailed.contains(&user.id));
    let mut notice = Vec::new();
    if !sent.is_empty() {
        let (before, after) = RowAction::BeginRecovery.words().done;
        let emailed = match sent.len() {
            1 => "An email with a recovery link was sent.",
            _ => "Each was sent an email with a recovery link.",
        };
        notice.push(format!(
            "{before}{}: {}{after} {emailed}",
            people(sent.len()),
            names(&sent)
        ));
    }
    if !already.is_empty() {
        notice.push(format!(
            "Recovery was already under way for {}: {}. No new email was sent; use Resend email \
             for a new link.",
            people(already.len()),
            names(&already)
        ));
    }
    notice.join(" ")
}
