//! A user's state as a badge: always words, colour only as a second cue.

use keydesk_api::{UserState, UserType};
use leptos::prelude::*;

/// The words for a state. A state Keydesk does not know shows as its raw value.
pub fn state_label(state: &UserState) -> String {
    state.label().to_owned()
}

pub fn type_label(user_type: Option<&UserType>) -> String {
    user_type.map_or("—", UserType::label).to_owned()
}

#[component]
pub fn StateBadge(state: UserState) -> impl IntoView {
    let class = format!("badge badge-{}", state.tone());
    view! {
        <span class=class data-state=state.as_str().to_owned()>{state_label(&state)}</span>
    }
}
