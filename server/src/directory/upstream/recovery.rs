//! Beginning recovery upstream: the names checked against the snapshot (one bad name refuses them
//! all), one `op user recovery begin` for up to ten people, and each person's outcome recorded
//! through the ledger. 1Password sends the emails; completing happens in its admin console.

use keydesk_api::{AuditOutcome, BeginRecoveryResponse, RecoveryFailure, User, UserId};

use super::UpstreamDirectory;
use crate::{audit::Attempt, directory::DirectoryError};

impl UpstreamDirectory {
    pub(super) async fn begin(
        &self,
        names: Vec<String>,
        attempt: &Attempt,
    ) -> Result<BeginRecoveryResponse, DirectoryError> {
        let Some(op) = &self.op else {
            return Err(DirectoryError::FailedPrecondition(
                super::NO_OP.trim_end_matches('.').to_owned(),
            ));
        };
        self.ready()?;
        // Names are checked against the snapshot, all of them before anyone is touched.
        let chosen: Vec<User> = self
            .snapshot
            .choose_for_recovery(&attempt.actor_email, names)
            .await?
            .into_iter()
            .map(|u| self.as_received(u))
            .collect();
        let ids: Vec<UserId> = chosen.iter().map(|u| u.id.clone()).collect();
        let open = self.ledger.open(attempt, &ids).await?;
        let outcome = op.begin_recovery(&ids).await;
        let mut response = BeginRecoveryResponse {
            users: Vec::new(),
            emailed: Vec::new(),
            failures: Vec::new(),
        };
        let mut unknown = Vec::new();
        for user in chosen {
            if let Some(state) = outcome.began.get(&user.id) {
                let started = User {
                    state: state.clone(),
                    recovery_started_by: Some(attempt.actor_email.clone()),
                    ..user
                };
                let started = self.remember(started).await;
                // `op` begins again for someone already started, and 1Password emails them anew.
                response.emailed.push(started.id.clone());
                response.users.push(started);
                continue;
            }
            let message = match (outcome.failed.get(&user.id), &outcome.unknown) {
                (Some(reason), _) => format!("op could not begin recovery: {reason}"),
                (None, Some(why)) => {
                    unknown.push(user.id.to_string());
                    format!(
                        "it is not known whether recovery began ({why}); look in the admin \
                         console before trying again, since each attempt emails the person"
                    )
                }
                (None, None) => "op did not mention this person".into(),
            };
            response.failures.push(RecoveryFailure {
                id: user.id.clone(),
                user: Self::name(&user),
                message,
            });
        }
        if !unknown.is_empty() {
            // Read the directory soon, which settles them by what 1Password says.
            self.changed.notify_one();
        }
        // What `op` said, recorded; whom it said nothing clear about stays open, for
        // `Ledger::catch_up` to settle by the next reading.
        if !response.users.is_empty() {
            let began = response.users.iter().map(|u| u.id.to_string()).collect();
            self.ledger
                .settle(
                    attempt,
                    &open,
                    began,
                    AuditOutcome::Succeeded,
                    String::new(),
                )
                .await;
        }
        for failure in &response.failures {
            if !unknown.contains(&failure.id.to_string()) {
                let target = vec![failure.id.to_string()];
                self.ledger
                    .settle(
                        attempt,
                        &open,
                        target,
                        AuditOutcome::Failed,
                        failure.message.clone(),
                    )
                    .await;
            }
        }
        self.ledger.close(open);
        if response.users.is_empty() {
            let each: Vec<String> = response
                .failures
                .iter()
                .map(|f| format!("{}: {}", f.user, f.message))
                .collect();
            return Err(DirectoryError::Upstream {
                message: format!("Recovery did not begin for anyone. {}", each.join("; ")),
                retry_after: None,
            });
        }
        Ok(response)
    }

    /// `op` has no "send again": beginning again for someone in RECOVERY_STARTED is how the
    /// admin console does it, and it sends a new email.
    pub(super) async fn begin_again(
        &self,
        id: &UserId,
        attempt: &Attempt,
    ) -> Result<User, DirectoryError> {
        let user = self.get_user_merged(id).await?;
        if !keydesk_api::UserMethod::ResendRecovery.allowed_from(&user.state) {
            return Err(DirectoryError::FailedPrecondition(format!(
                "{} is {}: a recovery email can only be sent again while recovery is started",
                Self::name(&user),
                user.state
            )));
        }
        let response = self.begin(vec![id.to_string()], attempt).await?;
        match response.failures.into_iter().next() {
            Some(failure) => Err(DirectoryError::Upstream {
                message: failure.message,
                retry_after: None,
            }),
            None => Ok(response.users.into_iter().next().unwrap_or(user)),
        }
    }
}
