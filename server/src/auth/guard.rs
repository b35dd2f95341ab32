//! The guard every state-changing request passes: same-site check, permission, rate limit, and
//! the audit record of how it ended before the response leaves.
//!
//! A change the directory makes is recorded by the directory, in the same transaction (see
//! [`crate::audit`]); the guard records refusals and failures that changed nothing. A failure to
//! write a record means nothing happened: 503, never a change without its record.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, header, request::Parts},
};
use keydesk_api::{AuditAction, AuditOutcome, ErrorStatus, Permission, Session};

use super::{RequestContext, oauth};
use crate::{
    AppState,
    audit::{Attempt, Note},
    error::AppError,
};

/// The guard of one state-changing request.
pub struct Guard {
    /// `None` on the public recovery-link routes, where the person holds a link, not a login.
    session: Option<Session>,
    /// The OAuth client behind a bearer token, when one acts.
    client: Option<oauth::Client>,
    context: RequestContext,
    method: Method,
    headers: HeaderMap,
    state: AppState,
}

impl FromRequestParts<AppState> for Guard {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Guard {
            session: parts.extensions.get::<Session>().cloned(),
            client: parts.extensions.get::<oauth::Client>().cloned(),
            context: parts
                .extensions
                .get::<RequestContext>()
                .cloned()
                .unwrap_or(RequestContext {
                    request_id: String::new(),
                    client_address: "unknown".into(),
                }),
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            state: state.clone(),
        })
    }
}

/// A state change from another site is refused: the browser says so in `Sec-Fetch-Site`, or,
/// for older browsers, the `Origin` names another host. Clients that send neither are not
/// browsers, so not a cross-site risk.
fn cross_site(method: &Method, headers: &HeaderMap) -> Option<String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return (!matches!(site, "same-origin" | "none")).then(|| {
            format!(
                "the request came from another site ({})",
                super::printable(site)
            )
        });
    }
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split("://").nth(1).unwrap_or(origin);
    (origin == "null" || !origin_host.eq_ignore_ascii_case(host)).then(|| {
        format!(
            "the request came from another origin ({})",
            super::printable(origin)
        )
    })
}

pub(crate) fn missing(session: &Session, permission: Permission) -> AppError {
    let roles = if session.roles.is_empty() {
        "none".to_owned()
    } else {
        session.roles.join(", ")
    };
    AppError::new(
        ErrorStatus::PermissionDenied,
        format!(
            "You need the '{}' permission for this; your roles: {roles}.",
            permission.as_str()
        ),
    )
}

impl Guard {
    /// The OAuth client acting, when a bearer token was shown: a Users API client, answered as
    /// 1Password's Users API answers (`routes::as_1password`).
    pub fn oauth_client(&self) -> Option<&oauth::Client> {
        self.client.as_ref()
    }

    pub fn actor(&self) -> &str {
        self.session
            .as_ref()
            .map_or("recovery link holder", |s| s.email.as_str())
    }

    /// Who is attempting `action`, and what they said about it, for the records of it.
    fn attempt_of(&self, action: AuditAction, note: Note) -> Attempt {
        Attempt::new(
            self.actor().to_owned(),
            self.session
                .as_ref()
                .map(|s| s.groups.clone())
                .unwrap_or_default(),
            action,
            self.context.request_id.clone(),
            self.context.client_address.clone(),
        )
        .with_note(note)
    }

