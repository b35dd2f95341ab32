//! Every route Keydesk answers, in one place.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    middleware::{Next, from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use keydesk_api::ErrorStatus;
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, timeout::RequestBodyTimeoutLayer,
};

use crate::{
    AppState, auth,
    error::AppError,
    page,
    routes::{audit, meta, oauth, recovery, users},
    security,
    serve::ServerLimits,
};

/// The largest request body Keydesk reads. Its bodies are small JSON objects.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The most header bytes (names and values) one request may carry: an SSO proxy's identity
/// and groups fit many times over; a 300 KB groups header does not.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub fn router(state: AppState, limits: &ServerLimits) -> Router {
    // Everything that reads or changes the directory needs a signed-in person; the Users API
    // also takes an OAuth client's bearer token, and nothing else does.
    let users_api = Router::new()
        // The Users API (v1beta1), and Keydesk's extensions of it.
        .route(
            "/v1beta1/accounts/{account_id}/users",
            get(users::list_users),
        )
        .route(
            "/v1beta1/accounts/{account_id}/users/{user}",
            get(users::get_user).post(users::call_user_method),
        );
    let persons_only = Router::new()
        .route(
            "/v1beta1/accounts/{account_id}/users:beginRecovery",
            post(recovery::begin_recovery),
        )
        // What the page needs besides the Users API.
        .route("/api/session", get(meta::session))
        .route("/api/config", get(meta::page_config))
        .route("/api/state-counts", get(recovery::state_counts))
        .route("/api/outbox", get(recovery::list_outbox))
        .route("/api/audit", get(audit::list_audit))
        .route("/api/audit/export", get(audit::export_audit))
        .route("/api/audit/verify", get(audit::verify_audit))
        .route_layer(from_fn_with_state(
            state.clone(),
            auth::oauth::refuse_bearer,
        ));
    // Outermost, so it runs first: `refuse_bearer` needs to know who authenticated.
    let protected = users_api
        .merge(persons_only)
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    // The person holding a recovery link has a link, not a login; an OAuth client asking for a
    // token has its client credentials.
    let public = Router::new()
        .route("/v1beta1/users/oauth2/token", post(oauth::issue_token))
        .route("/v1beta1/users/oauth2/revoke", post(oauth::revoke_token))
        .route(
            "/api/recovery:inspect",
            post(recovery::inspect_recovery_link),
        )
        .route("/api/recovery:accept", post(recovery::accept_recovery_link))
        .route("/healthz", get(meta::healthz))
        .route("/openapi.json", get(meta::openapi_json));
    Router::new()
        .merge(protected)
        .merge(public)
        // Anything else: the page (with SPA fallback), or a JSON 404 under the API prefixes.
        .fallback(page::serve_page)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::request_context))
        .layer(from_fn_with_state(
            state.clone(),
            security::add_security_headers,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(from_fn(refuse_large_headers))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(panic_to_error))
        .with_state(state)
}

/// More header bytes than [`MAX_HEADER_BYTES`] is refused before anything reads them.
async fn refuse_large_headers(request: axum::extract::Request, next: Next) -> Response {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return AppError::new(
            ErrorStatus::RequestHeaderFieldsTooLarge,
            format!(
                "the request's headers are {} KiB, more than the {} KiB Keydesk accepts",
                bytes.div_ceil(1024),
                MAX_HEADER_BYTES / 1024
            ),
        )
        .into_response();
    }
    next.run(request).await
}

async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    AppError::new(
        ErrorStatus::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// A panic is a bug; the person still gets the JSON error shape, never a dropped connection.
fn panic_to_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::new(ErrorStatus::Internal, "a handler panicked").into_response()
}
