//! A user's state as a badge: always words, colour only as a second cue.

use keydesk_api::{UserState, UserType};
use leptos::prelude::*;

/// The words for a state. A state Keydesk does not know shows as its raw value.
pub fn state_label(state: &UserState) -> String {
    match state {
        UserState::Active => "Active",
        UserState::Pending => "Pending",
        UserState::Suspended => "Suspended",
        UserState::RecoveryStarted => "Recovery started",
        UserState::RecoveryAccepted => "Recovery accepted",
        UserState::TransferPending => "Transfer pending",
        UserState::TransferStarted => "Transfer started",
        UserState::TransferSuspended => "Transfer suspended",
        UserState::TransferAccepted => "Transfer accepted",
        UserState::Deleted => "Deleted",
        UserState::EmailVerifiedButRegistrationIncomplete => "Registration incomplete",
        UserState::TeamRegistrationInitiated => "Team registration started",
        UserState::Unknown => "Unknown",
        UserState::StateUnspecified => "Unspecified",
        UserState::Other(raw) => raw,
    }
    .to_owned()
}

/// Which colour family a state belongs to (the CSS class suffix).
fn state_tone(state: &UserState) -> &'static str {
    match state {
        UserState::Active => "ok",
        UserState::Suspended | UserState::TransferSuspended | UserState::Deleted => "stop",
        UserState::RecoveryStarted | UserState::RecoveryAccepted => "attention",
        UserState::Pending
        | UserState::TransferPending
        | UserState::TransferStarted
        | UserState::TransferAccepted
        | UserState::EmailVerifiedButRegistrationIncomplete
        | UserState::TeamRegistrationInitiated => "waiting",
        _ => "neutral",
    }
}

pub fn type_label(user_type: Option<&UserType>) -> String {
    match user_type {
        Some(UserType::Member) => "Member".to_owned(),
        Some(UserType::Guest) => "Guest".to_owned(),
        Some(UserType::ServiceAccount) => "Service account".to_owned(),
        Some(UserType::Other(raw)) => raw.clone(),
        None => "—".to_owned(),
    }
}

#[component]
pub fn StateBadge(state: UserState) -> impl IntoView {
    let class = format!("badge badge-{}", state_tone(&state));
    view! {
        <span class=class data-state=state.as_str().to_owned()>{state_label(&state)}</span>
    }
}
