//! The emails the embedded directory sent or holds, so a newcomer can follow a recovery from
//! the helpdesk's side to the person's by clicking.

use keydesk_api::OutboxMessage;
use leptos::{error::Errors, prelude::*};

use crate::api::Client;

#[component]
pub fn OutboxPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let messages = LocalResource::new(move || {
        let client = client.clone();
        async move { client.outbox().await }
    });
    let list = move || {
        Suspend::new(async move {
            messages.await.map(|list| match list.is_empty() {
                true => view! {
                    <div class="panel empty"><p>"No emails yet. Begin a recovery to send one."</p></div>
                }
                .into_any(),
                false => view! {
                    <ul class="outbox">
                        {list.into_iter().map(|message| view! { <OutboxItem message /> }).collect_view()}
                    </ul>
                }
                .into_any(),
            })
        })
    };
    let failed = |errors: ArcRwSignal<Errors>| {
        let why = move || {
            errors
                .read()
                .iter()
                .map(|(_, err)| err.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        view! {
            <div class="panel error-panel" role="alert">
                <h2>"The outbox could not be loaded"</h2>
                <p>{why}</p>
            </div>
        }
    };
    view! {
        <section aria-labelledby="outbox-heading">
            <h1 id="outbox-heading">"Outbox"</h1>
            <p class="lead">
                "Emails Keydesk sent, newest first. Without an SMTP server configured they wait \
                 here: open a recovery link to act as the person who received it."
            </p>
            <Suspense fallback=|| view! { <p role="status">"Loading the outbox…"</p> }>
                <ErrorBoundary fallback=failed>{list}</ErrorBoundary>
            </Suspense>
        </section>
    }
}

#[component]
fn OutboxItem(message: OutboxMessage) -> impl IntoView {
    let status = match &message.sent_time {
        Some(time) => format!("Delivered {}", crate::time::date_time(time)),
        None => "Not delivered (no SMTP server configured)".to_owned(),
    };
    view! {
        <li class="panel">
            <p class="meta">
                <strong>"To: "</strong>{message.to.clone()}" · "
                <time datetime=message.create_time.clone() title=crate::time::exact(&message.create_time)>
                    {crate::time::date_time(&message.create_time)}
                </time>
                " · " {status}
            </p>
            <h2>{message.subject.clone()}</h2>
            <pre class="body">{message.body.clone()}</pre>
            {message.link.clone().map(|link| view! {
                <p><a href=link rel="external" target="_self">
                    "Open the recovery link for " {message.to.clone()}
                </a></p>
            })}
        </li>
    }
}
