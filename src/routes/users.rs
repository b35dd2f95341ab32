//! The users list: search, state filter and sort kept in the URL, rows that change state in place
//! through a confirmation dialog.

use std::time::Duration;

use keydesk_api::{OrderBy, OrderField, SortDirection, User, UsersView};
use leptos::{prelude::*, task::spawn_local};

use super::{
    SelectionBar,
    change::Change,
    changes::ChangeDialog,
    search_bar::{SearchBar, href},
};
use crate::{
    api::Client,
    components::{
        Notice,
        directory_status::{Refusals, Snapshot, SnapshotLine},
        users_table::{TableControls, Upstream, UsersTable},
    },
    location::use_location,
};

/// About a screenful of rows. A search's answer is drawn into this many rows first and the rest
/// once the browser has painted them, so the matches in view do not wait for rows below it.
const FIRST_SCREEN_ROWS: usize = 20;
/// When the rest of a search's rows follow: about a frame, so the first screen is painted first.
const REST_OF_ROWS_AFTER: Duration = Duration::from_millis(20);

/// How the first page of the current view stands.
#[derive(Clone, Debug, PartialEq)]
enum Listing {
    Loading,
    Loaded,
    Failed(String),
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let client = expect_context::<Client>();
    let location = use_location();
    let view_query = Memo::new(move |_| {
        let query = location.query.read();
        UsersView::from_pairs(query.pairs())
    });

