//! The users list: search, state filter and sort kept in the URL, rows that change state in place
//! through a confirmation dialog.

use std::time::Duration;

use keydesk_api::{
    ListUsersParams, OrderBy, OrderField, Permission, SortDirection, User, UserMethod, UserState,
};
use leptos::{prelude::*, task::spawn_local};

use super::changes::{Change, ChangeDialog, begin_recovery_refusal};
use crate::{
    api::Client,
    components::{
        StateBadge,
        state_badge::{state_label, type_label},
    },
    location::{Query, use_location},
};

/// Rows fetched per request.
const PAGE_SIZE: u32 = keydesk_api::USERS_PAGE_ROWS;
/// How long typing must pause before the search runs.
const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);
/// How long a notice stays.
const NOTICE_TIME: Duration = Duration::from_secs(8);
/// About a screenful of rows. A search's answer is drawn into this many rows first and the rest
/// once the browser has painted them, so the matches in view do not wait for rows below it.
const FIRST_SCREEN_ROWS: usize = 20;
/// When the rest of a search's rows follow: about a frame, so the first screen is painted first.
const REST_OF_ROWS_AFTER: Duration = Duration::from_millis(20);

/// The view the URL describes: `?q=…&state=…&order_by=…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ViewQuery {
    q: String,
    state: String,
    order: OrderBy,
}

impl ViewQuery {
    fn from_params(params: &Query) -> Self {
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
        let mut params = Query::new();
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

/// What a row offers, by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowAction {
    Method(UserMethod),
    BeginRecovery,
}

impl RowAction {
    pub fn label(self) -> &'static str {
        match self {
            RowAction::Method(UserMethod::Suspend) => "Suspend",
            RowAction::Method(UserMethod::Reactivate) => "Reactivate",
            RowAction::Method(UserMethod::ResendRecovery) => "Resend email",
            RowAction::Method(UserMethod::CompleteRecovery) => "Complete recovery",
            RowAction::BeginRecovery => "Begin recovery",
        }
    }

    /// The permission the action needs; the server checks it, the page explains it.
    pub fn permission(self) -> Permission {
        match self {
            RowAction::Method(UserMethod::Suspend) => Permission::Suspend,
            RowAction::Method(UserMethod::Reactivate) => Permission::Reactivate,
            _ => Permission::Recover,
        }
    }

    fn change(self, user: User) -> Change {
        match self {
            RowAction::BeginRecovery => Change::BeginRecovery(vec![user]),
            RowAction::Method(UserMethod::CompleteRecovery) => Change::CompleteRecovery(vec![user]),
            RowAction::Method(method) => Change::One {
                method,
                user: Box::new(user),
            },
        }
    }
}

/// Suspend or begin recovery for ACTIVE people, reactivate SUSPENDED ones, resend the email while
/// recovery is started, complete it once accepted; nothing for any other state.
/// In context when the directory is a 1Password account (Keydesk's upstream connector), where
/// recoveries can only be completed in the account's admin console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub admin_console_url: Option<String>,
}

