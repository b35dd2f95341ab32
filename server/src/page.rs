//! Serving the built page: hashed assets cached for good, `index.html` never cached, every
//! unknown path under the page answered with `index.html` so deep links work, and the users
//! list's address answered with its first rows already in the page ([`first_rows`]).

#[cfg(feature = "embed-page")]
mod embedded;
mod files;
mod first_rows;
#[cfg(any(test, feature = "embed-page"))]
mod memory;

pub use files::PageFiles;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    response::{IntoResponse, Response},
};
use keydesk_api::ErrorStatus;

use crate::{AppState, error::AppError};

/// The pages besides the admin's `index.html`, each its own program built into its own folder
/// of `dist` (scripts/build), by the address that serves it: the person's recovery page (the
/// link in the recovery email), and the admin's record pages (the audit trail, the scheduled
/// changes, the embedded demo's Outbox).
pub const OTHER_PAGES: [(&str, &str); 4] = [
    ("/recover", "recover/index.html"),
    ("/audit", "records/index.html"),
    ("/scheduled", "records/index.html"),
    ("/outbox", "records/index.html"),
];

/// Paths that belong to the API: an unknown one is a JSON 404, never the page.
const API_PREFIXES: &[&str] = &["/v1beta1", "/api/", "/healthz", "/openapi.json"];

fn is_api(path: &str) -> bool {
    path == "/api" || API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

pub async fn serve_page(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if is_api(&path) {
        return AppError::not_found(format!("no route for {} {path}", request.method()))
            .into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return AppError::new(
            ErrorStatus::MethodNotAllowed,
            format!("{} is not allowed on {path}", request.method()),
        )
        .into_response();
    }
    let other_page = OTHER_PAGES
        .iter()
        .find(|(at, _)| path.strip_suffix('/').unwrap_or(&path) == *at)
        .map(|(_, file)| *file);
    let index = other_page.unwrap_or("index.html");
    if !state.page.has(index) {
        return AppError::new(
            ErrorStatus::Unavailable,
            "the page has not been built: run scripts/run, or trunk build --release",
        )
        .into_response();
    }
    // The list's first rows make the page personal: never kept by a shared cache, and marked as
    // depending on who asks, whether or not this answer has them.
    let users_list = first_rows::is_users_list(&path);
    if users_list
        && request.method() == Method::GET
        && let Some(list) = first_rows::requested_list(&state, &request)
        && let Some(html) = first_rows::page_with_rows(&state, list).await
    {
        let mut response = (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache, private"),
            ],
            html,
        )
            .into_response();
        add_vary(&state, &mut response);
        return response;
    }
    if other_page.is_some() {
        return state.page.serve_page(request, index).await;
    }
    let mut response = state.page.serve(request, index).await;
    let cache = if is_hashed_asset(&path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(cache));
    if users_list {
        add_vary(&state, &mut response);
    }
    response
}

/// `Vary` on the headers that say who is asking.
fn add_vary(state: &AppState, response: &mut Response) {
    if let Ok(value) = HeaderValue::from_str(&state.auth.identity_headers().join(", ")) {
        response.headers_mut().append(header::VARY, value);
    }
}

/// Trunk names assets `name-<16 hex digits>.ext` (the wasm `name-<hash>_bg.wasm`): their content
/// never changes under that name.
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    match stem.rsplit_once('-') {
        // A u64 in hex without leading zeros: usually 16 digits, sometimes fewer.
        Some((_, hash)) => {
            (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_hashed_asset;

    #[test]
    fn recognises_trunk_hashes() {
        assert!(is_hashed_asset("/keydesk-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(is_hashed_asset("/keydesk-1a2b3c4d5e6f7a8b.js"));
        assert!(
            is_hashed_asset("/main-acca2c689de7cc8.css"),
            "15 digits: a hash with a leading zero"
        );
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/users"));
    }
}
