//! The Users API: list, get, and the custom methods `:suspend` and `:reactivate`.

use axum::{
    Json,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    },
};
use keydesk_api::{
    ApiError, AuditAction, ErrorStatus, LastChange, ListUsersParams, ListUsersResponse,
    MethodRequest, Permission, User, UserId, UserMethod, UserState,
};

use super::{AccountParams, UserParams, as_1password};
use crate::{
    AppState,
    audit::Note,
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
    let client = signed.1.is_some();
    if client {
        as_1password::check_list_params(&params)?;
    }
    let query = ListQuery {
        api_states: client,
        ..ListQuery::from_params(params)?
    };
    let page = state.directory.list_users(query).await?;
    Ok(Json(if client {
        as_1password::list(page)
    } else {
        page
    }))
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
    let user = state.directory.get_user(&id).await?;
    Ok(Json(match signed.1 {
        Some(_) => as_1password::user(user),
        None => user,
    }))
}

/// Why a person is in their state: the change that put them there, from the audit trail, with
/// who made it and what they said. `null` when Keydesk recorded none (the seed, 1Password's own
/// console).
#[utoipa::path(get, path = "/api/users/{user_id}/last-change", tag = "keydesk",
    params(("user_id" = String, Path, description = "The user's ID", pattern = "^[A-Z2-7]{26}$", min_length = 26, max_length = 26)),
    responses(
        (status = 200, description = "The change, or null", body = Option<LastChange>),
        (status = 400, description = "Malformed ID", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
    ))]
pub async fn last_change(
    State(state): State<AppState>,
    signed: Signed,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Option<LastChange>>, AppError> {
    signed.require(Permission::ReadUsers)?;
    let Path(raw) = path?;
    let id = UserId::parse(&raw)?;
    let user = state.directory.known_user(&id).await?;
    let actions: &[AuditAction] = match user.state {
        UserState::Suspended => &[AuditAction::Suspend],
        UserState::Active => &[AuditAction::Reactivate, AuditAction::CompleteRecovery],
        UserState::RecoveryStarted | UserState::RecoveryAccepted => &[AuditAction::BeginRecovery],
        _ => return Ok(Json(None)),
    };
    let Some(record) = state.audit.last_change(&id, actions).await? else {
        return Ok(Json(None));
    };
    let actor = record.on_behalf_of.unwrap_or(record.actor_email);
    let name = match record.outcome {
        keydesk_api::AuditOutcome::Observed => actor.clone(),
        _ => crate::audit::sentences::actor_name(state.directory.as_ref(), &actor).await,
    };
    Ok(Json(Some(LastChange {
        action: record.action,
        time: record.time,
        actor_name: (name != actor).then_some(name),
        actor_email: actor,
        observed: record.outcome == keydesk_api::AuditOutcome::Observed,
        reason: record.change_reason,
        ticket: record.ticket,
    })))
}

/// Upstream, 1Password completes recoveries only in its admin console: before the page opens it,
/// the admin confirms the checklist here, and the confirmation is recorded. The same rules as
/// completing: Recovery accepted, not one's own account, every check ticked, and with four eyes
/// not the admin who began it.
#[utoipa::path(post, path = "/api/users/{user_id}/confirm-identity", tag = "recovery",
    params(("user_id" = String, Path, description = "The user's ID", pattern = "^[A-Z2-7]{26}$", min_length = 26, max_length = 26)),
    request_body = MethodRequest,
    responses(
        (status = 200, description = "Recorded: the person, still Recovery accepted until the console completes it", body = User),
        (status = 400, description = "Malformed ID or body, or a reason or ticket the rules refuse", body = ApiError),
        (status = 403, description = "One's own account, a recovery one began (four eyes), or a permission the caller lacks", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "Not Recovery accepted, a check not ticked, or the embedded directory (which completes recoveries itself)", body = ApiError),
    ))]
