//! The bar over the users list: state filter, sort and search, all kept in the address (the
//! single source of truth, so Back and deep links work), and what the list holds.

use std::time::Duration;

use keydesk_api::{UserState, UsersView};
use leptos::prelude::*;

use crate::{
    components::state_badge::state_label,
    location::{Query, use_location},
};

/// How long typing must pause before the search runs.
const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);

/// The Sort list: the keyboard's (and the phone's) way to sort, as `order_by` values.
const SORTS: [(&str, &str); 8] = [
    ("Name A–Z", "display_name"),
    ("Name Z–A", "display_name desc"),
    ("Email A–Z", "email"),
    ("Email Z–A", "email desc"),
    ("State", "state"),
    ("State, reversed", "state desc"),
    ("Oldest first", "create_time"),
    ("Newest first", "create_time desc"),
];

/// The list's own address for `view`.
pub fn href(view: &UsersView) -> String {
    let mut params = Query::new();
    for (name, value) in view.pairs() {
        params.insert(name, value);
    }
    format!("/{}", params.to_query_string())
}

/// The CSV of everyone the view matches, in its order (the server streams it).
fn export_href(view: &UsersView) -> String {
    let mut params = Query::new();
    for (name, value) in view.list_params(None).pairs() {
        params.insert(name, value.to_owned());
    }
    format!("/api/users.csv{}", params.to_query_string())
}

#[component]
pub fn SearchBar(
    /// The list's view, as the address says it.
    view: Memo<UsersView>,
    /// What the list holds, beside the search box: "50 users so far; more below".
    #[prop(into)]
    summary: Signal<String>,
    /// The list has shown (its own rows, or why there are none): the search box takes focus
    /// then, once, since searching is what the admin comes for.
    #[prop(into)]
    ready: Signal<bool>,
) -> impl IntoView {
    let location = use_location();
    let go = move |view: UsersView| location.navigate(&href(&view));
    let search_box = NodeRef::<leptos::html::Input>::new();
    let focused = StoredValue::new(false);
    Effect::new(move |_| {
        if ready.get()
            && !focused.get_value()
            && let Some(input) = search_box.get()
        {
            focused.set_value(true);
            let _ = input.focus();
        }
    });
    // `/` brings the search box back from anywhere on the page, but not while typing elsewhere.
    let slash = window_event_listener(leptos::ev::keydown, move |event| {
        let typing = document().active_element().is_some_and(|element| {
            match element.tag_name().as_str() {
                "SELECT" | "TEXTAREA" => true,
                // A checkbox takes no text: `/` still means search there.
                "INPUT" => element.get_attribute("type").as_deref() != Some("checkbox"),
                _ => false,
            }
        });
        if event.key() == "/"
            && !typing
            && !event.ctrl_key()
            && !event.meta_key()
            && let Some(input) = search_box.get_untracked()
        {
            event.prevent_default();
            let _ = input.focus();
            input.select();
        }
    });
    on_cleanup(move || slash.remove());

    let search_text = RwSignal::new(view.get_untracked().q);
    let search_timer = StoredValue::new(None::<TimeoutHandle>);
    // Back, Forward and "Clear search" change the address under the search box: follow them.
    Effect::new(move |_| {
        let q = view.read().q.clone();
        if search_timer.get_value().is_none() && search_text.get_untracked() != q {
            search_text.set(q);
        }
    });
    let on_search_input = move |text: String| {
        search_text.set(text);
        if let Some(timer) = search_timer.get_value() {
            timer.clear();
        }
        let timer = set_timeout_with_handle(
            move || {
                // Gone, if the admin left the list within the debounce (cleared below, too).
                if search_timer.try_set_value(None).is_some() {
                    return;
                }
                let (Some(mut view), Some(text)) =
                    (view.try_get_untracked(), search_text.try_get_untracked())
                else {
                    return;
                };
                if view.q != text {
                    view.q = text;
                    go(view);
                }
            },
            SEARCH_DEBOUNCE,
        )
        .ok();
        search_timer.set_value(timer);
    };
    // Leaving the list (a person's link clicked while typing) calls the search off.
    on_cleanup(move || {
        if let Some(Some(timer)) = search_timer.try_get_value() {
            timer.clear();
        }
    });
    let on_state_change = move |state: String| {
        let mut view = view.get_untracked();
        view.state = state;
        go(view);
    };
    let on_sort_change = move |order: String| {
        if let Ok(order) = order.parse() {
            let mut view = view.get_untracked();
            view.order = order;
            go(view);
        }
    };

    // The filters first, so that a row's action is three Tabs from the search box.
    view! {
        <div class="toolbar" role="search">
            <label class="state-filter">
                "State "
                <select name="state" prop:value=move || view.read().state.clone()
                    on:change=move |event| on_state_change(event_target_value(&event))>
                    <option value="">"All states"</option>
                    {UserState::KNOWN
                        .iter()
                        .map(|state| view! {
                            <option value=state.as_str().to_owned()>{state_label(state)}</option>
                        })
                        .collect_view()}
                </select>
            </label>
            <label class="state-filter">
                "Sort "
                <select name="order_by" prop:value=move || view.read().order.to_string()
                    on:change=move |event| on_sort_change(event_target_value(&event))>
                    {SORTS.map(|(label, value)| view! { <option value=value>{label}</option> })}
                </select>
            </label>
            // Before the search box, so that a row's action stays three Tabs from it; shown last.
            <a class="export" download href=move || export_href(&view.read())>"Export CSV"</a>
            <label class="search">
                <span class="visually-hidden">"Search users"</span>
                <input type="search" name="q" node_ref=search_box autocomplete="off"
                    placeholder="Search by name, email or ID"
                    prop:value=move || search_text.get()
                    on:input=move |event| on_search_input(event_target_value(&event)) />
            </label>
            <p class="summary" aria-live="polite">{summary}</p>
        </div>
    }
}
