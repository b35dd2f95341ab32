//! The bar over the users table while people are selected: how many and who, and what can be
//! done to them all at once.

use keydesk_api::{User, UserMethod, UserState};
use leptos::prelude::*;

use super::change::{Change, MAX_BATCH, begin_recovery_refusal};
use crate::components::{
    row_action::{self, RowAction},
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
    // Not `disabled`: a disabled button says nothing, and these say why not, on hover and,
    // when pressed, in words below.
    let button = move |action: RowAction, label: &'static str, then: Callback<()>| {
        let cannot = move || row_action::refusal(action);
        view! {
            <button type="button" aria-disabled=move || cannot().is_some().then_some("true")
                title=move || cannot().unwrap_or_default()
                on:click=move |_| match cannot() {
                    Some(why) => refusal.set(Some(why)),
                    None => then.run(()),
                }>
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
    let complete_action = RowAction::Method(UserMethod::CompleteRecovery);
    view! {
        <Show when=move || !selected.read().is_empty()>
            <div class="selection-bar" role="region" aria-label="Selected people">
                <span class="selection-count">
                    {move || match selected.read().len() {
                        1 => "1 person selected".to_owned(),
                        n => format!("{n} people selected"),
                    }}
                </span>
                {button(RowAction::BeginRecovery, "Begin recovery", Callback::new(move |()| begin()))}
                {(!upstream).then(|| {
                    button(complete_action, "Complete recovery", Callback::new(move |()| complete()))
                })}
                {button(
                    RowAction::Method(UserMethod::Reactivate),
                    "Reactivate",
                    Callback::new(move |()| batch(UserMethod::Reactivate)),
                )}
                {button(
                    RowAction::Method(UserMethod::Suspend),
                    "Suspend",
                    Callback::new(move |()| batch(UserMethod::Suspend)),
                )}
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
