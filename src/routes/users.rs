//! The users list: search, state filter and sort kept in the URL, rows that change state in place
//! through a confirmation dialog.

use std::time::Duration;

use keydesk_api::{
    ListUsersParams, OrderBy, OrderField, SortDirection, User, UserMethod, UserState,
};
use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};

use crate::{
    api::Client,
    components::{
        ConfirmDialog, StateBadge,
        state_badge::{state_label, type_label},
    },
};

/// Rows fetched per request.
const PAGE_SIZE: u32 = 50;
/// How long typing must pause before the search runs.
const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);
/// How long a notice stays.
const NOTICE_TIME: Duration = Duration::from_secs(8);

/// The view the URL describes: `?q=…&state=…&order_by=…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ViewQuery {
    q: String,
    state: String,
    order: OrderBy,
}

impl ViewQuery {
    fn from_params(params: &ParamsMap) -> Self {
        ViewQuery {
            q: params.get("q").unwrap_or_default(),
            state: params.get("state").unwrap_or_default(),
            order: params
                .get_str("order_by")
                .and_then(|text| text.parse().ok())
                .unwrap_or_default(),
        }
    }

    /// The page's own URL for this view; defaults are left out so links stay short.
    fn href(&self) -> String {
        let mut params = ParamsMap::new();
        if !self.q.is_empty() {
            params.insert("q", self.q.clone());
        }
        if !self.state.is_empty() {
            params.insert("state", self.state.clone());
        }
        if self.order != OrderBy::default() {
            params.insert("order_by", self.order.to_string());
        }
        format!("/{}", params.to_query_string())
    }

    fn list_params(&self, page_token: Option<String>) -> ListUsersParams {
        let non_empty = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        ListUsersParams {
            max_page_size: Some(PAGE_SIZE.to_string()),
            page_token,
            q: non_empty(&self.q),
            state: non_empty(&self.state),
            order_by: Some(self.order.to_string()),
            ..ListUsersParams::default()
        }
    }
}

/// How the first page of the current view stands.
#[derive(Clone, Debug, PartialEq)]
enum Listing {
    Loading,
    Loaded,
    Failed(String),
}

/// A state change the person asked for and has not yet confirmed.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingChange {
    pub method: UserMethod,
    pub user: User,
}

/// The method each state offers from a row: Suspend for ACTIVE, Reactivate for SUSPENDED.
pub fn row_action(state: &UserState) -> Option<UserMethod> {
    match state {
        UserState::Active => Some(UserMethod::Suspend),
        UserState::Suspended => Some(UserMethod::Reactivate),
        _ => None,
    }
}

