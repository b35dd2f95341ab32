//! The audit trail: who did what to whom and when, filtered like the server's API, with the
//! filters in the URL, an export for a SIEM, and a check of the hash chain.

use crate::{
    api::Client,
    location::{Query, use_location},
    time,
};
use keydesk_api::{AuditAction, AuditQuery, AuditRecord};
use leptos::{prelude::*, task::spawn_local};

/// The filters, by their query-string names, with their labels and input types. The server
/// matches the actor and the target by name, part of an email, or ID.
const FILTERS: [(&str, &str, &str); 6] = [
    ("actor", "Actor", "text"),
    ("action", "Action", "select"),
    ("target", "Target", "text"),
    ("outcome", "Outcome", "text"),
    ("since", "From", "datetime-local"),
    ("until", "Until", "datetime-local"),
];

fn query_from(params: &Query) -> AuditQuery {
    // Trimmed: the server takes an action or outcome exactly as it names them.
    let get = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    // The browser's datetime-local has no zone: it is the reader's, as the records' times are.
    // What the browser cannot read goes as typed, for the server to name.
    let time = |name: &str| {
        get(name).map(|v| {
            let local = js_sys::Date::new(&v.as_str().into());
            match local.get_time().is_nan() {
                true => v,
                false => local.to_iso_string().into(),
            }
        })
    };
    AuditQuery {
        actor: get("actor"),
        action: get("action"),
        target: get("target"),
        outcome: get("outcome"),
        since: time("since"),
        until: time("until"),
        max_page_size: Some("50".into()),
        page_token: None,
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let location = use_location();
    let params = location.query;
    let query = Memo::new(move |_| query_from(&params.read()));

    // The form edits a copy; Apply puts it in the URL.
    let draft: Vec<(&'static str, RwSignal<String>)> = FILTERS
        .iter()
        .map(|(name, _, _)| {
            (
                *name,
                RwSignal::new(params.read_untracked().get(name).unwrap_or_default()),
            )
        })
        .collect();
    let apply = {
        let draft = draft.clone();
        move |event: leptos::ev::SubmitEvent| {
            event.prevent_default();
            let mut map = Query::new();
            for (name, value) in &draft {
                let value = value.get_untracked();
                if !value.trim().is_empty() {
                    map.insert(name, value.trim().to_owned());
                }
            }
            location.navigate(&format!("/audit{}", map.to_query_string()));
        }
    };

    view! {
        <section aria-labelledby="audit-heading">
            <h1 id="audit-heading">"Audit"</h1>
            <p class="lead">"Every attempt to change someone, allowed, denied or failed, and every refused sign-in. Each record is chained to the one before by its hash. Find an actor or a target by name, part of an email, or ID."</p>
            <form class="filters" on:submit=apply role="search" aria-label="Audit filters">
                {FILTERS.iter().zip(draft.clone()).map(|((_, label, kind), (name, value))| view! {
                    <label>{*label}
                        {if name == "action" {
                            view! {
                                <select name=name prop:value=move || value.get()
                                    on:change=move |ev| value.set(event_target_value(&ev))>
                                    <option value="">"Any"</option>
                                    {AuditAction::ALL.iter().map(|action| view! {
                                        <option value=action.as_str()>{action.label()}</option>
                                    }).collect_view()}
                                </select>
                            }.into_any()
                        } else if name == "outcome" {
                            view! {
                                <select name=name prop:value=move || value.get()
                                    on:change=move |ev| value.set(event_target_value(&ev))>
                                    <option value="">"Any"</option>
                                    <option value="succeeded">"Succeeded"</option>
                                    <option value="denied">"Denied"</option>
                                    <option value="failed">"Failed"</option>
                                    <option value="attempted">"Asked of 1Password"</option>
                                    <option value="observed">"Seen in 1Password"</option>
                                </select>
                            }.into_any()
                        } else {
                            view! {
                                <input type=*kind name=name prop:value=move || value.get()
                                    on:input=move |ev| value.set(event_target_value(&ev)) />
                            }.into_any()
                        }}
                    </label>
                }).collect_view()}
                <button type="submit" class="primary">"Apply filters"</button>
                <a class="export" download="keydesk-audit.jsonl"
                    href=move || {
                        let mut export = Query::new();
                        for (name, value) in query.read().pairs() {
                            if name != "max_page_size" {
                                export.insert(name, value.to_owned());
                            }
                        }
                        format!("/api/audit/export{}", export.to_query_string())
                    }>
                    "Export as JSON Lines"
                </a>
            </form>
            <ChainCheck client=client.clone() />
            <AuditTable client query=Signal::from(query) />
        </section>
    }
}

/// Records for a query, with paging; also used for one person's history.
#[component]
pub fn AuditTable(client: Client, #[prop(into)] query: Signal<AuditQuery>) -> impl IntoView {
    // Each record with its sentence ("Amara Okafor suspended Hannah Müller <…>").
    let records = RwSignal::new(Vec::<(AuditRecord, String)>::new());
    let next = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<String>);
    let loading = RwSignal::new(true);
    let retries = RwSignal::new(0u32);
    let load = {
        let client = client.clone();
        move |page_token: Option<String>| {
            let client = client.clone();
            let mut request = query.get_untracked();
            let more = page_token.is_some();
            request.page_token = page_token;
            loading.set(true);
            spawn_local(async move {
                match client.audit(&request).await {
                    Ok(page) => {
                        let mut sentences = page.sentences.into_iter();
                        let page_records = page.records.into_iter().map(|record| {
                            let sentence = sentences.next().unwrap_or_default();
                            (record, sentence)
                        });
                        if more {
                            records.update(|r| r.extend(page_records));
                        } else {
                            records.set(page_records.collect());
                        }
                        next.set(page.next_page_token);
                        failure.set(None);
                    }
                    Err(err) => failure.set(Some(err.to_string())),
                }
                loading.set(false);
            });
        }
    };
    {
        let load = load.clone();
        Effect::new(move |_| {
            query.track();
            retries.track();
            load(None);
        });
    }
    // Another admin's change is a new record: read the first page again.
    if let Some(live) = use_context::<crate::live::Live>() {
        live.follow(move || retries.update(|n| *n += 1));
    }
    let load_more = Callback::new(move |()| {
        if !loading.get_untracked() {
            load(next.get_untracked())
        }
    });
    // "Match" only where something was asked for beyond whose history this is.
    // Times are UTC and written alike (query_from), so comparing the texts compares the times.
    let empty = move || {
        query.with(|q| match (&q.since, &q.until) {
            (Some(since), Some(until)) if until <= since => {
                "Nothing can match: “Until” is not after “From”."
            }
            _ if [&q.actor, &q.action, &q.outcome, &q.since, &q.until]
                .iter()
                .any(|filter| filter.is_some()) =>
            {
                "No records match these filters."
            }
            _ => "No records yet.",
        })
    };
    view! {
        <Show when=move || failure.get().is_some()>
            <div class="panel error-panel" role="alert">
                <p>{move || failure.get().unwrap_or_default()}</p>
                <button type="button" on:click=move |_| retries.update(|n| *n += 1)>"Try again"</button>
            </div>
        </Show>
        <Show when=move || !loading.get() && records.read().is_empty() && failure.get().is_none()>
            <p class="panel empty">{empty}</p>
        </Show>
        <Show when=move || !records.read().is_empty()>
            <div class="table-scroll">
                <table class="audit" aria-busy=move || loading.get().to_string()>
                    <caption class="visually-hidden">"Audit records, newest first"</caption>
                    <thead><tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"What happened"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Why refused or failed"</th>
                    </tr></thead>
                    <tbody>
                        // Redrawn whole when older records arrive: cheaper to download than
                        // a keyed list (1 KB), and an audit page changes rarely.
                        {move || records.get().into_iter().map(|(record, sentence)| view! {
                            <tr>
                                <td class="date">
                                    <time datetime=record.time.clone() title=time::exact(&record.time)>
                                        {time::date_time(&record.time)}
                                    </time>
                                </td>
                                <td class="what">
                                    {sentence}
                                    // The record as the chain keeps it, for whoever investigates.
                                    <details>
                                        <summary>"Record " {record.seq}</summary>
                                        <dl class="raw">
                                            <dt>"Action"</dt><dd><code>{record.action.as_str()}</code></dd>
                                            <dt>"Actor"</dt><dd>{record.actor_email.clone()} " (" {record.actor_groups.join(", ")} ")"</dd>
                                            <dt>"Targets"</dt><dd><code>{record.targets.join(", ")}</code></dd>
                                            <dt>"Request"</dt><dd><code>{record.request_id.clone()}</code></dd>
                                            <dt>"Client"</dt><dd>{record.client_address.clone()}</dd>
                                        </dl>
                                    </details>
                                </td>
                                <td><span class=format!("outcome outcome-{}", record.outcome)>{record.outcome.as_str()}</span>
                                    {(record.count > 1).then(|| format!(" ×{}", record.count))}</td>
                                <td>{record.reason.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <Show when=move || next.read().is_some()>
                <div class="more">
                    <button type="button" aria-disabled=move || loading.get().then_some("true")
                        on:click=move |_| load_more.run(())>
                        "Load older records"
                    </button>
                </div>
            </Show>
        </Show>
    }
}

/// Verify the hash chain on request.
#[component]
fn ChainCheck(client: Client) -> impl IntoView {
    let result = RwSignal::new(None::<String>);
    let check = move |_| {
        let client = client.clone();
        result.set(Some("Checking…".into()));
        spawn_local(async move {
            result.set(Some(match client.verify_audit().await {
                Ok(v) => match v.first_broken {
                    None if v.records == 1 => "The chain is intact: 1 record verified.".to_owned(),
                    None => format!("The chain is intact: {} records verified.", v.records),
                    Some(seq) => format!("The chain is broken at record {seq}: it or a record before it was altered or removed."),
                },
                Err(err) => err.to_string(),
            }));
        });
    };
    view! {
        <p class="chain-check">
            <button type="button" on:click=check>"Verify the chain"</button>
            " "
            <span role="status">{move || result.get()}</span>
        </p>
    }
}
