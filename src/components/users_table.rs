//! The users table: one source for its markup. The page draws it with its controls (selection,
//! sorting, each row's actions); the server draws the same component, without them, into the
//! page it sends (`server/src/page/first_rows.rs`), so the first rows show before the app runs.
//!
//! Nothing here may touch the browser: on the server it is rendered to HTML natively.

use keydesk_api::{OrderBy, OrderField, SortDirection, User, UserState};
use leptos::prelude::*;

use super::{
    StateBadge,
    row_action::{RowAction, active_owners, unavailable},
    row_menu::RowMenu,
};
use crate::time;

/// In context when the directory is a 1Password account (Keydesk's upstream connector), where
/// recoveries can only be completed in the account's admin console (its address is the
/// [`Client`](crate::api::Client)'s, one place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream;

/// What the table can do once the app runs it. Without them it is the table as the server
/// writes it: the same rows and headings, no controls, since none would work yet.
#[derive(Clone, Copy)]
pub struct TableControls {
    pub sort_by: Callback<OrderField>,
    /// A row's action was chosen for its person.
    pub act: Callback<(RowAction, User)>,
    /// Who is selected, kept across paging and searching.
    pub selected: RwSignal<Vec<User>>,
}

#[component]
pub fn UsersTable(
    #[prop(into)] rows: Signal<Vec<User>>,
    #[prop(into)] order: Signal<OrderBy>,
    /// How many of `rows` to draw for now (a screenful first, then the rest).
    #[prop(into, default = Signal::stored(usize::MAX))]
    row_limit: Signal<usize>,
    #[prop(into, default = Signal::stored(false))] loading: Signal<bool>,
    #[prop(optional)] controls: Option<TableControls>,
) -> impl IntoView {
    let select_all = controls.map(|controls| {
        let selected = controls.selected;
        let is_selected =
            move |user: &User| selected.read().iter().any(|chosen| chosen.id == user.id);
        // Never one's own account: nobody changes it.
        let session = StoredValue::new(use_context::<keydesk_api::Session>());
        let selectable =
            move |user: &User| !session.with_value(|s| s.as_ref().is_some_and(|me| me.is(user)));
        let all_shown_selected = move || {
            let rows = rows.read();
            let mut shown = rows.iter().filter(|user| selectable(user)).peekable();
            shown.peek().is_some() && shown.all(is_selected)
        };
        let toggle_all_shown = move |_| {
            let select = !all_shown_selected();
            rows.with_untracked(|rows| {
                session.with_value(|me| select_shown(selected, rows, me.as_ref(), select))
            })
        };
        view! {
            // Out of the Tab order, like the sort buttons: the keyboard's way is "Select all
            // shown" in the selection bar.
            <input type="checkbox" aria-label="Select everyone shown" tabindex="-1"
                prop:checked=all_shown_selected on:change=toggle_all_shown />
        }
    });
    let sort_by = controls.map(|controls| controls.sort_by);
    let header = move |label: &'static str, field: OrderField| {
        view! { <SortHeader label field order sort_by /> }
    };
    view! {
        <table class="users" aria-busy=move || loading.get().to_string()>
            <caption class="visually-hidden">"Users, with their role, state and actions"</caption>
            // Fixed widths: the columns stay put whoever is listed.
            <colgroup>
                <col class="c-select" /><col class="c-person" /><col class="c-role" />
                <col class="c-state" /><col class="c-date" /><col class="c-actions" />
            </colgroup>
            <thead>
                <tr>
                    <th scope="col" class="select">{select_all}</th>
                    {header("Name", OrderField::DisplayName)}
                    <th scope="col">"Role"</th>
                    {header("State", OrderField::State)}
                    {header("Created", OrderField::CreateTime)}
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                <Show when=move || loading.get() && rows.read().is_empty()>
                    <tr class="loading-row"><td colspan="6">"Loading users…"</td></tr>
                </Show>
                // Rows are kept by position and follow whoever is at theirs: the next search
                // rewrites the texts of the rows already in the table instead of building new
                // ones, and a change of state redraws one row's cells.
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
                        view! { <UserRow user controls /> }
                    }
                />
            </tbody>
        </table>
    }
}

