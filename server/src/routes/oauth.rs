//! The Users API's OAuth 2 endpoints: a client-credentials token, and its revocation. Served so
//! the embedded Keydesk can stand in for the 1Password cloud. Their answers follow RFC 6749 §5
//! and RFC 7009, not Keydesk's error shape, because that is what an OAuth client reads.
//!
//! The wire types are written here, not shared with the upstream connector: each side spells the
//! RFC out on its own, so a mistake on one side fails the connector's tests instead of hiding.

use std::time::Instant;

use axum::{
    Extension, Form, Json,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    auth::{RequestContext, oauth::Client, oauth::basic_credentials, record_refused_sign_in},
};

/// `POST /v1beta1/users/oauth2/token`'s form body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`, the only grant offered.
    #[schema(value_type = String, pattern = "^client_credentials$")]
    pub grant_type: Option<String>,
    /// Optional; `openid` is the only scope asked for this way (the client's scopes are its
    /// application's).
    #[schema(value_type = String, required = false, pattern = "^(openid)?$")]
    pub scope: Option<String>,
}

/// A bearer token (RFC 6749 §5.1).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Opaque; send it as `Authorization: Bearer …`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the token works for.
    pub expires_in: u64,
}

/// `POST /v1beta1/users/oauth2/revoke`'s form body (RFC 7009 §2.1).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeRequest {
    /// The token to revoke. A `token_type_hint` may come too; Keydesk has access tokens only, so
    /// it needs none.
    #[schema(value_type = String, min_length = 1)]
    pub token: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type` or `invalid_scope`.
    pub error: &'static str,
    pub error_description: String,
}

/// A refused token or revocation request.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl Refusal {
    fn invalid_request(description: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = no_store(
            self.status,
            Json(OAuthError {
                error: self.error,
                error_description: self.description,
            }),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keydesk\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// Token answers must not be cached anywhere (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The client named by the request's Basic credentials; a wrong or missing one is refused with
/// 401 `invalid_client`, and audited as a refused sign-in.
async fn authenticate_client(
    state: &AppState,
    context: Option<RequestContext>,
    headers: &HeaderMap,
) -> Result<Client, Response> {
    let credentials = basic_credentials(headers);
    if let Some(client) = credentials
        .as_ref()
        .and_then(|(id, secret)| state.auth.oauth.authenticate(id, secret))
    {
        return Ok(client);
    }
    let (actor, reason) = match &credentials {
        Some((id, _)) => (
            format!(
                "unverified: oauth-client:{}",
                id.chars().take(100).collect::<String>()
            ),
            "The OAuth client ID or secret is wrong.",
        ),
        None => (
            "unknown".to_owned(),
            "The request carries no Basic client credentials.",
        ),
    };
    if let Err(err) = record_refused_sign_in(state, context, actor, Vec::new(), reason.into()).await
    {
        return Err(err.into_response());
    }
    Err(Refusal {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: format!("{reason} Send Authorization: Basic base64(client_id:client_secret)."),
    }
    .into_response())
}

/// The authenticated client and its form: client authentication first (RFC 6749 §5.2 answers
/// a wrong client with 401 whatever the body), then the body.
async fn client_and_form<T>(
    state: &AppState,
    context: Option<Extension<RequestContext>>,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
) -> Result<(Client, T), Response> {
    let client = authenticate_client(state, context.map(|c| c.0), headers).await?;
    let Form(body) = form.map_err(|err| {
        Refusal::invalid_request(format!(
            "the body must be a form (application/x-www-form-urlencoded): {}",
            err.body_text()
        ))
        .into_response()
    })?;
    Ok((client, body))
}

/// Issue a bearer token for an OAuth client's credentials (client-credentials grant).
#[utoipa::path(post, path = "/v1beta1/users/oauth2/token", tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Not a client-credentials request", body = OAuthError),
        (status = 401, description = "Wrong or missing client credentials", body = OAuthError),
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    context: Option<Extension<RequestContext>>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let (client, request) = match client_and_form(&state, context, &headers, form).await {
        Ok(authenticated) => authenticated,
        Err(response) => return response,
    };
    match request.grant_type.as_deref() {
        Some("client_credentials") => {}
        None | Some("") => {
            return Refusal::invalid_request("grant_type is missing: send client_credentials")
                .into_response();
        }
        Some(other) => {
            return Refusal {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!(
                    "grant_type '{}' is not offered: only client_credentials",
                    other.chars().take(60).collect::<String>()
                ),
            }
            .into_response();
        }
    }
    let scope = request.scope.unwrap_or_default();
    if scope.split_whitespace().any(|s| s != "openid") {
        return Refusal {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_scope",
            description: "the only scope to ask for is openid; the client's scopes are its \
                          application's"
                .into(),
        }
        .into_response();
    }
    let token = state.auth.oauth.issue(&client, Instant::now());
    no_store(
        StatusCode::OK,
        Json(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: state.auth.oauth.lifetime().as_secs(),
        }),
    )
}

/// Revoke one of the client's own tokens; it stops working at once (RFC 7009).
#[utoipa::path(post, path = "/v1beta1/users/oauth2/revoke", tag = "oauth",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or it was not a live token of this client's"),
        (status = 400, description = "No token in the body", body = OAuthError),
        (status = 401, description = "Wrong or missing client credentials", body = OAuthError),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    context: Option<Extension<RequestContext>>,
    headers: HeaderMap,
    form: Result<Form<RevokeRequest>, FormRejection>,
) -> Response {
    let (client, token) = match client_and_form(&state, context, &headers, form).await {
        Ok((client, RevokeRequest { token: Some(token) })) if !token.is_empty() => (client, token),
        Ok(_) => return Refusal::invalid_request("token is missing").into_response(),
        Err(response) => return response,
    };
    state.auth.oauth.revoke(&client, &token);
    no_store(StatusCode::OK, ())
}
