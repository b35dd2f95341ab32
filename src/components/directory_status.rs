//! What the page says of the directory itself, in words rather than only in a disabled button's
//! tooltip: what cannot be done now and why (upstream: `op` not signed in, automated
//! provisioning), and where the list comes from (Keydesk's copy of 1Password's directory, how
//! old it is, and whether it knows who is in recovery).

use keydesk_api::ListUsersResponse;
use leptos::prelude::*;

/// What cannot be done now, for anyone, each in a sentence.
#[component]
pub fn Refusals() -> impl IntoView {
    move || {
        crate::readiness::refusals()
            .into_iter()
            .map(|refusal| view! { <p class="refusal" role="status">{refusal}</p> })
            .collect_view()
    }
}

/// Upstream: how old the copy a list came from is, why it could not be read again, and whether
/// it knows the recovery states.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    time: String,
    error: Option<String>,
    states_unknown: Option<String>,
}

impl Snapshot {
    /// What a list's answer says of its copy; `None` for the embedded directory.
    pub fn of(page: &ListUsersResponse) -> Option<Snapshot> {
        Some(Snapshot {
            time: page.snapshot_time.clone()?,
            error: page.snapshot_error.clone(),
            states_unknown: page.states_unknown.clone(),
        })
    }
}

#[component]
pub fn SnapshotLine(#[prop(into)] snapshot: Signal<Option<Snapshot>>) -> impl IntoView {
    move || {
        snapshot.get().map(|snapshot| {
            let read = age(&snapshot.time);
            let time = snapshot.time;
            let freshness = match snapshot.error {
                None => view! {
                    <p class="snapshot">
                        "Searching Keydesk's copy of the 1Password directory, read "
                        <time datetime=time>{read}</time>"."
                    </p>
                }
                .into_any(),
                Some(error) => view! {
                    <p class="snapshot stale" role="alert">
                        "1Password could not be read again (" {error} "), so this is its directory as read "
                        <time datetime=time>{read}</time>"."
                    </p>
                }
                .into_any(),
            };
            let unknown = snapshot.states_unknown.map(|why| {
                view! {
                    <p class="snapshot stale" role="status">
                        "Who is in recovery is not known now: " {why}
                        ". People may show as Active who are waiting for their recovery."
                    </p>
                }
            });
            view! { {freshness}{unknown} }
        })
    }
}

/// How old the upstream snapshot is, in words: "just now", "4 min ago", "2 h ago".
fn age(time: &str) -> String {
    let read = js_sys::Date::parse(time);
    if read.is_nan() {
        return time.to_owned();
    }
    let minutes = ((js_sys::Date::now() - read) / 60_000.0).floor().max(0.0) as u64;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        _ => format!("{} h ago", minutes / 60),
    }
}
