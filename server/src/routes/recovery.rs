//! Account recovery: beginning it for up to ten people, the person's side of the link, the
//! outbox, and the state counts the page shows beside its navigation.

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
};
use keydesk_api::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, ApiError, AuditAction,
    BEGIN_RECOVERY_PERMISSION, BeginRecoveryRequest, BeginRecoveryResponse, MAX_RECOVERY_BATCH,
    OutboxResponse, Permission, RecoveryLinkInfo, RecoveryToken, StateCounts,
};

use super::AccountParams;
use crate::{
    AppState,
    audit::{Attempt, Note},
    auth::{Guard, Signed, printable},
    changes::Rules,
    directory::RecoveryLinks,
    error::AppError,
    extract::AccountPath,
};

/// Begin recovery for one to ten people, each named by ID, email or display name: everyone or
/// nobody.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users:beginRecovery", tag = "recovery",
    params(AccountParams),
    request_body = BeginRecoveryRequest,
    responses(
        (status = 200, description = "Everyone named, now in RECOVERY_STARTED", body = BeginRecoveryResponse),
        (status = 400, description = "Too few or too many names, a name that matches several people, or the same person twice; every offending name is listed", body = ApiError),
        (status = 403, description = "The caller's own account is among them, or a permission the caller lacks", body = ApiError),
        (status = 404, description = "Unknown account, or a name that matches nobody", body = ApiError),
        (status = 409, description = "Someone's state does not allow recovery", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "The body is not JSON", body = ApiError),
    ))]
pub async fn begin_recovery(
    State(state): State<AppState>,
    guard: Guard,
    account: Result<AccountPath, AppError>,
    body: Result<Json<BeginRecoveryRequest>, JsonRejection>,
) -> Result<Json<BeginRecoveryResponse>, AppError> {
    let (named, note): (Vec<String>, Note) = match &body {
        Ok(Json(request)) => (
            request
                .users
                .iter()
                .map(|n| n.chars().take(64).collect())
                .collect(),
            Rules::said(request.reason.as_deref(), request.ticket.as_deref(), &[]),
        ),
        Err(_) => (Vec::new(), Note::default()),
    };
    let attempt = guard
        .admit(
            AuditAction::BeginRecovery,
            Some(BEGIN_RECOVERY_PERMISSION),
            &named,
            note,
        )
        .await?;
    let result = begin(&state, &attempt, account, body).await;
    guard.finish(&attempt, &named, result).await.map(Json)
}

/// Check the request and begin: the directory records whom it began recovery for (by ID,
/// whatever the request called them), and upstream, each person `op` failed for.
async fn begin(
    state: &AppState,
    attempt: &Attempt,
    account: Result<AccountPath, AppError>,
    body: Result<Json<BeginRecoveryRequest>, JsonRejection>,
) -> Result<BeginRecoveryResponse, AppError> {
    account?;
    let Json(request) = body?;
    state.rules.check(&attempt.note, false)?;
    match request.users.len() {
        0 => return Err(AppError::invalid("name at least one person to recover")),
        n if n > MAX_RECOVERY_BATCH => {
            return Err(AppError::invalid(format!(
                "recovery can begin for at most {MAX_RECOVERY_BATCH} people at once; {n} were named"
            )));
        }
        _ => {}
    }
    if let Some(long) = request.users.iter().find(|name| name.chars().count() > 320) {
        return Err(AppError::invalid(format!(
            "'{}…' is too long to be a name, email or ID",
            printable(&long.chars().take(40).collect::<String>())
        )));
    }
    let response = state
        .directory
        .begin_recovery(request.users, attempt)
        .await?;
    for user in &response.users {
        state.events.user(user);
    }
    Ok(response)
}

fn links(state: &AppState) -> Result<&dyn RecoveryLinks, AppError> {
    state.directory.recovery_links().ok_or_else(|| {
        AppError::not_found("recovery links are handled by 1Password itself for this directory")
    })
}