    let rows = RwSignal::new(Vec::<User>::new());
    // How many of `rows` the table shows for now (see FIRST_SCREEN_ROWS).
    let row_limit = RwSignal::new(usize::MAX);
    let next_page = RwSignal::new(None::<String>);
    // Upstream only: when the snapshot lists come from was read, and why it could not be since.
    let snapshot = RwSignal::new(None::<Snapshot>);
    let listing = RwSignal::new(Listing::Loading);
    let loading_more = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);
    let retries = RwSignal::new(0u32);
    // Answers to an older view arrive late sometimes: only the newest request may write.
    let generation = StoredValue::new(0u64);

    let load_first_page = {
        let client = client.clone();
        move |view: UsersView| {
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
                        snapshot.set(Snapshot::of(&page));
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
                    // Not ready yet, and saying when to ask again: asked again then, by itself.
                    Err(err) if err.ready_in().is_some() => {
                        let wait = Duration::from_secs(err.ready_in().unwrap_or(2).into());
                        listing.set(Listing::Failed(format!(
                            "{err}. Keydesk asks again by itself."
                        )));
                        set_timeout(
                            move || {
                                if generation.get_value() == current {
                                    retries.update(|n| *n += 1);
                                }
                            },
                            wait,
                        );
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
    let ready = Signal::derive(move || listing.get() != Listing::Loading);
    Effect::new(move |_| {
        if ready.get() {
            crate::remove_boot_rows();
        }
    });
    on_cleanup(crate::remove_boot_rows);

    let load_more = {
        let client = client.clone();
        Callback::new(move |()| {
            let Some(token) = next_page
                .get_untracked()
                .filter(|_| !loading_more.get_untracked())
            else {
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

    // --- sorting by a column heading, and clearing: the address is the single source of truth
    let go = move |view: UsersView| location.navigate(&href(&view));
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
        go(UsersView {
            order: view_query.get_untracked().order,
            ..UsersView::default()
        })
    });

    // --- state changes, through the confirmation dialog ---
    let pending = RwSignal::new(None::<Change>);
    // A notice stays until it is dismissed or the next change replaces it.
    let notice = RwSignal::new(None::<String>);
    let show_notice = Callback::new(move |text: String| notice.set(Some(text)));
    // Selected people, kept across paging and searching; updated with their rows.
    let selected = RwSignal::new(Vec::<User>::new());
    // Someone changed: their row follows, or leaves a view filtered by a state they are no longer
    // in (a completed person leaves "Awaiting completion" at once); and whoever was acted on
    // leaves the selection, so a batch that went through leaves nobody selected.
    let follow_row = move |user: &User| {
        let filter = view_query.with_untracked(|view| view.state.clone());
        let leaves_view = !filter.is_empty() && user.state.as_str() != filter;
        rows.update(|rows| {
            if leaves_view {
                rows.retain(|row| row.id != user.id);
            } else if let Some(row) = rows.iter_mut().find(|row| row.id == user.id) {
                *row = user.clone();
            }
        });
    };
    let replace_row = Callback::new(move |user: User| {
        follow_row(&user);
        selected.update(|selected| selected.retain(|chosen| chosen.id != user.id));
    });
    // Another admin's change: the row follows, a filtered view gains whoever now belongs in it,
    // and a selected person is kept as they now are.
    if let Some(live) = use_context::<crate::live::Live>() {
        live.follow_users(move |user| {
            let filter = view_query.with_untracked(|view| view.state.clone());
            let shown = rows.with_untracked(|rows| rows.iter().any(|row| row.id == user.id));
            if !shown && !filter.is_empty() && user.state.as_str() == filter {
                retries.update(|n| *n += 1);
            }
            selected.update(|selected| {
                if let Some(chosen) = selected.iter_mut().find(|chosen| chosen.id == user.id) {
                    *chosen = user.clone();
                }
            });
            follow_row(&user);
        });
        Effect::watch(
            move || live.reset.get(),
            move |_, _, _| retries.update(|n| *n += 1),
            false,
        );
    }
    let ask = Callback::new(move |change: Change| {
        notice.set(None);
        pending.set(Some(change));
    });
    let controls = TableControls {
        sort_by,
        act: Callback::new(move |(action, user)| ask.run(Change::of(action, user))),
        selected,
    };

    let results_summary = move || {
        if listing.get() == Listing::Loading {
            return "Loading…".to_owned();
        }
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
    // Nothing beside the search box when the list could not be read: its panel says why.
    let summary = Signal::derive(move || match listing.get() {
        Listing::Failed(_) => String::new(),
        _ => results_summary(),
    });

    // The table shows while loading and when there are rows; failures and "no match" have panels.
    let show_table = move || match listing.get() {
        Listing::Loading => true,
        Listing::Loaded => !rows.read().is_empty(),
        Listing::Failed(_) => false,
    };

    view! {
        <section class="users-page" aria-labelledby="users-heading">
            <h1 id="users-heading">
                {move || view_query.read().heading()}
            </h1>
            <Show when=move || view_query.read().is_awaiting_completion()>
                <p class="lead">
                    "These people have confirmed their email, received a new Secret Key and set a \
                     new password. Complete their recovery to let them sign in again."
                    {use_context::<Upstream>().map(|_| {
                        " 1Password offers no public interface for that: complete each one in the \
                         account's admin console."
                    })}
                </p>
            </Show>
            <SearchBar view=view_query summary ready />

            <Notice notice />
            <Refusals />
            <SnapshotLine snapshot />

            <SelectionBar selected shown=rows ask />

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
                    // Named as what narrowed the list: the search, the state, or both.
                    let what = {
                        let view = view_query.read();
                        match (view.q.is_empty(), view.state.is_empty()) {
                            (false, false) => Some("search and filter"),
                            (false, true) => Some("search"),
                            (true, false) => Some("filter"),
                            (true, true) => None,
                        }
                    };
                    view! {
                        <div class="panel empty">
                            <h2>"No users match"</h2>
                            {match what {
                                Some(what) => view! {
                                    <p>"Nobody matches this " {what} "."</p>
                                    <button type="button" on:click=move |_| clear_filters.run(())>
                                        "Clear " {what}
                                    </button>
                                }
                                .into_any(),
                                None => view! { <p>"This account has no users yet."</p> }.into_any(),
                            }}
                        </div>
                    }
                        .into_any()
                }
                _ => ().into_any(),
            }}

            <Show when=show_table>
                <div class="table-scroll">
                <UsersTable
                    rows
                    order=Signal::derive(move || view_query.read().order)
                    row_limit
                    loading=Signal::derive(move || listing.get() == Listing::Loading)
                    controls
                />
                </div>
                <div class="more">
                    <Show when=move || more_error.get().is_some()>
                        <p class="error" role="alert">{move || more_error.get().unwrap_or_default()}</p>
                    </Show>
                    <Show when=move || next_page.read().is_some() && listing.get() == Listing::Loaded>
                        // Not `disabled` while loading: a disabled button loses focus to the page.
                        <button type="button" aria-disabled=move || loading_more.get().then_some("true")
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
