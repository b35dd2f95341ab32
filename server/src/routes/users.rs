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
    AccountId, ApiError, ApiFilter, DEFAULT_PAGE_SIZE, ErrorStatus, ListUsersParams,
    ListUsersResponse, OrderBy, Permission, User, UserId, UserMethod, UserState,
};

use crate::{
    AppState,
    auth::{Guard, Signed},
    directory::ListQuery,
    error::AppError,
    settings::Scope,
};

/// The longest search text accepted, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// The account in the path must be the one this Keydesk serves.
pub fn check_account(state: &AppState, raw: &str) -> Result<(), AppError> {
    let account = AccountId::parse(raw)?;
    if account != state.account_id {
        return Err(AppError::not_found(format!(
            "account {account} is not managed by this Keydesk"
        )));
    }
    Ok(())
}

/// Turn the query string into a validated [`ListQuery`], naming the first parameter that is wrong.
pub(crate) fn parse_list_query(params: ListUsersParams) -> Result<ListQuery, AppError> {
    let filter = match params.filter.as_deref() {
        Some(text) => ApiFilter::parse(text).map_err(AppError::invalid)?,
        None => None,
    };
    let page_size =
        keydesk_api::parse_page_size(params.max_page_size.as_deref(), DEFAULT_PAGE_SIZE)
            .map_err(AppError::invalid)?;
    let text = params
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if let Some(q) = &text
        && q.chars().count() > MAX_QUERY_CHARS
    {
        return Err(AppError::invalid(format!(
            "q is too long: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let state = match params.state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match UserState::parse(text) {
            UserState::Other(_) => {
                let known: Vec<&str> = UserState::KNOWN.iter().map(UserState::as_str).collect();
                return Err(AppError::invalid(format!(
                    "state '{}' is not a state Keydesk knows; use one of {}",
                    text.chars().take(60).collect::<String>(),
                    known.join(", ")
                )));
            }
            known => Some(known),
        },
    };
    let order = match params.order_by.as_deref().map(str::trim) {
        None | Some("") => OrderBy::default(),
        Some(text) => text
            .parse()
            .map_err(|err: keydesk_api::ParseOrderByError| AppError::invalid(err.to_string()))?,
    };
    let page_token = params.page_token.filter(|token| !token.is_empty());
    Ok(ListQuery {
        filter,
        state,
        text,
        order,
        page_size,
        page_token,
    })
}

/// List the account's users, one page at a time.
#[utoipa::path(get, path = "/v1beta1/accounts/{account_id}/users", tag = "users",
    params(("account_id" = String, Path, description = "The account's ID"), ListUsersParams),
    responses(
        (status = 200, description = "One page of users", body = ListUsersResponse),
        (status = 400, description = "A parameter is invalid", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    signed: Signed,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<ListUsersParams>, QueryRejection>,
) -> Result<Json<ListUsersResponse>, AppError> {
    signed.require_scope(Scope::ListUsers)?;
    signed.require(Permission::ReadUsers)?;
    let Path(account) = path?;
    check_account(&state, &account)?;
    let Query(params) = params?;
    let query = parse_list_query(params)?;
    Ok(Json(state.directory.list_users(query).await?))
}

/// Get one user.
#[utoipa::path(get, path = "/v1beta1/accounts/{account_id}/users/{user_id}", tag = "users",
    params(("account_id" = String, Path, description = "The account's ID"),
           ("user_id" = String, Path, description = "The user's ID")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Malformed ID", body = ApiError),
        (status = 404, description = "No such user or account", body = ApiError),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    signed: Signed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<User>, AppError> {
    signed.require_scope(Scope::GetUser)?;
    signed.require(Permission::ReadUsers)?;
    let Path((account, segment)) = path?;
    check_account(&state, &account)?;
    if let Some((_, method)) = segment.split_once(':') {
        return Err(AppError::new(
            ErrorStatus::MethodNotAllowed,
            format!(":{method} is a custom method: call it with POST"),
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
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<User>, AppError> {
    let Path((account, segment)) = path?;
    let (raw_id, method_name) = segment.split_once(':').unwrap_or((&segment, ""));
    let method = UserMethod::parse(method_name);
    let permission = method.map(|method| match method {
        UserMethod::Suspend => Permission::Suspend,
        UserMethod::Reactivate => Permission::Reactivate,
        UserMethod::CompleteRecovery | UserMethod::ResendRecovery => Permission::Recover,
    });
    // Audit actions are snake_case throughout (`sign_in`, `begin_recovery`, …).
    let action = match method {
        Some(UserMethod::Suspend) => "suspend",
        Some(UserMethod::Reactivate) => "reactivate",
        Some(UserMethod::CompleteRecovery) => "complete_recovery",
        Some(UserMethod::ResendRecovery) => "resend_recovery",
        None => "unknown_method",
    };
    let target: String = raw_id.chars().take(64).collect();
    guard
        .attempt(action, permission, vec![target], async {
            check_account(&state, &account)?;
            if !segment.contains(':') {
                return Err(AppError::new(
                    ErrorStatus::MethodNotAllowed,
                    "POST on a user needs a custom method, for example …/users/{user_id}:suspend",
                ));
            }
            let id = UserId::parse(raw_id)?;
            let Some(method) = method else {
                let known: Vec<&str> = UserMethod::ALL.iter().map(|m| m.as_str()).collect();
                return Err(AppError::not_found(format!(
                    "':{}' is not a method of users; use :{}",
                    method_name.chars().take(40).collect::<String>(),
                    known.join(" or :")
                )));
            };
            check_empty_body(&body?, method)?;
            match method {
                UserMethod::Suspend => suspend_user(&state, &id).await,
                UserMethod::Reactivate => reactivate_user(&state, &id).await,
                UserMethod::CompleteRecovery => {
                    refuse_own_account(&state, &id, guard.actor()).await?;
                    complete_recovery(&state, &id).await
                }
                UserMethod::ResendRecovery => {
                    refuse_own_account(&state, &id, guard.actor()).await?;
                    resend_recovery(&state, &id).await
                }
            }
        })
        .await
        .map(Json)
}

/// Nobody recovers their own account: the directory refuses to begin it, and this refuses to
/// resend or complete it (someone else's begin does not let a person finish it themselves).
async fn refuse_own_account(state: &AppState, id: &UserId, actor: &str) -> Result<(), AppError> {
    let user = state.directory.get_user(id).await?;
    if user.email.eq_ignore_ascii_case(actor) {
        return Err(AppError::invalid(format!(
            "{} <{}> is your own account, and nobody may recover their own account",
            user.display_name, user.email
        )));
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
    params(("account_id" = String, Path, description = "The account's ID"),
           ("user_id" = String, Path, description = "The user's ID")),
    responses(
        (status = 200, description = "The user, now SUSPENDED", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user's state does not allow it, or they are the last owner", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
    ))]
pub async fn suspend_user(state: &AppState, id: &UserId) -> Result<User, AppError> {
    Ok(state.directory.suspend_user(id).await?)
}

/// Reactivate a user: SUSPENDED to ACTIVE. Idempotent on ACTIVE.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:reactivate", tag = "users",
    params(("account_id" = String, Path, description = "The account's ID"),
           ("user_id" = String, Path, description = "The user's ID")),
    responses(
        (status = 200, description = "The user, now ACTIVE", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is neither SUSPENDED nor ACTIVE", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
    ))]
pub async fn reactivate_user(state: &AppState, id: &UserId) -> Result<User, AppError> {
    Ok(state.directory.reactivate_user(id).await?)
}

/// Complete a recovery: RECOVERY_ACCEPTED to ACTIVE, resetting two-factor authentication and
/// signing out every device. Idempotent right after completing. Keydesk extension.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:completeRecovery", tag = "recovery",
    params(("account_id" = String, Path, description = "The account's ID"),
           ("user_id" = String, Path, description = "The user's ID")),
    responses(
        (status = 200, description = "The user, now ACTIVE", body = User),
        (status = 400, description = "Malformed ID or body, or the caller's own account", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_ACCEPTED", body = ApiError),
    ))]
pub async fn complete_recovery(state: &AppState, id: &UserId) -> Result<User, AppError> {
    Ok(state.directory.complete_recovery(id).await?)
}

/// Send a new recovery email to someone in RECOVERY_STARTED; the old link stops working.
/// Keydesk extension.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:resendRecovery", tag = "recovery",
    params(("account_id" = String, Path, description = "The account's ID"),
           ("user_id" = String, Path, description = "The user's ID")),
    responses(
        (status = 200, description = "The user; a new email is on its way", body = User),
        (status = 400, description = "Malformed ID or body, or the caller's own account", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_STARTED", body = ApiError),
    ))]
pub async fn resend_recovery(state: &AppState, id: &UserId) -> Result<User, AppError> {
    Ok(state.directory.resend_recovery(id).await?)
}
