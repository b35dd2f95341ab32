//! The bar over the users table while people are selected: how many and who, and what can be
//! done to them all at once.

use keydesk_api::{Permission, User, UserMethod, UserState};
use leptos::prelude::*;

use super::change::{Change, MAX_BATCH, begin_recovery_refusal};
use crate::components::{
    row_action::missing_permission,
    users_table::{Upstream, select_shown},
};

/// The bar over the table while people are selected: how many, and what can be done to them.
#[component]
pub fn SelectionBar(
    selected: RwSignal<Vec<User>>,
    /// Who the list shows now, for "Select all shown".
    shown: RwSignal<Vec<User>>,
    #[prop(into)] ask: Callback<Change>,
) -> impl IntoView {
    let session = StoredValue::new(use_context::<keydesk_api::Session>());
    let refusal = RwSignal::new(None::<String>);
    // A changed selection clears an earlier refusal (only a change: not on the first run).
    Effect::watch(
        move || selected.track(),
        move |_, _, _| refusal.set(None),
        false,
    );
    // Who among the selected a change cannot be for, named, so that the admin can take them out;
    // `None` when it can be for everyone.
    let refuse_unless = move |allowed: fn(&UserState) -> bool, rule: &str| {
        let chosen = selected.read_untracked();
        let others: Vec<&str> = chosen
            .iter()
            .filter(|user| !allowed(&user.state))
            .map(|user| user.display_name.as_str())
            .collect();
        (!others.is_empty()).then(|| format!("{rule}: take out {}.", others.join(", ")))
    };
    let begin = move || {
        let chosen = selected.get_untracked();
        let why = begin_recovery_refusal(chosen.len()).or_else(|| {
            refuse_unless(
                |state| matches!(state, UserState::Active | UserState::RecoveryStarted),
                "Recovery begins only for people who are Active or in Recovery started",
            )
        });
        match why {
            Some(why) => refusal.set(Some(why)),
            None => ask.run(Change::BeginRecovery(chosen)),
        }
    };
    // Suspend or reactivate everyone selected, up to MAX_BATCH, each who may be.
    let batch = move |method: UserMethod| {
        let count = selected.read_untracked().len();
        let (allowed, rule): (fn(&UserState) -> bool, &str) = match method {
            UserMethod::Suspend => (
                |state| *state == UserState::Active,
                "Only Active people can be suspended",
            ),
            _ => (
                |state| *state == UserState::Suspended,
                "Only Suspended people can be reactivated",
            ),
        };
        let why = (count > MAX_BATCH)
            .then(|| format!("You selected {count} people; at most {MAX_BATCH} at once."))
            .or_else(|| refuse_unless(allowed, rule));
        match why {
            Some(why) => refusal.set(Some(why)),
            None => ask.run(Change::Each(method, selected.get_untracked())),
        }
    };
    let batch_button = move |method: UserMethod, label: &'static str| {
        let cannot = missing_permission(method.permission());
        let may = cannot.is_none();
        view! {
            <button type="button" aria-disabled=(!may).then_some("true")
                title=cannot.unwrap_or_default()
                on:click=move |_| if may { batch(method) }>
                {label}
            </button>
        }
    };
    let complete = move || match refuse_unless(
        |state| *state == UserState::RecoveryAccepted,
        "Only people in Recovery accepted can have their recovery completed",
    ) {
        Some(why) => refusal.set(Some(why)),
        None => ask.run(Change::Each(
            UserMethod::CompleteRecovery,
            selected.get_untracked(),
        )),
    };
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
                // Not `disabled`: a disabled button says nothing, and these say why not.
                <button type="button" aria-disabled=(!may_recover).then_some("true")
                    title=move || cannot_recover.get_value().unwrap_or_default()
                    on:click=move |_| if may_recover { begin() }>
                    "Begin recovery"
                </button>
                <button type="button" hidden=upstream aria-disabled=(!may_recover).then_some("true")
                    title=move || cannot_recover.get_value().unwrap_or_default()
                    on:click=move |_| if may_recover { complete() }>
                    "Complete recovery"
                </button>
                {batch_button(UserMethod::Reactivate, "Reactivate")}
                {batch_button(UserMethod::Suspend, "Suspend")}
                <button type="button" class="link"
                    on:click=move |_| shown.with_untracked(|shown| {
                        session.with_value(|me| select_shown(selected, shown, me.as_ref(), true))
                    })>
                    "Select all shown"
                </button>
                <button type="button" class="link" on:click=move |_| selected.set(Vec::new())>
                    "Clear selection"
                </button>
                // Who is selected, even when the search hides them; each can be taken out.
                <ul class="chips">
                    {move || selected.get().into_iter().map(|user| {
                        let id = user.id.clone();
                        let unselect = move |_| selected.update(|chosen| chosen.retain(|u| u.id != id));
                        view! {
                            <li>
                                {user.display_name.clone()}
                                <button type="button" class="link" on:click=unselect
                                    aria-label=format!("Unselect {}", user.display_name)>"×"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <Show when=move || refusal.get().is_some()>
                    <p class="error" role="alert">{move || refusal.get().unwrap_or_default()}</p>
                </Show>
            </div>
        </Show>
    }
}