/// Where a RECOVERY_ACCEPTED person's recovery is completed when Keydesk cannot do it: a link
/// to the admin console, or its name when the URL is not configured.
#[component]
fn CompleteInConsole(upstream: Upstream, #[prop(into)] name: Signal<String>) -> impl IntoView {
    let label = move || {
        format!(
            "Complete recovery for {} in the 1Password admin console",
            name.get()
        )
    };
    match upstream.admin_console_url {
        Some(url) => view! {
            <a class="row-action console" href=url target="_blank" rel="external noopener"
                aria-label=label title="1Password completes recoveries only in its admin console">
                "Complete in admin console"
            </a>
        }
        .into_any(),
        None => view! {
            <span class="console-note" title=label>"Complete in 1Password's admin console"</span>
        }
        .into_any(),
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

pub fn row_actions(state: &UserState) -> Vec<RowAction> {
    match state {
        UserState::Active => vec![
            RowAction::Method(UserMethod::Suspend),
            RowAction::BeginRecovery,
        ],
        UserState::Suspended => vec![RowAction::Method(UserMethod::Reactivate)],
        UserState::RecoveryStarted => vec![RowAction::Method(UserMethod::ResendRecovery)],
        UserState::RecoveryAccepted => vec![RowAction::Method(UserMethod::CompleteRecovery)],
        _ => Vec::new(),
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let location = use_location();
    let view_query = Memo::new(move |_| ViewQuery::from_params(&location.query.read()));

    let rows = RwSignal::new(Vec::<User>::new());
    // How many of `rows` the table shows for now (see FIRST_SCREEN_ROWS).
    let row_limit = RwSignal::new(usize::MAX);
    let next_page = RwSignal::new(None::<String>);
    // Upstream only: when the snapshot lists come from was read, and why it could not be since.
    let snapshot = RwSignal::new(None::<(String, Option<String>)>);
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
                        snapshot.set(page.snapshot_time.map(|time| (time, page.snapshot_error)));
                        // The first answer replaces the server's rows, all of them at once.
                        if page.results.len() > FIRST_SCREEN_ROWS
                            && !rows.with_untracked(Vec::is_empty)
                        {
                            row_limit.set(FIRST_SCREEN_ROWS);
                            let _ = set_timeout_with_handle(
                                move || row_limit.set(usize::MAX),
                                REST_OF_ROWS_AFTER,
                            );
                        }
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
    // The server's first rows give way to the app's own list (or its error, or another page).
    Effect::new(move |_| {
        if listing.get() != Listing::Loading {
            crate::remove_boot_rows();
        }
    });
    on_cleanup(crate::remove_boot_rows);

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
    let go = move |view: ViewQuery| location.navigate(&view.href());
    let search_text = RwSignal::new(view_query.get_untracked().q);
    let search_timer = StoredValue::new(None::<TimeoutHandle>);
    // Back and Forward change the URL under the search box: follow them.
    Effect::new(move |_| {
        let q = view_query.read().q.clone();
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
    };
    let on_state_change = move |state: String| {
        let mut view = view_query.get_untracked();
        view.state = state;
        go(view);
    };
    let sort_by = Callback::new(move |field: OrderField| {
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
    });
    let clear_filters = Callback::new(move |()| {
        search_text.set(String::new());
        go(ViewQuery {
            order: view_query.get_untracked().order,
            ..ViewQuery::default()
        })
    });

    // --- state changes, through the confirmation dialog ---
    let pending = RwSignal::new(None::<Change>);
    let notice = RwSignal::new(None::<String>);
    let notice_count = StoredValue::new(0u64);
    let show_notice = Callback::new(move |text: String| {
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
    });
    // Selected people, kept across paging and searching; updated with their rows.
    let selected = RwSignal::new(Vec::<User>::new());
    let replace_row = Callback::new(move |user: User| {
        rows.update(|rows| {
            if let Some(row) = rows.iter_mut().find(|row| row.id == user.id) {
                *row = user.clone();
            }
        });
        selected.update(|selected| {
            if let Some(chosen) = selected.iter_mut().find(|chosen| chosen.id == user.id) {
                *chosen = user;
            }
        });
    });
    let ask = Callback::new(move |change: Change| pending.set(Some(change)));
    let toggle = Callback::new(move |user: User| {
        selected.update(|selected| {
            if let Some(index) = selected.iter().position(|chosen| chosen.id == user.id) {
                selected.remove(index);
            } else {
                selected.push(user);
            }
        });
    });
    let is_selected = move |user: &User| selected.read().iter().any(|chosen| chosen.id == user.id);
    let all_shown_selected = move || {
        let rows = rows.read();
        !rows.is_empty() && rows.iter().all(is_selected)
    };
    let toggle_all_shown = move |_| {
        let select = !all_shown_selected();
        let shown = rows.get_untracked();
        selected.update(|selected| {
            selected.retain(|chosen| !shown.iter().any(|row| row.id == chosen.id));
            if select {
                selected.extend(shown);
            }
        });
    };

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
            <h1 id="users-heading">
                {move || if view_query.read().state == "RECOVERY_ACCEPTED" {
                    "Recoveries awaiting completion"
                } else {
                    "Users"
                }}
            </h1>
            <Show when=move || view_query.read().state == "RECOVERY_ACCEPTED">
                <p class="lead">
                    "These people have confirmed their email, received a new Secret Key and set a \
                     new password. Complete their recovery to let them sign in again."
                    {use_context::<Upstream>().map(|_| {
                        " 1Password offers no public interface for that: complete each one in the \
                         account's admin console."
                    })}
                </p>
            </Show>
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
            {move || snapshot.get().map(|(time, error)| {
                let read = age(&time);
                match error {
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
                }
            })}

            <SelectionBar selected ask />

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
                            <th scope="col" class="select">
                                <input
                                    type="checkbox"
                                    aria-label="Select everyone shown"
                                    prop:checked=all_shown_selected
                                    on:change=toggle_all_shown
                                />
                            </th>
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
                            <tr class="loading-row"><td colspan="7">"Loading users…"</td></tr>
                        </Show>
                        // Rows are kept by position and follow whoever is at theirs: the next
                        // search rewrites the texts of the rows already in the table instead of
                        // building new ones, and a change of state redraws one row's cells.
                        <For
                            each=move || 0..rows.read().len().min(row_limit.get())
                            key=|index| *index
                            children=move |index| {
                                let first = rows.with_untracked(|rows| rows[index].clone());
                                let user = Memo::new(move |previous: Option<&User>| {
                                    // Past the end only while the table drops this row.
                                    rows.with(|rows| rows.get(index).or(previous).cloned())
                                        .unwrap_or_else(|| first.clone())
                                });
                                let checked = Signal::derive(move || {
                                    user.with(|user| selected.read().iter().any(|u| u.id == user.id))
                                });
                                view! { <UserRow user ask selected=checked on_toggle=toggle /> }
                            }
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

            <ChangeDialog pending on_updated=replace_row on_notice=show_notice />
        </section>
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

/// The bar over the table while people are selected: how many, and what can be done to them.
#[component]
pub fn SelectionBar(
    selected: RwSignal<Vec<User>>,
    #[prop(into)] ask: Callback<Change>,
) -> impl IntoView {
    let refusal = RwSignal::new(None::<String>);
    // A changed selection clears an earlier refusal (only a change: not on the first run).
    Effect::watch(
        move || selected.track(),
        move |_, _, _| refusal.set(None),
        false,
    );
    let begin = move |_| {
        let chosen = selected.get_untracked();
        match begin_recovery_refusal(chosen.len()) {
            Some(why) => refusal.set(Some(why)),
            None => ask.run(Change::BeginRecovery(chosen)),
        }
    };
    let all_accepted = move || {
        let chosen = selected.read();
        !chosen.is_empty()
            && chosen
                .iter()
                .all(|u| u.state == UserState::RecoveryAccepted)
    };
    let complete = move |_| ask.run(Change::CompleteRecovery(selected.get_untracked()));
    // 1Password completes recoveries only in its admin console: each row links there instead.
    let upstream = use_context::<Upstream>().is_some();
    let cannot_recover = StoredValue::new(missing_permission(Permission::Recover));
    let may_recover = cannot_recover.with_value(Option::is_none);
    view! {
        <Show when=move || !selected.read().is_empty()>
            <div class="selection-bar" role="region" aria-label="Selected people">
                <span class="selection-count">
                    {move || match selected.read().len() {
                        1 => "1 person selected".to_owned(),
                        n => format!("{n} people selected"),
                    }}
                </span>
                <button type="button" aria-disabled=(!may_recover).then_some("true")
                    title=move || cannot_recover.get_value().unwrap_or_default()
                    on:click=move |event| if may_recover { begin(event) }>
                    "Begin recovery"
                </button>
                <button
                    type="button"
                    hidden=upstream
                    on:click=complete
                    disabled=move || !all_accepted() || !may_recover
                    title=move || match cannot_recover.get_value() {
                        Some(why) => why,
                        None if all_accepted() => String::new(),
                        None => "Only people in Recovery accepted can have their recovery completed".to_owned(),
                    }
                >
                    "Complete recovery"
                </button>
                <button type="button" class="link" on:click=move |_| selected.set(Vec::new())>
                    "Clear selection"
                </button>
                <Show when=move || refusal.get().is_some()>
                    <p class="error" role="alert">{move || refusal.get().unwrap_or_default()}</p>
                </Show>
            </div>
        </Show>
    }
}

/// One person. Every text comes from the directory and is rendered as text, never as HTML. The
/// row follows `user`: its cells change in place when the person does (or when the table puts
/// someone else in this row), and only the state's cells are rebuilt when the state changes.
#[component]
pub fn UserRow(
    #[prop(into)] user: Signal<User>,
    #[prop(into)] ask: Callback<Change>,
    #[prop(into)] selected: Signal<bool>,
    #[prop(into)] on_toggle: Callback<User>,
) -> impl IntoView {
    let state = Memo::new(move |_| user.with(|user| user.state.clone()));
    let name = move || user.with(|user| user.display_name.clone());
    let date = |time: &str| time.get(..10).unwrap_or(time).to_owned();
    let since = move || {
        user.with(|user| {
            (user.state == UserState::RecoveryStarted)
                .then(|| user.recovery_started_time.clone())
                .flatten()
        })
        .map(|time| {
            let day = date(&time);
            view! { <small class="since">"since " <time datetime=time>{day}</time></small> }
        })
    };
    let upstream = use_context::<Upstream>();
    let actions = move || {
        if let Some(upstream) = upstream.clone()
            && state.get() == UserState::RecoveryAccepted
        {
            return view! { <CompleteInConsole upstream name=Signal::derive(name) /> }.into_any();
        }
        row_actions(&state.get())
            .into_iter()
            .map(|action| {
                let class = match action {
                    RowAction::Method(UserMethod::Suspend) => "row-action danger-outline",
                    _ => "row-action",
                };
                // Not `disabled`: a disabled button shows no tooltip, and the tooltip says why.
                let refused = missing_permission(action.permission());
                let allowed = refused.is_none();
                view! {
                    <button type="button" class=class
                        aria-label=move || format!("{} {}", action.label(), name())
                        aria-disabled=(!allowed).then_some("true")
                        title=refused.unwrap_or_default()
                        on:click=move |_| if allowed { ask.run(action.change(user.get_untracked())) }>
                        {action.label()}
                    </button>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <tr data-user-id=move || user.with(|user| user.id.to_string()) class:selected=move || selected.get()>
            <td class="select">
                <input type="checkbox" aria-label=move || format!("Select {}", name())
                    prop:checked=move || selected.get()
                    on:change=move |_| on_toggle.run(user.get_untracked()) />
            </td>
            <td class="name">
                <a href=move || user.with(|user| format!("/users/{}", user.id))>{name}</a>
            </td>
            <td class="email">{move || user.with(|user| user.email.clone())}</td>
            <td>{move || view! { <StateBadge state=state.get() /> }}{since}</td>
            <td>{move || user.with(|user| type_label(user.user_type.as_ref()))}</td>
            <td>
                <time datetime=move || user.with(|user| user.create_time.clone())>
                    {move || user.with(|user| date(&user.create_time))}
                </time>
            </td>
            <td class="actions">{actions}</td>
        </tr>
    }
}

/// Why the signed-in person may not do something, for a tooltip; `None` when they may. Without a
/// session in context (component tests), everything is allowed: the server is the authority.
pub fn missing_permission(permission: Permission) -> Option<String> {
    let session = use_context::<keydesk_api::Session>()?;
    if session.may(permission) {
        return None;
    }
    let roles = if session.roles.is_empty() {
        "none".to_owned()
    } else {
        session.roles.join(", ")
    };
    Some(format!(
        "You need the '{}' permission for this; your roles: {roles}",
        permission.as_str()
    ))
}
