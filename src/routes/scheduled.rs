//! `/scheduled`: every change Keydesk will make by itself, soonest first, with who asked for it,
//! why and when, each of which can be cancelled or made now; then what ran lately and how.

use keydesk_api::{AuditAction, ScheduledChange, ScheduledList};
use leptos::{prelude::*, task::spawn_local};

use super::standing::said;
use crate::{api::Client, components::Notice, time};

#[component]
pub fn ScheduledPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let list = RwSignal::new(None::<Result<ScheduledList, String>>);
    let notice = RwSignal::new(None::<String>);
    let load = {
        let client = client.clone();
        move || {
            let client = client.clone();
            spawn_local(async move {
                list.set(Some(
                    client.scheduled(None).await.map_err(|e| e.to_string()),
                ));
            });
        }
    };
    load();
    // Another admin's change, or one made here, arrives as an event: read the list again.
    if let Some(live) = use_context::<crate::live::Live>() {
        live.follow(load.clone());
    }
    let settle = Callback::new(move |(change, run): (ScheduledChange, bool)| {
        let client = client.clone();
        let load = load.clone();
        spawn_local(async move {
            notice.set(Some(match client.settle_scheduled(change.id, run).await {
                Ok(()) if run => format!("Done now for {}.", change.person),
                Ok(()) => format!("Cancelled for {}.", change.person),
                Err(err) => err.to_string(),
            }));
            load();
        });
    });
    view! {
        <h1>"Scheduled changes"</h1>
        <p class="hint">
            "Keydesk makes these by itself at their time, as "<em>"scheduler"</em>" on behalf of \
             whoever asked. To schedule one, suspend someone with an end date, or with a later start."
        </p>
        <Notice notice />
        {move || match list.get() {
            None => view! { <p role="status">"Loading…"</p> }.into_any(),
            Some(Err(message)) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
            Some(Ok(list)) => view! {
                <h2>"Pending"</h2>
                {if list.pending.is_empty() {
                    view! { <p>"Nothing is scheduled."</p> }.into_any()
                } else {
                    view! { <ul class="scheduled-list">{rows(list.pending, Some(settle))}</ul> }.into_any()
                }}
                <h2>"Lately"</h2>
                {if list.recent.is_empty() {
                    view! { <p>"Nothing has run yet."</p> }.into_any()
                } else {
                    view! { <ul class="scheduled-list">{rows(list.recent, None)}</ul> }.into_any()
                }}
            }.into_any(),
        }}
    }
}

/// One line per change; with `settle`, its Cancel and "Do it now" buttons.
fn rows(
    changes: Vec<ScheduledChange>,
    settle: Option<Callback<(ScheduledChange, bool)>>,
) -> impl IntoView {
    changes
        .into_iter()
        .map(|change| {
            let verb = match change.action {
                AuditAction::Suspend => "Suspend",
                _ => "Reactivate",
            };
            let href = format!("/users/{}", change.user_id);
            let outcome = change.outcome.clone().map(|outcome| {
                let at = change.finished_time.as_deref().map(time::date_time).unwrap_or_default();
                view! { <span class="outcome">{format!(" — {outcome} ({at})")}</span> }
            });
            let buttons = settle.map(|settle| {
                let (cancel, now) = (change.clone(), change.clone());
                view! {
                    " "
                    <button type="button" on:click=move |_| settle.run((cancel.clone(), false))>"Cancel"</button>
                    " "
                    <button type="button" on:click=move |_| settle.run((now.clone(), true))>"Do it now"</button>
                }
            });
            view! {
                <li>
                    <strong>{time::date_time(&change.due_time)}</strong>" · "
                    {verb}" "<a href=href>{change.person.clone()}</a>
                    {format!(", as {} asked", change.scheduled_by)}
                    {said(change.reason.clone(), change.ticket.clone())}
                    {outcome}
                    {buttons}
                </li>
            }
        })
        .collect_view()
}