pub async fn confirm_identity(
    State(state): State<AppState>,
    guard: Guard,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<MethodRequest>, JsonRejection>,
) -> Result<Json<User>, AppError> {
    let target = match &path {
        Ok(Path(raw)) => raw.chars().take(64).collect(),
        Err(_) => String::new(),
    };
    let mut note = match &body {
        Ok(Json(request)) => Note::from(request),
        Err(_) => Note::default(),
    };
    note.checked = state.rules.confirmed(note.checked);
    let method = UserMethod::CompleteRecovery;
    guard
        .attempt(AuditAction::ConfirmIdentity, Some(method.permission()), vec![target], note, async |attempt| {
            let Path(raw) = path?;
            let _ = body?; // read above, for the record
            let id = UserId::parse(&raw)?;
            let user = refuse_own_account(&state, &id, guard.actor(), method).await?;
            if state.directory.kind() == keydesk_api::DirectoryKind::Embedded {
                return Err(AppError::new(
                    ErrorStatus::FailedPrecondition,
                    "Keydesk completes recoveries itself with this directory: use :completeRecovery",
                ));
            }
            if user.state != UserState::RecoveryAccepted {
                return Err(AppError::new(
                    ErrorStatus::FailedPrecondition,
                    format!(
                        "{} <{}> is {}: identities are confirmed for people in Recovery accepted",
                        user.display_name,
                        user.email,
                        user.state.label()
                    ),
                ));
            }
            state.rules.check(&attempt.note, true)?;
            state.rules.second_pair_of_eyes(&user, guard.actor())?;
            Ok(user)
        })
        .await
        .map(Json)
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
    let request = body
        .map_err(AppError::from)
        .and_then(|body| read_body(&body, method));
    let mut note = request.as_ref().map(Note::from).unwrap_or_default();
    // Checks are asked only before completing a recovery, and only the checklist's.
    note.checked = match method {
        Some(UserMethod::CompleteRecovery) => state.rules.confirmed(note.checked),
        _ => Vec::new(),
    };
    let permission = method.map(UserMethod::permission);
    guard
        .attempt(action, permission, vec![target], note, async |attempt| {
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
            request?;
            let user = refuse_own_account(&state, &id, guard.actor(), method).await?;
            let completing = method == UserMethod::CompleteRecovery;
            state.rules.check(&attempt.note, completing)?;
            if completing {
                state.rules.second_pair_of_eyes(&user, guard.actor())?;
            }
            let directory = &state.directory;
            let user = match method {
                UserMethod::Suspend => directory.suspend_user(&id, attempt).await?,
                UserMethod::Reactivate => directory.reactivate_user(&id, attempt).await?,
                UserMethod::CompleteRecovery => directory.complete_recovery(&id, attempt).await?,
                UserMethod::ResendRecovery => directory.resend_recovery(&id, attempt).await?,
            };
            state.events.user(&user);
            Ok(match guard.oauth_client() {
                Some(_) => as_1password::user(user),
                None => user,
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
) -> Result<User, AppError> {
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
    Ok(user)
}

/// The custom methods take an empty body (as the Users API's own clients send), `{}` (as
/// Google-style clients do), `null`, or a [`MethodRequest`]: why, the ticket, the checks ticked.
fn read_body(body: &Bytes, method: Option<UserMethod>) -> Result<MethodRequest, AppError> {
    // Only a body with nothing in it is "no parameters": anything else is JSON or refused.
    if body.is_empty() {
        return Ok(MethodRequest::default());
    }
    let name = method.map_or("a custom method", UserMethod::as_str);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Null) => Ok(MethodRequest::default()),
        Ok(value @ serde_json::Value::Object(_)) => serde_json::from_value(value).map_err(|err| {
            AppError::invalid(format!("the body of :{name} is not understood: {err}"))
        }),
        _ => Err(AppError::invalid(format!(
            "the body of :{name} must be empty or a JSON object"
        ))),
    }
}

// The custom methods share one route (`{user}` holds `ID:method`); each has its own function
// below so that the OpenAPI document can describe it at its own path.

/// Suspend a user: ACTIVE to SUSPENDED. Idempotent; refused for the last owner.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:suspend", tag = "users",
    params(UserParams),
    request_body(content = Option<MethodRequest>, description = "Why, and under which ticket; optional unless the configuration requires them"),
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
    request_body(content = Option<MethodRequest>, description = "Why, and under which ticket; optional unless the configuration requires them"),
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
    request_body(content = Option<MethodRequest>, description = "Why, and under which ticket; optional unless the configuration requires them"),
    responses(
        (status = 200, description = "The user, now ACTIVE", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 403, description = "The caller's own account, or a permission the caller lacks", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_ACCEPTED, or a check of the checklist is not ticked", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn complete_recovery() {}

/// Send a new recovery email to someone in RECOVERY_STARTED; the old link stops working.
/// Keydesk extension.
#[utoipa::path(post, path = "/v1beta1/accounts/{account_id}/users/{user_id}:resendRecovery", tag = "recovery",
    params(UserParams),
    request_body(content = Option<MethodRequest>, description = "Why, and under which ticket; optional unless the configuration requires them"),
    responses(
        (status = 200, description = "The user; a new email is on its way", body = User),
        (status = 400, description = "Malformed ID or body", body = ApiError),
        (status = 403, description = "The caller's own account, or a permission the caller lacks", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
        (status = 409, description = "The user is not in RECOVERY_STARTED", body = ApiError),
    ))]
#[allow(dead_code)] // described for the OpenAPI document; `call_user_method` answers it
pub async fn resend_recovery() {}
