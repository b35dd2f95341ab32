//! The OpenAPI 3.1 document of the whole HTTP surface, generated from the handlers' annotations
//! and the wire types, so it cannot drift from the code (a test walks it against the server).

use utoipa::OpenApi;

use crate::routes::{audit, meta, oauth, recovery, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keydesk",
        description = "The 1Password Users API (v1beta1) as Keydesk serves it, plus Keydesk's \
            extensions: `q`, `state` and `order_by` on list, and the `type`, `role` and \
            `update_time` fields of User. Every error has the body \
            `{\"error\": {\"code\", \"status\", \"message\"}}`."
    ),
    paths(
        users::list_users,
        users::get_user,
        users::suspend_user,
        users::reactivate_user,
        users::complete_recovery,
        users::resend_recovery,
        recovery::begin_recovery,
        recovery::inspect_recovery_link,
        recovery::accept_recovery_link,
        recovery::list_outbox,
        recovery::state_counts,
        meta::session,
        meta::page_config,
        audit::list_audit,
        audit::export_audit,
        audit::verify_audit,
        meta::healthz,
        meta::openapi_json,
        oauth::issue_token,
        oauth::revoke_token,
    ),
    components(schemas(
        keydesk_api::User,
        keydesk_api::ListUsersResponse,
        keydesk_api::ApiError,
        keydesk_api::ErrorBody,
        keydesk_api::PageConfig,
        keydesk_api::BeginRecoveryRequest,
        keydesk_api::BeginRecoveryResponse,
        keydesk_api::RecoveryFailure,
        keydesk_api::RecoveryToken,
        keydesk_api::RecoveryLinkInfo,
        keydesk_api::AcceptRecoveryRequest,
        keydesk_api::AcceptRecoveryResponse,
        keydesk_api::OutboxResponse,
        keydesk_api::OutboxMessage,
        keydesk_api::StateCounts,
        keydesk_api::StateCount,
        keydesk_api::Session,
        keydesk_api::Permission,
        keydesk_api::AuditPage,
        keydesk_api::AuditRecord,
        keydesk_api::AuditVerification,
        oauth::TokenRequest,
        oauth::TokenResponse,
        oauth::RevokeRequest,
        oauth::OAuthError,
    ))
)]
struct ApiDoc;

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
