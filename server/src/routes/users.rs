//! The Users API: list, get, and the custom methods `:suspend` and `:reactivate`.

use axum::{
    Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
};
use keydesk_api::{
    ApiError, AuditAction, ErrorStatus, ListUsersParams, ListUsersResponse, Permission, User,
    UserId, UserMethod,
};

use super::{AccountParams, UserParams};
use crate::{
    AppState,
    auth::{Guard, Signed, printable},
    directory::ListQuery,
    error::AppError,
    extract::AccountPath,
    settings::Scope,
};

/// List the account's users, one page at a time.
#[utoipa::path(get, path = "/v1beta1/accounts/{account_id}/users", tag = "users",
    params(AccountParams, ListUsersParams),
    responses(
        (status = 200, description = "One page of users", body = ListUsersResponse),
        (status = 400, description = "A parameter is invalid", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    signed: Signed,
    account: Result<AccountPath, AppError>,
    params: Result<Query<ListUsersParams>, QueryRejection>,
) -> Result<Json<ListUsersResponse>, AppError> {
    signed.require_scope(Scope::ListUsers)?;
    signed.require(Permission::ReadUsers)?;
    account?;
    let Query(params) = params?;
    let query = ListQuery::from_params(params)?;
    Ok(Json(state.directory.list_users(query).await?))
}

/// Get one user.
#[utoipa::path(get, path = "/v1beta1/accounts/{account_id}/users/{user_id}", tag = "users",
    params(UserParams),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Malformed ID", body = ApiError),
        (status = 404, description = "No such user or account", body = ApiError),
        (status = 405, description = "A custom method (`…:suspend`) called with GET", body = ApiError),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    signed: Signed,
    account: Result<AccountPath, AppError>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<User>, AppError> {
    signed.require_scope(Scope::GetUser)?;
    signed.require(Permission::ReadUsers)?;
    account?;
    let Path((_, segment)) = path?;
    if let Some((_, method)) = segment.split_once(':') {
        return Err(AppError::method_not_allowed(
            "POST",
            format!(
                ":{} is a custom method: call it with POST",
                printable(&method.chars().take(40).collect::<String>())
            ),
        ));
    }
    let id = UserId::parse(&segment)?;
    Ok(Json(state.directory.get_user(&id).await?))
}

/// Route `POST …/users/{user_id}:{method}` to the method's handler. Every attempt, including
/// malformed ones, is admitted by the guard and audited.
pub async fn call_user_method(
    State(state): State<AppState>,
    guard: Guard,
    account: Result<AccountPath, AppError>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<User>, AppError> {
    let Path((_, segment)) = path?;
    let (raw_id, method_name) = segment.split_once(':').unwrap_or((&segment, ""));
    let method = UserMethod::parse(method_name);
    let action = method.map_or(AuditAction::UnknownMethod, UserMethod::action);
    let target: String = raw_id.chars().take(64).collect();
    guard
        .attempt(action, method.map(UserMethod::permission), vec![target], async |attempt| {
            if !segment.contains(':') {
                return Err(AppError::method_not_allowed(
                    "GET, HEAD",
                    "POST on a user needs a custom method, for example …/users/{user_id}:suspend",
                ));
            }
            account?;
            let id = UserId::parse(raw_id)?;
            let Some(method) = method else {
                let known: Vec<&str> = UserMethod::ALL.iter().map(|m| m.as_str()).collect();
                return Err(AppError::not_found(format!(
                    "':{}' is not a method of users; use :{}",
                    printable(&method_name.chars().take(40).collect::<String>()),
                    known.join(" or :")
                )));
            };
            check_empty_body(&body?, method)?;
            refuse_own_account(&state, &id, guard.actor(), method).await?;
            let directory = &state.directory;
            Ok(match method {
                UserMethod::Suspend => directory.suspend_user(&id, attempt).await?,
                UserMethod::Reactivate => directory.reactivate_user(&id, attempt).await?,
                UserMethod::CompleteRecovery => directory.complete_recovery(&id, attempt).await?,
                UserMethod::ResendRecovery => directory.resend_recovery(&id, attempt).await?,
            })
        })
        .await
        .map(Json)
}

/// Nobody changes their own account: not suspend or reactivate it, not resend or complete its
/// recovery (someone else's begin does not let a person finish it themselves; the directory
/// refuses to begin it).
async fn refuse_own_account(
    state: &AppState,
    id: &UserId,
    actor: &str,
    method: UserMethod,
) -> Result<(), AppError> {
    let user = state.directory.known_user(id).await?;
    if user.email.eq_ignore_ascii_case(actor) {
        return Err(AppError::new(
            ErrorStatus::PermissionDenied,
            format!(
                "{} <{}> is your own account, and nobody may {} their own account",
                user.display_name,
                user.email,
                method.own_account_verb()
            ),
        ));
    }
    Ok(())
}

/// The custom methods take no parameters: an empty body or a JSON object (as Google-style clients
/// send `{}`), nothing else.
fn check_empty_body(body: &Bytes, method: UserMethod) -> Result<(), AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        _ => Err(AppError::invalid(format!(
            "the body of :{} must be empty or a JSON object",
            method.as_str()
        ))),
    }
}

// The custom methods share one route (`{user}` holds `ID:method`); each has its own function
// below so that the OpenAPI document can describe it at its own path.

/// Suspend a user: ACTIVE to SUSPENDED. Idempotent; refused for the last owner.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:suspend", tag = "users",
    params(UserParams),
    responses(
        (status = 200, description = "The user, now SUSPENDED", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user's state does not allow it, or they are the last owner", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn suspend_user() {}

/// Reactivate a user: SUSPENDED to ACTIVE. Idempotent on ACTIVE.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:reactivate", tag = "users",
    params(UserParams),
    responses(
        (status = 200, description = "The user, now ACTIVE", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is neither SUSPENDED nor ACTIVE", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn reactivate_user() {}

/// Complete a recovery: RECOVERY_ACCEPTED to ACTIVE, resetting two-factor authentication and
/// signing out every device. Idempotent right after completing. Keydesk extension.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:completeRecovery", tag = "recovery",
    params(UserParams),
    responses(
        (status = 200, description = "The user, now ACTIVE", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 403, description = "The caller's own account, or a permission the caller lacks", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_ACCEPTED", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn complete_recovery() {}

/// Send a new recovery email to someone in RECOVERY_STARTED; the old link stops working.
/// Keydesk extension.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:resendRecovery", tag = "recovery",
    params(UserParams),
    responses(
        (status = 200, description = "The user; a new email is on its way", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 403, description = "The caller's own account, or a permission the caller lacks", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_STARTED", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn resend_recovery() {}
