//! The audit trail: filtered pages for the page, JSON Lines for a SIEM, and the chain check.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::header,
    response::IntoResponse,
};
use keydesk_api::{ApiError, AuditPage, AuditQuery, AuditVerification, Permission};

use crate::{AppState, audit::people::Named, auth::Signed, error::AppError};

/// Audit records matching the filters, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "One page of records", body = AuditPage),
        (status = 400, description = "A filter is invalid", body = ApiError),
        (status = 403, description = "The read_audit permission is missing", body = ApiError),
    ))]
pub async fn list_audit(
    State(state): State<AppState>,
    signed: Signed,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, AppError> {
    signed.require(Permission::ReadAudit)?;
    let Query(query) = query?;
    let named = Named::find(state.directory.as_ref(), &query).await;
    let (records, next_page_token) = state.audit.query(query, named, false).await?;
    let sentences = crate::audit::sentences::sentences(state.directory.as_ref(), &records).await;
    Ok(Json(AuditPage {
        records,
        sentences,
        next_page_token,
    }))
}

/// Every matching record, oldest first, one JSON object per line (for a SIEM).
#[utoipa::path(get, path = "/api/audit/export", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "JSON Lines", content_type = "application/x-ndjson"),
        (status = 400, description = "A filter is invalid", body = ApiError),
        (status = 403, description = "The read_audit permission is missing", body = ApiError),
    ))]
pub async fn export_audit(
    State(state): State<AppState>,
    signed: Signed,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    signed.require(Permission::ReadAudit)?;
    let Query(query) = query?;
    let named = Named::find(state.directory.as_ref(), &query).await;
    let (records, _) = state.audit.query(query, named, true).await?;
    let mut lines = String::new();
    for record in records {
        lines.push_str(
            &serde_json::to_string(&record).map_err(|err| AppError::invalid(err.to_string()))?,
        );
        lines.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keydesk-audit.jsonl\"",
            ),
        ],
        lines,
    ))
}

/// Recompute the hash chain and report the first broken link, if any.
#[utoipa::path(get, path = "/api/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The chain's state", body = AuditVerification),
        (status = 403, description = "The read_audit permission is missing", body = ApiError),
    ))]
pub async fn verify_audit(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<AuditVerification>, AppError> {
    signed.require(Permission::ReadAudit)?;
    Ok(Json(state.audit.verify().await?))
}
