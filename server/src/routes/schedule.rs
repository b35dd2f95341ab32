//! Scheduled changes: list them, schedule one, cancel one, make one now.

use std::time::SystemTime;

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
};
use keydesk_api::{
    ApiError, AuditAction, Permission, ScheduleRequest, ScheduledChange, ScheduledList, User,
    UserId, UserMethod,
};
use serde::Deserialize;

use crate::{
    AppState,
    audit::Note,
    auth::{Guard, Signed},
    changes::Rules,
    error::AppError,
};

/// The permission a scheduled `action` needs: the same as making it now.
fn permission(action: AuditAction) -> Option<Permission> {
    match action {
        AuditAction::Suspend => Some(UserMethod::Suspend.permission()),
        AuditAction::Reactivate => Some(UserMethod::Reactivate.permission()),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduledQuery {
    /// Only this person's changes.
    #[param(schema_with = keydesk_api::openapi::id_or_empty_schema)]
    user_id: Option<String>,
}

/// What is pending (soonest first) and what ran lately.
#[utoipa::path(get, path = "/api/scheduled", tag = "schedule", params(ScheduledQuery),
    responses(
        (status = 200, description = "Pending and recent scheduled changes", body = ScheduledList),
        (status = 400, description = "Malformed user ID", body = ApiError),
    ))]
pub async fn list_scheduled(
    State(state): State<AppState>,
    signed: Signed,
    query: Result<Query<ScheduledQuery>, QueryRejection>,
) -> Result<Json<ScheduledList>, AppError> {
    signed.require(Permission::ReadUsers)?;
    let Query(query) = query?;
    let user = match query.user_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => Some(UserId::parse(id)?),
        None => None,
    };
    Ok(Json(state.scheduler.list(user).await?))
}

/// Schedule a suspension or a reactivation.
#[utoipa::path(post, path = "/api/scheduled", tag = "schedule",
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "Scheduled", body = ScheduledChange),
        (status = 400, description = "An action that cannot be scheduled, or a reason or ticket the rules refuse", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The person's state does not allow it, or the time has passed or is more than two years ahead", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "The body is not JSON", body = ApiError),
    ))]
pub async fn schedule(
    State(state): State<AppState>,
    guard: Guard,
    body: Result<Json<ScheduleRequest>, JsonRejection>,
) -> Result<Json<ScheduledChange>, AppError> {
    let (action, targets, note) = match &body {
        Ok(Json(request)) => (
            request.action,
            vec![request.user_id.to_string()],
            Rules::said(request.reason.as_deref(), request.ticket.as_deref(), &[]),
        ),
        Err(_) => (AuditAction::Schedule, Vec::new(), Note::default()),
    };
    let needs = permission(action);
    guard
        .attempt(
            AuditAction::Schedule,
            needs,
            targets,
            note,
            async |attempt| {
                let Json(request) = body?;
                state.rules.check(&attempt.note, false)?;
                state
                    .scheduler
                    .add(request, attempt, SystemTime::now())
                    .await
            },
        )
        .await
        .map(Json)
}

/// The change, and who may touch it: the person who may make it now.
async fn change_of(
    state: &AppState,
    path: Result<Path<i64>, PathRejection>,
) -> Result<(ScheduledChange, Option<Permission>), AppError> {
    let Path(id) = path?;
    let change = state.scheduler.get(id).await?;
    let needs = permission(change.action);
    Ok((change, needs))
}

/// Call off a pending change.
#[utoipa::path(post, path = "/api/scheduled/{id}/cancel", tag = "schedule",
    params(("id" = i64, Path, description = "The scheduled change")),
    responses(
        (status = 200, description = "Cancelled", body = ScheduledChange),
        (status = 400, description = "Malformed ID", body = ApiError),
        (status = 404, description = "No such scheduled change", body = ApiError),
        (status = 409, description = "It already ran or was cancelled", body = ApiError),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    guard: Guard,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<ScheduledChange>, AppError> {
    let (change, needs) = change_of(&state, path).await?;
    let targets = vec![change.user_id.to_string()];
    guard
        .attempt(
            AuditAction::CancelSchedule,
            needs,
            targets,
            Note::default(),
            async |attempt| {
                state
                    .scheduler
                    .cancel(change, attempt, SystemTime::now())
                    .await
            },
        )
        .await
        .map(Json)
}

/// Make a pending change now, as the person asking, with the reason it was scheduled with.
#[utoipa::path(post, path = "/api/scheduled/{id}/run", tag = "schedule",
    params(("id" = i64, Path, description = "The scheduled change")),
    responses(
        (status = 200, description = "Made: the person as they now are", body = User),
        (status = 400, description = "Malformed ID", body = ApiError),
        (status = 404, description = "No such scheduled change", body = ApiError),
        (status = 409, description = "It already ran, or the person's state changed since it was scheduled", body = ApiError),
    ))]
pub async fn run_now(
    State(state): State<AppState>,
    guard: Guard,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<User>, AppError> {
    let (change, needs) = change_of(&state, path).await?;
    let targets = vec![change.user_id.to_string()];
    let note = Rules::said(change.reason.as_deref(), change.ticket.as_deref(), &[]);
    guard
        .attempt(change.action, needs, targets, note, async |attempt| {
            state
                .scheduler
                .run_now(&change, attempt, SystemTime::now())
                .await
        })
        .await
        .map(Json)
}
