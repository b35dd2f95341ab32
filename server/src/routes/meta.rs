//! Health, configuration for the page, and the API's own description.

use std::sync::Arc;

use axum::{Extension, Json, extract::State};
use keydesk_api::{PageConfig, Session};
use serde::Serialize;

use crate::{AppState, auth::Signed, error::AppError};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` once the server can answer and record changes.
    pub status: &'static str,
    /// What does not work now though the rest does (upstream: recovery without `op` signed in,
    /// suspensions in an account with automated provisioning), each in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
}

/// Report that the server is up and can record changes: 503, saying why, while the audit trail
/// cannot be written (locked by another process, a full disk), since every change is refused
/// until it can.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The audit trail cannot be written, so no change can be made", body = keydesk_api::ApiError),
    ))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    match state.audit.unwritable().await {
        None => {
            let readiness = state.directory.readiness();
            let degraded = [
                ("Recovery", &readiness.recovery),
                ("Suspending and reactivating", &readiness.state_changes),
            ]
            .into_iter()
            .filter_map(|(what, availability)| {
                availability
                    .refusal()
                    .map(|why| format!("{what} is unavailable: {why}"))
            })
            .collect();
            Ok(Json(Health {
                status: "ok",
                degraded,
            }))
        }
        Some(cause) => {
            let mut error = AppError::unaudited(&cause);
            error.message = format!(
                "The audit trail cannot be written: {cause}. Changes are refused until it can be."
            );
            Err(error)
        }
    }
}

/// Who is signed in, and what they may do.
#[utoipa::path(get, path = "/api/session", tag = "keydesk",
    responses(
        (status = 200, description = "The signed-in person", body = Session),
        (status = 401, description = "Not signed in", body = keydesk_api::ApiError),
        (status = 403, description = "Signed in, but no group grants access", body = keydesk_api::ApiError),
    ))]
pub async fn session(
    State(state): State<AppState>,
    Signed(mut session, _): Signed,
) -> Json<Session> {
    // Offered again in the change dialog; without them, the page still works.
    session.recent_tickets = state
        .audit
        .recent_tickets(&session.email)
        .await
        .unwrap_or_default();
    Json(session)
}

/// Tell the page which account it manages and which directory backend answers.
#[utoipa::path(get, path = "/api/config", tag = "keydesk",
    responses((status = 200, description = "The page's configuration", body = PageConfig)))]
pub async fn page_config(State(state): State<AppState>, _signed: Signed) -> Json<PageConfig> {
    let readiness = state.directory.readiness();
    Json(PageConfig {
        account_id: state.account_id.clone(),
        directory: state.directory.kind(),
        admin_console_url: state.directory.admin_console_url(),
        changes: state.rules.wire().clone(),
        recovery: readiness.recovery,
        state_changes: readiness.state_changes,
    })
}

/// Describe the whole HTTP surface as OpenAPI 3.1.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json(
    Extension(document): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(document.as_ref().clone())
}
