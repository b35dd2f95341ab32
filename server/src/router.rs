//! Every route Keydesk answers, in one place, and the OpenAPI document made from the same list.

use std::sync::Arc;

use axum::{
    Extension, Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    middleware::{Next, from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
    routing::post,
};
use keydesk_api::ErrorStatus;
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, timeout::RequestBodyTimeoutLayer,
};
use utoipa::openapi::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{self, printable},
    error::AppError,
    metrics,
    openapi::{self, Operations},
    page,
    routes::{audit, events, export, meta, oauth, recovery, schedule, users},
    serve::{MAX_BODY_BYTES, MAX_HEADER_BYTES, ServerLimits},
};

/// The API's routes, each registered with its OpenAPI description in one line, and the
/// document they make.
pub fn api(state: &AppState) -> (Router<AppState>, OpenApi) {
    // Everything that reads or changes the directory needs a signed-in person; the Users API
    // also takes an OAuth client's bearer token, and nothing else does.
    let users_api = OpenApiRouter::with_openapi(openapi::custom_methods())
        // The Users API (v1beta1), and Keydesk's extensions of it.
        .routes(routes!(users::list_users))
        .routes(routes!(users::get_user))
        // `:suspend`, `:reactivate`, `:completeRecovery` and `:resendRecovery` share this route
        // (`{user_id}` holds `ID:method`); the document describes each at its own path, from
        // `openapi::custom_methods` above.
        .route(USER_PATH, post(users::call_user_method));
    let persons_only = OpenApiRouter::new()
        .routes(routes!(recovery::begin_recovery))
        // What the page needs besides the Users API.
        .routes(routes!(meta::session))
        .routes(routes!(meta::page_config))
        .routes(routes!(users::last_change))
        .routes(routes!(users::confirm_identity))
        .routes(routes!(export::export_users))
        .routes(routes!(events::events))
        .routes(routes!(schedule::list_scheduled, schedule::schedule))
        .routes(routes!(schedule::cancel))
        .routes(routes!(schedule::run_now))
        .routes(routes!(recovery::state_counts))
        .routes(routes!(recovery::list_outbox))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::export_audit))
        .routes(routes!(audit::verify_audit))
        .route_layer(from_fn_with_state(
            state.clone(),
            auth::oauth::refuse_bearer,
        ));
    // Outermost, so it runs first: `refuse_bearer` needs to know who authenticated.
    let mut protected = users_api
        .merge(persons_only)
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    openapi::layer_answers(
        protected.get_openapi_mut(),
        Operations::All,
        &[
            (
                401,
                "Not signed in (no identity from the SSO proxy, or a bearer token that is not valid)",
            ),
            (
                403,
                "Signed in, but without the permission, role or scope this needs",
            ),
            (
                503,
                "The directory cannot be read or written now (1Password unreachable, a database locked)",
            ),
        ],
    );
    // The person holding a recovery link has a link, not a login; an OAuth client asking for a
    // token has its client credentials.
    let links = OpenApiRouter::new()
        .routes(routes!(recovery::inspect_recovery_link))
        .routes(routes!(recovery::accept_recovery_link));
    let public = OpenApiRouter::new()
        .routes(routes!(oauth::issue_token))
        .routes(routes!(oauth::revoke_token))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::openapi_json));
    // Every change, and every use of a recovery link, passes the guard (`auth::Guard`).
    let mut guarded = protected.merge(links);
    openapi::layer_answers(
        guarded.get_openapi_mut(),
        Operations::Changes,
        &[
            (
                429,
                "Acting faster than the rate limit allows (Retry-After says when to try again)",
            ),
            (
                503,
                "The audit trail cannot be written, so nothing was changed",
            ),
        ],
    );
    let (router, mut document) = OpenApiRouter::with_openapi(openapi::base())
        .merge(guarded)
        .merge(public)
        .split_for_parts();
    // What the layers `router` puts around every route may answer.
    openapi::layer_answers(
        &mut document,
        Operations::All,
        &[(431, "The request's headers are larger than Keydesk accepts")],
    );
    openapi::layer_answers(
        &mut document,
        Operations::WithBody,
        &[
            (400, "The body is not what this call takes"),
            (413, "The request body is larger than Keydesk accepts"),
            (415, "The body is not of the type this call takes"),
        ],
    );
    (router, document)
}

/// Where a user's custom methods are called (`…/users/{user_id}:{method}`).
pub(crate) const USER_PATH: &str = "/v1beta1/accounts/{account_id}/users/{user_id}";

pub fn router(state: AppState, limits: &ServerLimits) -> Router {
    let (api, document) = api(&state);
    let router = api
        // Anything else: the page (with SPA fallback), or a JSON 404 under the API prefixes.
        .fallback(page::serve_page)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(Arc::new(document)));
    state
        .security
        .apply(router)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(from_fn(refuse_large_headers))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(panic_to_error))
        // Outermost, so that every answer, even a refusal of the headers or a panic, is
        // measured, logged and given its request ID. Layers run after routing: the route's
        // template is known.
        .layer(from_fn(metrics::observe_request))
        .layer(from_fn_with_state(state.clone(), auth::request_context))
        .with_state(state)
}

/// More header bytes than [`MAX_HEADER_BYTES`] are refused before anything reads them.
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

/// A method the path does not take. Axum names the methods its route takes; a user's custom
/// methods (`…/users/{id}:suspend`) share their route with reading the user, but take POST only.
async fn method_not_allowed(method: Method, uri: Uri) -> AppError {
    let message = format!("{method} is not allowed on {}", printable(uri.path()));
    let mut segments = uri.path().rsplit('/');
    let (last, parent) = (segments.next().unwrap_or_default(), segments.next());
    if last.contains(':') {
        AppError::method_not_allowed("POST", message)
    } else if parent == Some("users") {
        AppError::method_not_allowed("GET, HEAD", message)
    } else {
        AppError::new(ErrorStatus::MethodNotAllowed, message)
    }
}

/// A panic is a bug; the person still gets the JSON error shape, never a dropped connection.
fn panic_to_error(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::new(ErrorStatus::Internal, "a handler panicked").into_response()
}
