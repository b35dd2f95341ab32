//! What an OAuth client (a Users API client, such as Keydesk's own upstream connector under test)
//! is answered: what 1Password's Users API answers, and never more. The embedded server is the
//! stand-in every upstream test is proven against, so a kindness here (a state the real API never
//! reports, a parameter it does not take) would let the connector pass for a reason 1Password
//! never gives. Each rule says where it comes from: 1Password's Users API reference and support
//! article, as summarised in `../shared/1PASSWORD.md`. Where they are silent, the stricter
//! reading, and the README ("The embedded server as a stand-in for the Users API") says so.
//!
//! A person's own session (the page) is answered with Keydesk's extensions as before.

use keydesk_api::{ListUsersParams, ListUsersResponse, User};

use crate::error::AppError;

/// A user as the Users API sends one.
/// - The API's `state` is only `STATE_UNSPECIFIED`, `ACTIVE` or `SUSPENDED` (Users API
///   reference); a person in recovery or transfer has no state of their own there
///   ([`keydesk_api::UserState::in_users_api`] says what Keydesk assumes for them).
/// - The documented User object has `id`, `email`, `display_name`, `state`, `create_time` and
///   `path` only: Keydesk's `type`, `role`, `update_time` and the recovery fields are not sent.
pub fn user(user: User) -> User {
    User {
        state: user.state.in_users_api(),
        ..user.without_extensions()
    }
}

/// A page of the list as the Users API sends it: `results` and `next_page_token`, nothing of
/// Keydesk's.
pub fn list(page: ListUsersResponse) -> ListUsersResponse {
    ListUsersResponse {
        results: page.results.into_iter().map(user).collect(),
        next_page_token: page.next_page_token,
        snapshot_time: None,
        snapshot_error: None,
        states_unknown: None,
    }
}

/// The list takes `filter`, `max_page_size` and `page_token` (Users API reference). Search,
/// state and order are Keydesk's extensions; whether 1Password ignores or refuses parameters it
/// does not know is not documented, so they are refused, with the error code the reference
/// names for a bad filter (`InvalidArgument`), rather than quietly answered.
pub fn check_list_params(params: &ListUsersParams) -> Result<(), AppError> {
    let extensions = [
        ("q", &params.q),
        ("state", &params.state),
        ("order_by", &params.order_by),
    ];
    match extensions.iter().find(|(_, value)| value.is_some()) {
        Some((name, _)) => Err(AppError::invalid(format!(
            "{name} is not a parameter of the Users API: it takes filter, max_page_size and \
             page_token"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keydesk_api::{Role, UserState, UserType};

    fn keydesk_user(state: UserState) -> User {
        User {
            id: keydesk_api::UserId::parse("IR7VJHJ36JHINBFAD7V2T5MP3E").unwrap(),
            email: "wendy_appleseed@agilebits.com".into(),
            display_name: "Wendy Appleseed".into(),
            state,
            create_time: "2024-01-15T10:30:00Z".into(),
            path: "accounts/ACCOUNT123/users/IR7VJHJ36JHINBFAD7V2T5MP3E".into(),
            user_type: Some(UserType::Member),
            role: Some(Role::Owner),
            update_time: Some("2024-02-01T00:00:00Z".into()),
            recovery_started_time: Some("2024-02-01T00:00:00Z".into()),
            recovery_started_by: Some("amara.okafor@example.com".into()),
            two_factor_enabled: Some(true),
            signed_in_devices: Some(2),
        }
    }

    #[test]
    fn only_the_documented_fields_and_states_go_out() {
        let sent = serde_json::to_value(user(keydesk_user(UserState::RecoveryAccepted))).unwrap();
        let fields: Vec<&String> = sent.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "create_time",
                "display_name",
                "email",
                "id",
                "path",
                "state"
            ]
        );
        assert_eq!(sent["state"], "ACTIVE");
        let pending = user(keydesk_user(UserState::Pending));
        assert_eq!(pending.state, UserState::StateUnspecified);
    }

    #[test]
    fn keydesks_list_parameters_are_refused() {
        let plain = ListUsersParams {
            filter: Some("user.isActive()".into()),
            max_page_size: Some("1000".into()),
            ..ListUsersParams::default()
        };
        assert!(check_list_params(&plain).is_ok());
        let searching = ListUsersParams {
            q: Some("wendy".into()),
            ..plain
        };
        let err = check_list_params(&searching).unwrap_err();
        assert!(
            err.message.contains("q is not a parameter"),
            "{}",
            err.message
        );
    }
}
