//! Why a person is in their state, in one line ("Suspended by Amara Okafor 3 days ago: parental
//! leave (INC-4211)"), and what Keydesk is going to do to them by itself (scheduled changes),
//! each of which can be cancelled or made now.

use keydesk_api::{AuditAction, LastChange, ScheduledChange, UserId};
use leptos::{prelude::*, task::spawn_local};

use crate::{api::Client, time};

/// A ticket as a link when the configuration says where tickets live, as text otherwise.
#[component]
pub fn Ticket(ticket: String) -> impl IntoView {
    match expect_context::<Client>().rules.ticket_link(&ticket) {
        Some(href) => view! { <a href=href target="_blank" rel="noopener">{ticket}</a> }.into_any(),
        None => ticket.into_any(),
    }
}

/// "parental leave (INC-4211)", whichever of the two there is.
pub(super) fn said(reason: Option<String>, ticket: Option<String>) -> impl IntoView {
    let reason = reason.map(|reason| format!(": {reason}"));
    let ticket = ticket.map(|ticket| view! { " (" <Ticket ticket /> ")" });
    view! { {reason} {ticket} }
}

fn line(change: LastChange) -> impl IntoView {
    let done = match change.action {
        AuditAction::Suspend => "Suspended",
        AuditAction::Reactivate => "Reactivated",
        AuditAction::CompleteRecovery => "Recovery completed",
        _ => "Recovery started",
    };
    let when = time::relative(&change.time);
    // Done in 1Password itself (its console, an identity provider): Keydesk saw it, no more.
    let what = match change.observed {
        true => format!("{done} in 1Password, seen by Keydesk {when}"),
        false => {
            let who = change.actor_name.unwrap_or(change.actor_email);
            format!("{done} by {who} {when}")
        }
    };
    view! {
        <p class="standing">
            {what}
            {said(change.reason, change.ticket)}
        </p>
    }
}

/// The person's last change and scheduled changes, read again whenever `refresh` moves.
#[component]
pub fn Standing(id: UserId, #[prop(into)] refresh: Signal<u32>) -> impl IntoView {
    let client = expect_context::<Client>();
    let last = RwSignal::new(None::<LastChange>);
    let pending = RwSignal::new(Vec::<ScheduledChange>::new());
    let failure = RwSignal::new(None::<String>);
    let load = {
        let (client, id) = (client.clone(), id.clone());
        move || {
            let (client, id) = (client.clone(), id.clone());
            spawn_local(async move {
                last.set(client.last_change(&id).await.ok().flatten());
                if let Ok(list) = client.scheduled(Some(&id)).await {
                    pending.set(list.pending);
                }
            });
        }
    };
    Effect::new(move |_| {
        refresh.track();
        load();
    });
    let settle = move |change: i64, run: bool| {
        let client = client.clone();
        spawn_local(async move {
            match client.settle_scheduled(change, run).await {
                Ok(()) => failure.set(None),
                Err(err) => failure.set(Some(err.to_string())),
            }
            // The stream's event reads them again (and the person, if it was made).
        });
    };
    view! {
        {move || last.get().map(line)}
        {move || pending.get().into_iter().map(|change| {
            let verb = if change.action == AuditAction::Suspend { "suspend" } else { "reactivate" };
            let settle = settle.clone();
            let again = settle.clone();
            view! {
                <p class="scheduled">
                    {format!("Keydesk will {verb} them on {}, as {} asked",
                        time::date_time(&change.due_time), change.scheduled_by)}
                    {said(change.reason, change.ticket)}
                    " "
                    <button type="button" on:click=move |_| settle(change.id, false)>"Cancel"</button>
                    " "
                    <button type="button" on:click=move |_| again(change.id, true)>"Do it now"</button>
                </p>
            }
        }).collect_view()}
        {move || failure.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
    }
}
