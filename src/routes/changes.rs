//! Every state change goes through here: the confirmation dialog that names who is affected
//! (what a change is, and what the dialog says of it: `change.rs`), the requests, and what the
//! page says afterwards.

use keydesk_api::{User, UserMethod};
use leptos::{prelude::*, task::spawn_local};

use super::{
    change::{Change, ChangeSummary, Outcome, names, people},
    why::{self, ChangeQuestions, Why},
};
use crate::{
    Counts,
    api::{ApiFailure, Client, patiently},
    components::{ConfirmDialog, row_action::RowAction},
};

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
    let why = Why::new();
    let fail = move |err: ApiFailure| {
        refused.set(err.is_refusal());
        error.set(Some(err.to_string()));
    };

    // A new change starts clean (the same change with someone's fresh state does not).
    Effect::new(move |previous: Option<Option<String>>| {
        let key = pending.with(|change| change.as_ref().map(Change::title));
        if previous.as_ref() != Some(&key) {
            error.set(None);
            outcomes.set(Vec::new());
            finished.set(false);
            refused.set(false);
            why.clear();
        }
        key
    });
    // Someone else changed a person while the dialog is open: it says so, and shows them as
    // they now are, before anything is sent.
    if let Some(live) = use_context::<crate::live::Live>() {
        live.follow_users(move |fresh| {
            if busy.get_untracked() || finished.get_untracked() {
                return; // this dialog's own change
            }
            let Some(change) = pending.get_untracked().and_then(|c| c.with_fresh(&fresh)) else {
                return;
            };
            pending.set(Some(change));
            error.set(Some(format!(
                "Someone else changed {} while this was open: they are now {}. Check before you \
                 confirm.",
                fresh.display_name,
                fresh.state.label()
            )));
        });
    }

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
        let note = why.request();
        let client = client.clone();
        let waiting = move |message: Option<String>| error.set(message);
        spawn_local(async move {
            match change {
                Change::One { .. }
                    if !why.from.get_untracked().is_empty()
                        && !why.until.get_untracked().is_empty() =>
                {
                    error.set(Some(
                        "Choose a start or an end, not both: a suspension that starts later \
                         can be given its end once it has started."
                            .to_owned(),
                    ));
                }
                Change::One { method, user } if !why.from.get_untracked().is_empty() => {
                    // Later: suspended at the end of the day chosen, reactivated at its start.
                    let (at, done) = match method {
                        UserMethod::Suspend => ((23, 59), "suspended"),
                        _ => ((0, 0), "reactivated"),
                    };
                    match schedule(&client, &user, method, why.from, at, &note).await {
                        Ok(when) => {
                            on_notice
                                .run(format!("{} will be {done} on {when}.", user.display_name));
                            pending.set(None);
                        }
                        Err(err) => fail(err),
                    }
                }
                Change::One { method, user } => {
                    match patiently(|| client.call_user_method(method, &user.id, &note), waiting)
                        .await
                    {
                        Ok(updated) => {
                            let who = format!("{} ({})", updated.display_name, updated.email);
                            let (before, after) = RowAction::Method(method).words().done;
                            let mut said = format!("{before}{who}{after}");
                            if !why.until.get_untracked().is_empty() {
                                let back = UserMethod::Reactivate;
                                let until = why.until;
                                said.push_str(&match schedule(
                                    &client,
                                    &user,
                                    back,
                                    until,
                                    (0, 0),
                                    &note,
                                )
                                .await
                                {
                                    Ok(when) => format!(" Keydesk reactivates them on {when}."),
                                    Err(err) => {
                                        format!(" Their reactivation could not be scheduled: {err}")
                                    }
                                });
                            }
                            on_notice.run(said);
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
                Change::Each(method, users) => {
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
                        let call = || client.call_user_method(method, &user.id, &note);
                        let result = match patiently(call, waiting).await {
                            Ok(updated) => {
                                completed.push(updated.clone());
                                on_updated.run(updated);
                                Ok(())
                            }
                            Err(err) => Err(err.to_string()),
                        };
                        outcomes.update(|outcomes| outcomes[index].result = Some(result));
                    }
                    let (before, after) = RowAction::Method(method).words().done;
                    let console = client
                        .admin_console()
                        .filter(|_| method == UserMethod::CompleteRecovery);
                    if let Some(url) = console.filter(|_| completed.len() == users.len()) {
                        // Upstream, nothing is completed yet: the checks are recorded, and the
                        // admin console (opened for them) completes it.
                        if !url.is_empty() {
                            let _ = window().open_with_url_and_target(url, "_blank");
                        }
                        on_notice.run(format!(
                            "Your checks for {} are recorded. Complete the recovery in 1Password's admin console.",
                            names(&completed)
                        ));
                        pending.set(None);
                    } else if completed.len() == users.len() {
                        let more = match method {
                            UserMethod::CompleteRecovery => {
                                " They must sign in again on every device and set up two-factor authentication again."
                            }
                            _ => "",
                        };
                        on_notice.run(format!(
                            "{before}{}: {}{after}{more}",
                            people(completed.len()),
                            names(&completed)
                        ));
                        pending.set(None);
                    } else {
                        error.set(Some(format!(
                            "{before}{} of {}; see each person below.",
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
    let rules = expect_context::<Client>().rules;
    let busy_label = Signal::derive(move || {
        let done = outcomes
            .read()
            .iter()
            .filter(|o| o.result.is_some())
            .count();
        let total = outcomes.read().len();
        match current() {
            Some(Change::Each(method, users)) if users.len() > 1 => {
                let doing = RowAction::Method(method)
                    .words()
                    .confirm
                    .1
                    .trim_end_matches('…');
                format!("{doing} {} of {total}…", (done + 1).min(total))
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
            ready=Signal::derive(move || {
                current().is_none_or(|change| why::complete(&change, why, &rules))
            })
            on_confirm=confirm
            on_cancel=Callback::new(move |()| pending.set(None))
        >
            {move || current().map(|change| view! {
                <ChangeSummary change=change.clone() outcomes />
                <ChangeQuestions change why />
            })}
        </ConfirmDialog>
    }
}

/// Schedule `method` for `user` at `hour:minute` local time on the day in `date`; the time in
/// words.
async fn schedule(
    client: &Client,
    user: &User,
    method: UserMethod,
    date: RwSignal<String>,
    (hour, minute): (i32, i32),
    note: &keydesk_api::MethodRequest,
) -> Result<String, ApiFailure> {
    let day = date.get_untracked();
    let due_time = why::local_time(&day, hour, minute).ok_or(ApiFailure::Unexpected)?;
    let request = keydesk_api::ScheduleRequest {
        user_id: user.id.clone(),
        action: method.action(),
        due_time,
        reason: note.reason.clone(),
        ticket: note.ticket.clone(),
    };
    client.schedule(&request).await?;
    Ok(crate::time::date_time(&request.due_time))
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