fn verb(method: UserMethod) -> (&'static str, &'static str, &'static str) {
    // (button, in progress, done)
    match method {
        UserMethod::Suspend => ("Suspend", "Suspending…", "Suspended"),
        UserMethod::Reactivate => ("Reactivate", "Reactivating…", "Reactivated"),
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let query_map = use_query_map();
    let navigate = use_navigate();
    let view_query = Memo::new(move |_| ViewQuery::from_params(&query_map.read()));

    let rows = RwSignal::new(Vec::<User>::new());
    let next_page = RwSignal::new(None::<String>);
    let listing = RwSignal::new(Listing::Loading);
    let loading_more = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);
    let retries = RwSignal::new(0u32);
    // Answers to an older view arrive late sometimes: only the newest request may write.
    let generation = StoredValue::new(0u64);

    let load_first_page = {
        let client = client.clone();
        move |view: ViewQuery| {
            let current = generation.get_value() + 1;
            generation.set_value(current);
            listing.set(Listing::Loading);
            more_error.set(None);
            let client = client.clone();
            spawn_local(async move {
                let result = client.list_users(&view.list_params(None)).await;
                if generation.get_value() != current {
                    return;
                }
                match result {
                    Ok(page) => {
                        rows.set(page.results);
                        next_page.set(page.next_page_token);
                        listing.set(Listing::Loaded);
                    }
                    Err(err) => listing.set(Listing::Failed(err.to_string())),
                }
            });
        }
    };
    Effect::new(move |_| {
        retries.track();
        load_first_page(view_query.get());
    });

    let load_more = {
        let client = client.clone();
        Callback::new(move |()| {
            let Some(token) = next_page.get_untracked() else {
                return;
            };
            let current = generation.get_value();
            loading_more.set(true);
            more_error.set(None);
            let client = client.clone();
            let view = view_query.get_untracked();
            spawn_local(async move {
                let result = client.list_users(&view.list_params(Some(token))).await;
                if generation.get_value() != current {
                    return;
                }
                loading_more.set(false);
                match result {
                    Ok(page) => {
                        rows.update(|rows| rows.extend(page.results));
                        next_page.set(page.next_page_token);
                    }
                    Err(err) => more_error.set(Some(err.to_string())),
                }
            });
        })
    };

    // --- search, filter and sort: the URL is the single source of truth ---
    let go = {
        let navigate = navigate.clone();
        move |view: ViewQuery| navigate(&view.href(), NavigateOptions::default())
    };
    let search_text = RwSignal::new(view_query.get_untracked().q);
    let search_timer = StoredValue::new(None::<TimeoutHandle>);
    // Back and Forward change the URL under the search box: follow them.
    Effect::new(move |_| {
        let q = view_query.read().q.clone();
        if search_timer.get_value().is_none() && search_text.get_untracked() != q {
            search_text.set(q);
        }
    });
    let on_search_input = {
        let go = go.clone();
        move |text: String| {
            search_text.set(text);
            if let Some(timer) = search_timer.get_value() {
                timer.clear();
            }
            let go = go.clone();
            let timer = set_timeout_with_handle(
                move || {
                    search_timer.set_value(None);
                    let mut view = view_query.get_untracked();
                    let text = search_text.get_untracked();
                    if view.q != text {
                        view.q = text;
                        go(view);
                    }
                },
                SEARCH_DEBOUNCE,
            )
            .ok();
            search_timer.set_value(timer);
        }
    };
    let on_state_change = {
        let go = go.clone();
        move |state: String| {
            let mut view = view_query.get_untracked();
            view.state = state;
            go(view);
        }
    };
    let sort_by = {
        let go = go.clone();
        Callback::new(move |field: OrderField| {
            let mut view = view_query.get_untracked();
            view.order = if view.order.field == field {
                OrderBy {
                    field,
                    direction: view.order.direction.flipped(),
                }
            } else {
                OrderBy {
                    field,
                    direction: SortDirection::Asc,
                }
            };
            go(view);
        })
    };
    let clear_filters = {
        let go = go.clone();
        Callback::new(move |()| {
            search_text.set(String::new());
            go(ViewQuery {
                order: view_query.get_untracked().order,
                ..ViewQuery::default()
            })
        })
    };

    // --- state changes through the confirmation dialog ---
    let pending = RwSignal::new(None::<PendingChange>);
    let busy = RwSignal::new(false);
    let dialog_error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let notice_count = StoredValue::new(0u64);
    let show_notice = move |text: String| {
        let this = notice_count.get_value() + 1;
        notice_count.set_value(this);
        notice.set(Some(text));
        set_timeout(
            move || {
                if notice_count.get_value() == this {
                    notice.set(None);
                }
            },
            NOTICE_TIME,
        );
    };
    let replace_row = move |user: User| {
        rows.update(|rows| {
            if let Some(row) = rows.iter_mut().find(|row| row.id == user.id) {
                *row = user;
            }
        });
    };
    let ask = Callback::new(move |change: PendingChange| {
        dialog_error.set(None);
        pending.set(Some(change));
    });
    let confirm = {
        let client = client.clone();
        Callback::new(move |()| {
            let Some(change) = pending.get_untracked() else {
                return;
            };
            busy.set(true);
            dialog_error.set(None);
            let client = client.clone();
            spawn_local(async move {
                let result = client
                    .call_user_method(change.method, &change.user.id)
                    .await;
                busy.set(false);
                match result {
                    Ok(user) => {
                        let (_, _, done) = verb(change.method);
                        show_notice(format!("{done} {} ({}).", user.display_name, user.email));
                        replace_row(user);
                        pending.set(None);
                    }
                    Err(err) => {
                        // Someone else may have changed this person meanwhile: show them as
                        // they are now, beside the server's explanation.
                        if err.code() == Some(409)
                            && let Ok(fresh) = client.get_user(&change.user.id).await
                        {
                            replace_row(fresh);
                        }
                        dialog_error.set(Some(err.to_string()));
                    }
                }
            });
        })
    };
    let cancel = Callback::new(move |()| pending.set(None));

    let dialog_method = move || pending.read().as_ref().map(|change| change.method);
    let dialog_title = Signal::derive(move || {
        pending.read().as_ref().map_or_else(String::new, |change| {
            format!("{} {}?", verb(change.method).0, change.user.display_name)
        })
    });

    let results_summary = move || {
        let count = rows.read().len();
        let more = if next_page.read().is_some() {
            " so far; more below"
        } else {
            ""
        };
        match count {
            1 => format!("1 user{more}"),
            n => format!("{n} users{more}"),
        }
    };

    // The table shows while loading and when there are rows; failures and "no match" have panels.
    let show_table = move || match listing.get() {
        Listing::Loading => true,
        Listing::Loaded => !rows.read().is_empty(),
        Listing::Failed(_) => false,
    };

    view! {
        <section class="users-page" aria-labelledby="users-heading">
            <h1 id="users-heading">"Users"</h1>
            <div class="toolbar" role="search">
                <label class="search">
                    <span class="visually-hidden">"Search users"</span>
                    <input
                        type="search"
                        name="q"
                        placeholder="Search by name, email or ID"
                        autocomplete="off"
                        prop:value=move || search_text.get()
                        on:input=move |event| on_search_input(event_target_value(&event))
                    />
                </label>
                <label class="state-filter">
                    "State "
                    <select
                        name="state"
                        prop:value=move || view_query.read().state.clone()
                        on:change=move |event| on_state_change(event_target_value(&event))
                    >
                        <option value="">"All states"</option>
                        {UserState::KNOWN
                            .iter()
                            .map(|state| {
                                view! {
                                    <option value=state.as_str().to_owned()>
                                        {state_label(state)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <p class="summary" aria-live="polite">
                    {move || match listing.get() {
                        Listing::Loaded => results_summary(),
                        Listing::Loading => "Loading…".to_owned(),
                        Listing::Failed(_) => String::new(),
                    }}
                </p>
            </div>

            <div class="notice" role="status" aria-live="polite">
                {move || notice.get()}
            </div>

            {move || match listing.get() {
                Listing::Failed(message) => {
                    view! {
                        <div class="panel error-panel" role="alert">
                            <h2>"The users could not be loaded"</h2>
                            <p>{message}</p>
                            <button type="button" on:click=move |_| retries.update(|n| *n += 1)>
                                "Try again"
                            </button>
                        </div>
                    }
                        .into_any()
                }
                Listing::Loaded if rows.read().is_empty() => {
                    let filtered = {
                        let view = view_query.read();
                        !view.q.is_empty() || !view.state.is_empty()
                    };
                    view! {
                        <div class="panel empty">
                            <h2>"No users match"</h2>
                            <Show
                                when=move || filtered
                                fallback=|| view! { <p>"This account has no users yet."</p> }
                            >
                                <p>"Nobody matches this search and filter."</p>
                                <button type="button" on:click=move |_| clear_filters.run(())>
                                    "Clear search and filter"
                                </button>
                            </Show>
                        </div>
                    }
                        .into_any()
                }
                _ => ().into_any(),
            }}

            <Show when=show_table>
                <div class="table-scroll">
                <table class="users" aria-busy=move || (listing.get() == Listing::Loading).to_string()>
                    <caption class="visually-hidden">"Users, with their state and actions"</caption>
                    <thead>
                        <tr>
                            <SortHeader label="Name" field=OrderField::DisplayName order=view_query sort_by />
                            <SortHeader label="Email" field=OrderField::Email order=view_query sort_by />
                            <SortHeader label="State" field=OrderField::State order=view_query sort_by />
                            <th scope="col">"Type"</th>
                            <SortHeader label="Created" field=OrderField::CreateTime order=view_query sort_by />
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <Show when=move || listing.get() == Listing::Loading && rows.read().is_empty()>
                            <tr class="loading-row"><td colspan="6">"Loading users…"</td></tr>
                        </Show>
                        <For
                            each=move || rows.get()
                            // State and update time are in the key so a changed row re-renders.
                            key=|user| (user.id.clone(), user.state.clone(), user.update_time.clone())
                            children=move |user| view! { <UserRow user ask /> }
                        />
                    </tbody>
                </table>
                </div>
                <div class="more">
                    <Show when=move || more_error.get().is_some()>
                        <p class="error" role="alert">{move || more_error.get().unwrap_or_default()}</p>
                    </Show>
                    <Show when=move || next_page.read().is_some() && listing.get() == Listing::Loaded>
                        <button type="button" disabled=move || loading_more.get()
                            on:click=move |_| load_more.run(())>
                            {move || if loading_more.get() { "Loading…" } else { "Load more users" }}
                        </button>
                    </Show>
                </div>
            </Show>

            <ConfirmDialog
                id="confirm-change"
                open=Signal::derive(move || pending.read().is_some())
                title=dialog_title
                confirm_label=Signal::derive(move || dialog_method().map(|m| verb(m).0).unwrap_or_default().to_owned())
                busy_label=Signal::derive(move || dialog_method().map(|m| verb(m).1).unwrap_or_default().to_owned())
                destructive=Signal::derive(move || dialog_method() == Some(UserMethod::Suspend))
                busy=busy
                error=dialog_error
                on_confirm=confirm
                on_cancel=cancel
            >
                {move || pending.get().map(|change| view! { <ChangeSummary change /> })}
            </ConfirmDialog>
        </section>
    }
}

/// What the dialog says will happen, naming the person.
#[component]
fn ChangeSummary(change: PendingChange) -> impl IntoView {
    let PendingChange { method, user } = change;
    let consequence = match method {
        UserMethod::Suspend => {
            "They will be signed out and unable to use 1Password until someone reactivates them. \
             Their data is kept."
        }
        UserMethod::Reactivate => {
            "They will be able to sign in and use 1Password again, with the access they had before."
        }
    };
    view! {
        <p class="who">
            <strong>{user.display_name.clone()}</strong>
            " "
            <span class="email">{user.email.clone()}</span>
        </p>
        <p>"Current state: " <StateBadge state=user.state.clone() /></p>
        <p>{consequence}</p>
    }
}

#[component]
fn SortHeader(
    label: &'static str,
    field: OrderField,
    order: Memo<ViewQuery>,
    sort_by: Callback<OrderField>,
) -> impl IntoView {
    let direction = move || {
        let order = order.read().order;
        (order.field == field).then_some(order.direction)
    };
    view! {
        <th
            scope="col"
            aria-sort=move || match direction() {
                Some(SortDirection::Asc) => "ascending",
                Some(SortDirection::Desc) => "descending",
                None => "none",
            }
        >
            <button type="button" class="sort" on:click=move |_| sort_by.run(field)>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || match direction() {
                        Some(SortDirection::Asc) => "▲",
                        Some(SortDirection::Desc) => "▼",
                        None => "",
                    }}
                </span>
            </button>
        </th>
    }
}

/// One person. Every text comes from the directory and is rendered as text, never as HTML.
#[component]
pub fn UserRow(user: User, #[prop(into)] ask: Callback<PendingChange>) -> impl IntoView {
    let created_date = user
        .create_time
        .get(..10)
        .unwrap_or(&user.create_time)
        .to_owned();
    let action = row_action(&user.state).map(|method| {
        let label = format!("{} {}", verb(method).0, user.display_name);
        let class = if method == UserMethod::Suspend {
            "row-action danger-outline"
        } else {
            "row-action"
        };
        let change = PendingChange {
            method,
            user: user.clone(),
        };
        view! {
            <button type="button" class=class aria-label=label
                on:click=move |_| ask.run(change.clone())>
                {verb(method).0}
            </button>
        }
    });
    view! {
        <tr data-user-id=user.id.to_string()>
            <td class="name">{user.display_name.clone()}</td>
            <td class="email">{user.email.clone()}</td>
            <td><StateBadge state=user.state.clone() /></td>
            <td>{type_label(user.user_type.as_ref())}</td>
            <td><time datetime=user.create_time.clone()>{created_date}</time></td>
            <td class="actions">{action}</td>
        </tr>
    }
}