/// A column heading that sorts the list when the app runs (a button), and says how it is sorted
/// either way.
#[component]
fn SortHeader(
    label: &'static str,
    field: OrderField,
    order: Signal<OrderBy>,
    sort_by: Option<Callback<OrderField>>,
) -> impl IntoView {
    let direction = move || {
        let order = order.get();
        (order.field == field).then_some(order.direction)
    };
    // Only sortable columns carry a mark: ↕ until they sort the list.
    let mark = move || {
        view! {
            <span class="sort-mark" aria-hidden="true">
                {move || match direction() {
                    Some(SortDirection::Asc) => "▲",
                    Some(SortDirection::Desc) => "▼",
                    None => "↕",
                }}
            </span>
        }
    };
    let content = match sort_by {
        Some(sort_by) => view! {
            // Out of the Tab order: the Sort list beside the search box is the keyboard's way,
            // and a row's action stays three Tabs from the search box.
            <button type="button" class="sort" tabindex="-1" on:click=move |_| sort_by.run(field)>
                {label}{mark()}
            </button>
        }
        .into_any(),
        None => view! { {label}{mark()} }.into_any(),
    };
    view! {
        <th
            scope="col"
            class="sortable"
            aria-sort=move || match direction() {
                Some(SortDirection::Asc) => "ascending",
                Some(SortDirection::Desc) => "descending",
                None => "none",
            }
        >
            {content}
        </th>
    }
}

