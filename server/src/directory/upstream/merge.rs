//! One directory from 1Password's two sources. The Users API lists everyone, but says only
//! `ACTIVE`, `SUSPENDED` or `STATE_UNSPECIFIED`; `op user list` says the recovery and transfer
//! states too, in one run for the whole account. Each person's state is
//! [`UserState::merge`] of the two: the CLI's where the API has no word for it.
//!
//! Without the CLI's states (no `op`, or it failed), people Keydesk knew in recovery keep that
//! state where the API's answer allows it, and the reading says the states are unknown rather
//! than showing everyone as Active. An account with automated provisioning, to which 1Password
//! refuses the Users API, is listed from `op` alone.

use std::collections::HashMap;

use keydesk_api::{AccountId, User, UserId, UserState};

use super::op::OpUser;
use crate::directory::DirectoryError;

pub struct Merged {
    pub users: Vec<User>,
    /// Why the recovery and transfer states are not known, when they are not.
    pub states_unknown: Option<String>,
}

/// The directory from the Users API's list (`api`), `op user list` (`cli`: `None` without `op`)
/// and the states Keydesk knew before (`known`).
pub fn reading(
    account: &AccountId,
    api: Result<Vec<User>, DirectoryError>,
    cli: Option<Result<Vec<OpUser>, String>>,
    known: &HashMap<UserId, UserState>,
) -> Result<Merged, DirectoryError> {
    let cli = match cli {
        Some(Ok(listed)) => Ok(listed),
        Some(Err(why)) => Err(format!(
            "op could not list them ({why}), and the Users API does not report them"
        )),
        None => Err(
            "the Users API does not report them, and no 1Password CLI is configured \
                     ([directory.upstream.op])"
                .to_owned(),
        ),
    };
    match (api, cli) {
        (Ok(users), Ok(listed)) => Ok(Merged {
            users: with_cli_states(users, listed),
            states_unknown: None,
        }),
        (Ok(users), Err(why)) => Ok(Merged {
            users: with_known_states(users, known),
            states_unknown: Some(why),
        }),
        (Err(DirectoryError::AutomatedProvisioning), Ok(listed)) => Ok(Merged {
            users: from_cli(account, listed),
            states_unknown: None,
        }),
        (Err(err), _) => Err(err),
    }
}

fn with_cli_states(users: Vec<User>, listed: Vec<OpUser>) -> Vec<User> {
    let mut by_id: HashMap<String, OpUser> = listed
        .into_iter()
        .map(|user| (user.id.clone(), user))
        .collect();
    users
        .into_iter()
        .map(|user| match by_id.remove(user.id.as_str()) {
            Some(cli) => User {
                state: UserState::merge(&user.state, &cli.state()),
                user_type: cli.user_type().or(user.user_type),
                ..user
            },
            None => user,
        })
        .collect()
}

fn with_known_states(users: Vec<User>, known: &HashMap<UserId, UserState>) -> Vec<User> {
    users
        .into_iter()
        .map(|user| {
            let state = match known.get(&user.id) {
                Some(was) if was.only_in_cli() && was.in_users_api() == user.state => was.clone(),
                _ => user.state.clone(),
            };
            User { state, ..user }
        })
        .collect()
}

/// People as `op user list` gives them: no creation time (it does not say), the rest as the
/// Users API would.
fn from_cli(account: &AccountId, listed: Vec<OpUser>) -> Vec<User> {
    listed
        .into_iter()
        .filter_map(|cli| {
            let id = UserId::parse(&cli.id).ok()?;
            Some(User {
                path: keydesk_api::user_resource_name(account, &id),
                email: cli.email.clone().unwrap_or_default(),
                display_name: cli.name.clone().unwrap_or_default(),
                state: cli.state(),
                create_time: String::new(),
                user_type: cli.user_type(),
                role: None,
                update_time: None,
                recovery_started_time: None,
                recovery_started_by: None,
                two_factor_enabled: None,
                signed_in_devices: None,
                id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_user(id: char, state: UserState) -> User {
        let id = UserId::parse(&id.to_string().repeat(26)).unwrap();
        User {
            path: format!("accounts/A/users/{id}"),
            email: format!("{id}@example.com"),
            display_name: id.to_string(),
            state,
            create_time: "2026-01-01T00:00:00Z".into(),
            user_type: None,
            role: None,
            update_time: None,
            recovery_started_time: None,
            recovery_started_by: None,
            two_factor_enabled: None,
            signed_in_devices: None,
            id,
        }
    }

    fn cli_user(id: char, state: &str) -> OpUser {
        OpUser {
            id: id.to_string().repeat(26),
            name: Some(id.to_string()),
            email: None,
            user_type: Some("MEMBER".into()),
            state: Some(state.into()),
        }
    }

    fn account() -> AccountId {
        AccountId::parse("KEYDESKDEMOACCOUNTABCDEFGH").unwrap()
    }

    #[test]
    fn the_clis_state_fills_in_what_the_api_cannot_say() {
        let api = vec![
            api_user('A', UserState::Active),
            api_user('B', UserState::Active),
            api_user('C', UserState::Suspended),
        ];
        let cli = vec![
            cli_user('A', "RECOVERY_ACCEPTED"),
            cli_user('B', "ACTIVE"),
            cli_user('C', "ACTIVE"),
        ];
        let merged = reading(&account(), Ok(api), Some(Ok(cli)), &HashMap::new()).unwrap();
        let states: Vec<&str> = merged.users.iter().map(|u| u.state.as_str()).collect();
        assert_eq!(states, ["RECOVERY_ACCEPTED", "ACTIVE", "SUSPENDED"]);
        assert_eq!(
            merged.users[0].user_type.as_ref().unwrap().as_str(),
            "MEMBER"
        );
        assert_eq!(merged.states_unknown, None);
    }

    #[test]
    fn without_op_the_known_states_stay_and_the_reading_says_so() {
        let api = vec![
            api_user('A', UserState::Active),
            api_user('B', UserState::Suspended),
        ];
        let known: HashMap<UserId, UserState> = [
            (api[0].id.clone(), UserState::RecoveryStarted),
            (api[1].id.clone(), UserState::RecoveryStarted),
        ]
        .into();
        let merged = reading(&account(), Ok(api), None, &known).unwrap();
        let states: Vec<&str> = merged.users.iter().map(|u| u.state.as_str()).collect();
        // B's suspension is the API's own word; A may still be in recovery.
        assert_eq!(states, ["RECOVERY_STARTED", "SUSPENDED"]);
        assert!(merged.states_unknown.unwrap().contains("no 1Password CLI"));
    }

    #[test]
    fn an_account_with_automated_provisioning_is_listed_from_op() {
        let cli = vec![cli_user('A', "RECOVERY_STARTED")];
        let api = Err(DirectoryError::AutomatedProvisioning);
        let merged = reading(&account(), api, Some(Ok(cli)), &HashMap::new()).unwrap();
        assert_eq!(merged.users[0].state, UserState::RecoveryStarted);
        assert!(merged.users[0].path.ends_with(merged.users[0].id.as_str()));
        let neither = reading(
            &account(),
            Err(DirectoryError::AutomatedProvisioning),
            Some(Err("not signed in".into())),
            &HashMap::new(),
        );
        assert!(matches!(
            neither,
            Err(DirectoryError::AutomatedProvisioning)
        ));
    }
}