/// The person's side: whose recovery link this is, if it may still be used.
#[utoipa::path(post, path = "/api/recovery:inspect", tag = "recovery",
    request_body = RecoveryToken,
    responses(
        (status = 200, description = "The link is usable", body = RecoveryLinkInfo),
        (status = 400, description = "The body is not a token", body = ApiError),
        (status = 404, description = "Not a link Keydesk issued", body = ApiError),
        (status = 409, description = "Used, replaced or expired", body = ApiError),
    ))]
pub async fn inspect_recovery_link(
    State(state): State<AppState>,
    guard: Guard,
    body: Result<Json<RecoveryToken>, JsonRejection>,
) -> Result<Json<RecoveryLinkInfo>, AppError> {
    // Anyone may ask, so guessing is limited by address like accepting; a link that is not
    // valid is recorded (counted per address and minute), one that is says nothing.
    let attempt = guard
        .admit(AuditAction::InspectRecovery, None, &[], Note::default())
        .await?;
    let result = async {
        let Json(RecoveryToken { token }) = body?;
        Ok(links(&state)?.inspect_link(token).await?)
    }
    .await;
    if let Err(err) = &result {
        guard.refused(&attempt, err).await?;
    }
    result.map(Json)
}

/// The person's side: confirm the email, set a new password, receive the new Secret Key.
#[utoipa::path(post, path = "/api/recovery:accept", tag = "recovery",
    request_body = AcceptRecoveryRequest,
    responses(
        (status = 200, description = "Accepted; the Secret Key is shown once", body = AcceptRecoveryResponse),
        (status = 400, description = "Wrong email, or a password too short or too long", body = ApiError),
        (status = 404, description = "Not a link Keydesk issued", body = ApiError),
        (status = 409, description = "Used, replaced or expired", body = ApiError),
        (status = 429, description = "Too many attempts from this address", body = ApiError),
        (status = 503, description = "Busy hashing other passwords, or the audit trail cannot be written", body = ApiError),
    ))]
pub async fn accept_recovery_link(
    State(state): State<AppState>,
    guard: Guard,
    body: Result<Json<AcceptRecoveryRequest>, JsonRejection>,
) -> Result<Json<AcceptRecoveryResponse>, AppError> {
    // The audit names whose link it was; never the token, the email given or the password.
    let (_, secret_key) = guard
        .attempt(
            AuditAction::AcceptRecovery,
            None,
            Vec::new(),
            Note::default(),
            async |attempt| {
                let Json(request) = body?;
                let accepted = links(&state)?
                    .accept_link(request.token, request.email, request.password, attempt)
                    .await?;
                // Every admin's page shows them ready to complete.
                if let Ok(user) = state.directory.known_user(&accepted.0).await {
                    state.events.user(&user);
                }
                Ok(accepted)
            },
        )
        .await?;
    Ok(Json(AcceptRecoveryResponse { secret_key }))
}

/// The emails Keydesk sent or holds, newest first (embedded directory).
#[utoipa::path(get, path = "/api/outbox", tag = "recovery",
    responses(
        (status = 200, description = "The outbox", body = OutboxResponse),
        (status = 404, description = "This directory sends no email itself", body = ApiError),
    ))]
pub async fn list_outbox(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<OutboxResponse>, AppError> {
    // The outbox holds live recovery links: only people who may recover may see it.
    signed.require(Permission::Recover)?;
    let messages = links(&state)?.outbox().await?;
    Ok(Json(OutboxResponse { messages }))
}

/// How many people are in each state.
#[utoipa::path(get, path = "/api/state-counts", tag = "keydesk",
    responses((status = 200, description = "Counts by state", body = StateCounts)))]
pub async fn state_counts(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<StateCounts>, AppError> {
    signed.require(Permission::ReadUsers)?;
    Ok(Json(state.directory.state_counts().await?))
}