/// One person. Every text comes from the directory and is rendered as text, never as HTML. The
/// row follows `user`: its cells change in place when the person does (or when the table puts
/// someone else in this row), and only the state's cells are rebuilt when the state changes.
#[component]
pub fn UserRow(
    #[prop(into)] user: Signal<User>,
    /// Without them, the row as the server writes it.
    controls: Option<TableControls>,
) -> impl IntoView {
    let state = Memo::new(move |_| user.with(|user| user.state.clone()));
    let name = move || user.with(|user| user.display_name.clone());
    // The signed-in admin's own row: marked, and offering nothing, since nobody changes their
    // own account (the server refuses it too).
    let session = StoredValue::new(use_context::<keydesk_api::Session>());
    let is_me = Memo::new(move |_| {
        user.with(|user| session.with_value(|me| me.as_ref().is_some_and(|me| me.is(user))))
    });
    let offered = Memo::new(move |_| {
        let owners = active_owners();
        user.with(|user| session.with_value(|me| RowAction::offered(user, me.as_ref(), owners)))
    });
    // How long a recovery has waited: for the person since it began, for an admin since the
    // person accepted it (their last change).
    let since = move || {
        user.with(|user| match user.state {
            UserState::RecoveryStarted => user.recovery_started_time.clone().map(|t| ("since ", t)),
            UserState::RecoveryAccepted => user.update_time.clone().map(|t| ("waiting since ", t)),
            _ => None,
        })
        .map(|(words, time)| view! { <small class="since">{words} <When time /></small> })
    };
    let selected = move || {
        controls.is_some_and(|controls| {
            user.with(|user| controls.selected.read().iter().any(|u| u.id == user.id))
        })
    };
    let checkbox = controls.map(|controls| {
        let toggle = move |_| {
            let user = user.get_untracked();
            controls.selected.update(|selected| {
                if let Some(index) = selected.iter().position(|chosen| chosen.id == user.id) {
                    selected.remove(index);
                } else {
                    selected.push(user);
                }
            });
        };
        view! {
            <input type="checkbox" aria-label=move || format!("Select {}", name())
                prop:checked=selected on:change=toggle />
        }
    });
    let actions = controls.map(|controls| {
        let upstream = use_context::<Upstream>().is_some();
        move || {
            // 1Password completes recoveries only in its admin console: the dialog records the
            // checks, then opens it.
            if upstream && state.get() == UserState::RecoveryAccepted {
                let complete = RowAction::Method(keydesk_api::UserMethod::CompleteRecovery);
                return view! {
                    <button type="button" class="row-action console"
                        aria-label=move || format!("Complete recovery for {} in the 1Password admin console", name())
                        title="1Password completes recoveries only in its admin console"
                        on:click=move |_| controls.act.run((complete, user.get_untracked()))>
                        "Complete in admin console"
                    </button>
                }
                .into_any();
            }
            // One action in view, the others (Suspend, never the loudest thing in a row) in
            // the row's menu. Not `disabled`: a disabled button shows no tooltip, and the
            // tooltip says why.
            let button = move |action: RowAction, class: &'static str| {
                let refused = unavailable(action, &user.get_untracked());
                let allowed = refused.is_none();
                view! {
                    <button type="button" class=class
                        aria-label=move || format!("{} {}", action.label(), name())
                        aria-disabled=(!allowed).then_some("true")
                        title=refused.unwrap_or_default()
                        on:click=move |_| if allowed {
                            controls.act.run((action, user.get_untracked()))
                        }>
                        {action.label()}
                    </button>
                }
            };
            let mut actions = offered.get().into_iter();
            let primary = actions.next().map(|action| button(action, "row-action"));
            let rest: Vec<RowAction> = actions.collect();
            let menu = (!rest.is_empty()).then(|| {
                let entries = rest
                    .into_iter()
                    .map(|action| button(action, ""))
                    .collect_view()
                    .into_any();
                let label = move || format!("More actions for {}", name());
                view! { <RowMenu label entries /> }
            });
            view! { {primary}{menu} }.into_any()
        }
    });
    view! {
        <tr data-user-id=move || user.with(|user| user.id.to_string()) class:selected=selected>
            <td class="select">{checkbox}</td>
            <td class="person">
                <a href=move || user.with(|user| format!("/users/{}", user.id))>{name}</a>
                {move || is_me.get().then(|| view! { " " <span class="you">"you"</span> })}
                <span class="email">{move || user.with(|user| user.email.clone())}</span>
            </td>
            <td class="role">{move || user.with(|user| user.role_label().to_owned())}</td>
            <td class="state">{move || view! { <StateBadge state=state.get() /> }}{since}</td>
            <td class="date">{move || user.with(|user| view! { <When time=user.create_time.clone() /> })}</td>
            <td class="actions">{actions}</td>
        </tr>
    }
}

/// Select (or unselect) everyone in `shown` but the signed-in admin (`me`), whom nobody changes.
pub fn select_shown(
    selected: RwSignal<Vec<User>>,
    shown: &[User],
    me: Option<&keydesk_api::Session>,
    select: bool,
) {
    let shown = shown
        .iter()
        .filter(|user| !me.is_some_and(|me| me.is(user)));
    selected.update(|selected| {
        selected.retain(|chosen| !shown.clone().any(|row| row.id == chosen.id));
        if select {
            selected.extend(shown.cloned());
        }
    });
}

/// A time as a short local date, exact on hover; "—" for none (`op user list`, the only source
/// for an account with automated provisioning, does not say when someone joined).
#[component]
pub fn When(time: String) -> impl IntoView {
    if time.is_empty() {
        return "—".into_any();
    }
    view! { <time datetime=time.clone() title=time::exact(&time)>{time::short_date(&time)}</time> }
        .into_any()
}

/// The table as the server writes it into the page for whoever is signed in: these rows of
/// this view, as HTML.
#[cfg(feature = "ssr")]
pub fn users_table_html(users: Vec<User>, order: OrderBy, session: keydesk_api::Session) -> String {
    let owner = Owner::new();
    owner.with(|| {
        provide_context(session);
        view! { <UsersTable rows=Signal::stored(users) order=Signal::stored(order) /> }.to_html()
    })
}
