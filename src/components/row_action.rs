//! What a person's row (and their page) offers to do to them, by the rules `keydesk_api` keeps
//! and the server enforces: the page does not offer what the server would refuse.

use keydesk_api::{Permission, User, UserMethod, UserState};
use leptos::prelude::*;

/// What a row offers, by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowAction {
    Method(UserMethod),
    BeginRecovery,
}

impl RowAction {
    /// The permission the action needs; the server checks it, the page explains it.
    pub fn permission(self) -> Permission {
        match self {
            RowAction::Method(method) => method.permission(),
            RowAction::BeginRecovery => keydesk_api::BEGIN_RECOVERY_PERMISSION,
        }
    }

    /// What someone in `state` can have done to them (the rules are `keydesk_api`'s): suspend
    /// or begin recovery for ACTIVE people, reactivate SUSPENDED ones, resend the email while
    /// recovery is started, complete it once accepted; nothing in any other state.
    pub fn for_state(state: &UserState) -> Vec<RowAction> {
        // In the order the page shows them: Suspend, the loudest, last.
        let methods = [
            UserMethod::Reactivate,
            UserMethod::ResendRecovery,
            UserMethod::CompleteRecovery,
            UserMethod::Suspend,
        ];
        let mut actions = Vec::new();
        // Beginning again while it is started is what "Resend email" does.
        if *state == UserState::Active {
            actions.push(RowAction::BeginRecovery);
        }
        actions.extend(
            methods
                .into_iter()
                // Suspending someone suspended changes nothing: it is not offered.
                .filter(|method| method.allowed_from(state) && !changes_nothing(*method, state))
                .map(RowAction::Method),
        );
        actions
    }

    /// What the page offers to do to `user`, in [`RowAction::for_state`]'s order: nothing on one's own
    /// account, no Suspend for the only active owner (`active_owners`, from the state counts),
    /// and Suspend last. The server refuses the same; the page does not offer what it refuses.
    pub fn offered(
        user: &User,
        session: Option<&keydesk_api::Session>,
        active_owners: Option<u64>,
    ) -> Vec<RowAction> {
        if session.is_some_and(|me| me.is(user)) {
            return Vec::new();
        }
        let mut actions = RowAction::for_state(&user.state);
        if user.is_last_owner(active_owners) {
            actions.retain(|action| *action != RowAction::Method(UserMethod::Suspend));
        }
        actions
    }
}

/// How many owners are active, from the state counts in context (none in component tests).
pub fn active_owners() -> Option<u64> {
    let counts = use_context::<crate::Counts>()?;
    counts.counts.read().as_ref()?.active_owners
}

fn changes_nothing(method: UserMethod, state: &UserState) -> bool {
    matches!(
        (method, state),
        (UserMethod::Suspend, UserState::Suspended) | (UserMethod::Reactivate, UserState::Active)
    )
}

/// Why `action` cannot be done to anyone now, in words; `None` when it can: what the directory
/// cannot do at the moment (upstream: `op` not signed in, the Users API refused), or a
/// permission the signed-in person lacks. Reactive: read inside a view, it follows both.
pub fn refusal(action: RowAction) -> Option<String> {
    let readiness = use_context::<crate::readiness::Readiness>();
    let now = readiness.and_then(|readiness| {
        let (what, availability) = match action {
            RowAction::BeginRecovery | RowAction::Method(UserMethod::ResendRecovery) => {
                ("Recovery", readiness.recovery)
            }
            RowAction::Method(UserMethod::Suspend | UserMethod::Reactivate) => {
                ("Suspending and reactivating", readiness.state_changes)
            }
            RowAction::Method(UserMethod::CompleteRecovery) => return None,
        };
        let why = availability.read().refusal()?.to_owned();
        Some(format!("{what} is unavailable: {why}"))
    });
    now.or_else(|| missing_permission(action.permission()))
}

/// Why the signed-in person may not do `action` to `user`, for a tooltip; `None` when they may:
/// a [`refusal`] for anyone, or, with four eyes, completing a recovery they began themselves.
pub fn unavailable(action: RowAction, user: &User) -> Option<String> {
    refusal(action).or_else(|| {
        let session = use_context::<keydesk_api::Session>()?;
        let four_eyes = use_context::<crate::api::Client>()?.rules.four_eyes;
        let began = user.recovery_started_by.as_deref()?;
        (four_eyes
            && action == RowAction::Method(UserMethod::CompleteRecovery)
            && began.eq_ignore_ascii_case(&session.email))
        .then(|| "You began this recovery, so another admin must complete it".to_owned())
    })
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
