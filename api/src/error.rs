//! The one error shape of every failure, modelled on Google's API error model:
//! `{"error": {"code": 404, "status": "NOT_FOUND", "message": "…"}}`.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    pub code: u16,
    /// The canonical status name, for example `FAILED_PRECONDITION`.
    pub status: String,
    /// What went wrong, written for a person.
    pub message: String,
}

/// The canonical statuses Keydesk answers with, and the HTTP code of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStatus {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    MethodNotAllowed,
    /// The person's current state does not allow the change. Keydesk answers 409, not Google's 400,
    /// as the Users API's own conflicts do.
    FailedPrecondition,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestHeaderFieldsTooLarge,
    ResourceExhausted,
    Internal,
    Unavailable,
}

impl ErrorStatus {
    pub fn http_code(self) -> u16 {
        match self {
            ErrorStatus::InvalidArgument => 400,
            ErrorStatus::Unauthenticated => 401,
            ErrorStatus::PermissionDenied => 403,
            ErrorStatus::NotFound => 404,
            ErrorStatus::MethodNotAllowed => 405,
            ErrorStatus::FailedPrecondition => 409,
            ErrorStatus::PayloadTooLarge => 413,
            ErrorStatus::UnsupportedMediaType => 415,
            ErrorStatus::RequestHeaderFieldsTooLarge => 431,
            ErrorStatus::ResourceExhausted => 429,
            ErrorStatus::Internal => 500,
            ErrorStatus::Unavailable => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStatus::InvalidArgument => "INVALID_ARGUMENT",
            ErrorStatus::Unauthenticated => "UNAUTHENTICATED",
            ErrorStatus::PermissionDenied => "PERMISSION_DENIED",
            ErrorStatus::NotFound => "NOT_FOUND",
            ErrorStatus::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorStatus::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorStatus::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorStatus::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorStatus::RequestHeaderFieldsTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            ErrorStatus::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorStatus::Internal => "INTERNAL",
            ErrorStatus::Unavailable => "UNAVAILABLE",
        }
    }
}

impl ApiError {
    pub fn new(status: ErrorStatus, message: impl Into<String>) -> Self {
        ApiError {
            error: ErrorBody {
                code: status.http_code(),
                status: status.as_str().to_owned(),
                message: message.into(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for ApiError {}
