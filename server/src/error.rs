//! The server's one error type: every failure becomes one JSON shape with the right status.

use axum::{
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use keydesk_api::{ApiError, ErrorStatus, InvalidId};

use crate::{audit::AuditError, directory::DirectoryError, storage::StorageError};

/// A failure the HTTP layer reports to the caller.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub status: ErrorStatus,
    pub message: String,
    /// For 429 and some 503s: seconds until the person may try again (`Retry-After`).
    pub retry_after: Option<u64>,
    /// A database that could not be written (locked, full, read-only): for a change, that means
    /// its record could not be written either, and nothing was changed.
    pub storage: Option<StorageError>,
    /// For 405: the methods the path does take (`Allow`).
    pub allow: Option<&'static str>,
}

impl AppError {
    pub fn new(status: ErrorStatus, message: impl Into<String>) -> Self {
        AppError {
            status,
            message: message.into(),
            retry_after: None,
            storage: None,
            allow: None,
        }
    }

    /// 405, naming the methods the path takes.
    pub fn method_not_allowed(allow: &'static str, message: impl Into<String>) -> Self {
        AppError {
            allow: Some(allow),
            ..Self::new(ErrorStatus::MethodNotAllowed, message)
        }
    }

    /// The audit trail cannot take a change's record, so the change was not made.
    pub fn unaudited(cause: &StorageError) -> Self {
        AppError {
            storage: Some(cause.clone()),
            ..Self::new(
                ErrorStatus::Unavailable,
                format!("The audit trail cannot be written: {cause}. Nothing was changed."),
            )
        }
    }

    fn from_storage(err: StorageError) -> Self {
        if err.is_unavailable() {
            AppError {
                retry_after: Some(5),
                storage: Some(err.clone()),
                ..Self::new(ErrorStatus::Unavailable, capitalise(&err.to_string()))
            }
        } else {
            Self::new(ErrorStatus::Internal, err.to_string())
        }
    }

    pub fn rate_limited(seconds: u64) -> Self {
        AppError {
            retry_after: Some(seconds),
            ..Self::new(
                ErrorStatus::ResourceExhausted,
                format!("You are acting faster than Keydesk allows; try again in {seconds} s."),
            )
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorStatus::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorStatus::NotFound, message)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status == ErrorStatus::Internal {
            // The person gets a generic message; the details go to the log only.
            tracing::error!(error = ?self.message, "internal error");
        }
        let status = StatusCode::from_u16(self.status.http_code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if self.status == ErrorStatus::Internal {
            "Keydesk hit an internal error; the details are in the server log.".to_owned()
        } else {
            self.message
        };
        let mut response =
            (status, axum::Json(ApiError::new(self.status, message))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if let Some(allow) = self.allow {
            response.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static(allow),
            );
        }
        response
    }
}

impl From<InvalidId> for AppError {
    fn from(err: InvalidId) -> Self {
        AppError::invalid(err.to_string())
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl From<AuditError> for AppError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Unwritable(cause) if cause.is_unavailable() => AppError::unaudited(&cause),
            AuditError::Unwritable(cause) | AuditError::Unreadable(cause) => {
                let mut error = AppError::from_storage(cause);
                error.message = format!("The audit trail: {}", error.message);
                error
            }
            AuditError::Invalid(message) => AppError::invalid(message),
        }
    }
}

impl From<DirectoryError> for AppError {
    fn from(err: DirectoryError) -> Self {
        let status = match &err {
            DirectoryError::NotFound(_) | DirectoryError::Missing(_) => ErrorStatus::NotFound,
            DirectoryError::FailedPrecondition(_) | DirectoryError::AutomatedProvisioning => {
                ErrorStatus::FailedPrecondition
            }
            DirectoryError::Refused(_) => ErrorStatus::PermissionDenied,
            DirectoryError::InvalidArgument(_) => ErrorStatus::InvalidArgument,
            DirectoryError::Unavailable(_) | DirectoryError::OutcomeUnknown(_) => {
                ErrorStatus::Unavailable
            }
            DirectoryError::Storage(_) | DirectoryError::Sqlite(_) => {
                let storage = match err {
                    DirectoryError::Storage(storage) => storage,
                    other => StorageError::Other {
                        file: "a database".into(),
                        cause: other.to_string(),
                    },
                };
                return AppError::from_storage(storage);
            }
            DirectoryError::Upstream { retry_after, .. } => {
                let mut error = AppError::new(ErrorStatus::Unavailable, err.to_string());
                error.retry_after = retry_after.map(|wait| wait.as_secs().max(1));
                return error;
            }
            DirectoryError::Internal(_) => ErrorStatus::Internal,
        };
        AppError::new(status, err.to_string())
    }
}

impl From<QueryRejection> for AppError {
    fn from(err: QueryRejection) -> Self {
        AppError::invalid(format!(
            "the query string is malformed: {}",
            err.body_text()
        ))
    }
}

impl From<PathRejection> for AppError {
    fn from(err: PathRejection) -> Self {
        AppError::invalid(format!("the path is malformed: {}", err.body_text()))
    }
}

impl From<BytesRejection> for AppError {
    fn from(err: BytesRejection) -> Self {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                ErrorStatus::PayloadTooLarge,
                format!(
                    "the request body is larger than the {} KiB Keydesk accepts",
                    crate::serve::MAX_BODY_BYTES / 1024
                ),
            )
        } else {
            AppError::invalid(format!(
                "the request body could not be read: {}",
                err.body_text()
            ))
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(err: JsonRejection) -> Self {
        match err {
            JsonRejection::MissingJsonContentType(_) => AppError::new(
                ErrorStatus::UnsupportedMediaType,
                "the request body must be JSON, sent with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(err) => err.into(),
            other => AppError::invalid(format!(
                "the request body is not what this call takes: {}",
                other.body_text()
            )),
        }
    }
}