    /// May this go ahead? A refusal is audited before it is returned; what is admitted gets
    /// its [`Attempt`], for the directory to record the change with. `note`: what the request
    /// said about the change, kept in its record whatever the outcome.
    pub async fn admit(
        &self,
        action: AuditAction,
        permission: Option<Permission>,
        targets: &[String],
        note: Note,
    ) -> Result<Attempt, AppError> {
        let attempt = self.attempt_of(action, note);
        // A bearer token is not something a browser sends by itself, so another site cannot
        // make one act: only SSO sessions need the same-site check.
        let cross_site = match self.client {
            Some(_) => None,
            None => cross_site(&self.method, &self.headers),
        };
        let refusal = if let Some(why) = cross_site {
            Some(AppError::new(
                ErrorStatus::PermissionDenied,
                format!("Refused: {why}."),
            ))
        } else if let Some(refused) = permission
            .zip(self.client.as_ref())
            .and_then(|(permission, client)| client.require(permission).err())
        {
            // Its session has the scopes' permissions; this names the scope it lacks.
            Some(refused)
        } else if let (Some(permission), Some(session)) = (permission, &self.session)
            && !session.may(permission)
        {
            Some(missing(session, permission))
        } else {
            // Signed-in people are limited one by one; the holder of a recovery link, who is not
            // signed in, by address, so nobody can try passwords or tokens without end.
            let (limit, wait) = match &self.session {
                Some(session) => (
                    "actions",
                    self.state.auth.wait_before_acting(&session.email),
                ),
                None => (
                    "recovery_links",
                    self.state
                        .auth
                        .wait_before_using_link(&self.context.client_address),
                ),
            };
            wait.map(|seconds| {
                crate::metrics::rate_limited(limit);
                AppError::rate_limited(seconds)
            })
        };
        let Some(err) = refusal else {
            return Ok(attempt);
        };
        let entry = attempt.entry(targets.to_vec(), AuditOutcome::Denied, err.message.clone());
        // Someone held back by the rate limit may keep trying: those are counted, not each
        // written.
        if err.status == ErrorStatus::ResourceExhausted {
            self.state.audit.record_refusal(entry).await?;
        } else {
            self.record_failure(entry).await?;
        }
        Err(err)
    }

    /// Record how an admitted attempt ended, unless whoever made the change already did; the
    /// caller answers only after this. A change refused because the trail (or the database
    /// that holds it) cannot be written changed nothing, and says so.
    pub async fn finish<T>(
        &self,
        attempt: &Attempt,
        targets: &[String],
        result: Result<T, AppError>,
    ) -> Result<T, AppError> {
        if attempt.is_recorded() {
            return result;
        }
        let err = match result {
            Ok(value) => {
                // Nothing recorded a success: record it now (a change the directory did not
                // make itself, such as none at all).
                let entry = attempt.entry(targets.to_vec(), AuditOutcome::Succeeded, String::new());
                self.state.audit.record(entry).await?;
                return Ok(value);
            }
            Err(err) => err,
        };
        if let Some(cause) = &err.storage {
            self.state.audit.observe(Some(cause));
            return Err(AppError::unaudited(cause));
        }
        // Refused by a rule (a permission, one's own account, the last owner, a state that does
        // not allow it) is denied; anything else that went wrong failed.
        let outcome = match err.status {
            ErrorStatus::PermissionDenied | ErrorStatus::FailedPrecondition => AuditOutcome::Denied,
            _ => AuditOutcome::Failed,
        };
        let entry = attempt.entry(targets.to_vec(), outcome, err.message.clone());
        self.record_failure(entry).await?;
        Err(err)
    }

    /// Record a refusal of an admitted request that changed nothing (a recovery link that is
    /// not valid, say), counted like the guard's own refusals.
    pub async fn refused(&self, attempt: &Attempt, err: &AppError) -> Result<(), AppError> {
        if err.storage.is_some() {
            return Ok(());
        }
        let entry = attempt.entry(Vec::new(), AuditOutcome::Failed, err.message.clone());
        Ok(self.state.audit.record_refusal(entry).await?)
    }

    /// A failure is written at once for a signed-in person; for whoever holds a recovery link
    /// (anyone, who may be guessing), counted per address and minute.
    async fn record_failure(&self, entry: crate::audit::Entry) -> Result<(), AppError> {
        if self.session.is_none() {
            self.state.audit.record_refusal(entry).await?;
        } else {
            self.state.audit.record(entry).await?;
        }
        Ok(())
    }

    /// Admit, run, record: the whole life of one state change.
    pub async fn attempt<T>(
        &self,
        action: AuditAction,
        permission: Option<Permission>,
        targets: Vec<String>,
        note: Note,
        work: impl AsyncFnOnce(&Attempt) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let attempt = self.admit(action, permission, &targets, note).await?;
        let result = work(&attempt).await;
        self.finish(&attempt, &targets, result).await
    }
}
