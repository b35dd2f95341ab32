//! Security headers on every response. The Content-Security-Policy allows the page's own files,
//! the inline module loader Trunk writes into index.html (by its hash, computed at start-up),
//! WebAssembly compilation, and nothing from other origins.

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
};
use data_encoding::BASE64;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

/// The headers, built once.
#[derive(Clone)]
pub struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// The contents of every inline `<script>` (one without `src`) in the page.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            scripts.push(&body[..close]);
        }
        rest = &body[close..];
    }
    scripts
}

impl SecurityHeaders {
    pub fn for_page(page: &crate::page::PageFiles) -> Self {
        // Every page: the admin's and the others (`page::OTHER_PAGES`).
        let pages =
            std::iter::once("index.html").chain(crate::page::OTHER_PAGES.map(|(_, file)| file));
        let html: String = pages
            .filter_map(|file| page.read(file))
            .map(|html| String::from_utf8_lossy(&html).into_owned())
            .collect();
        let hashes: String = inline_scripts(&html)
            .into_iter()
            .map(|script| {
                format!(
                    " 'sha256-{}'",
                    BASE64.encode(&Sha256::digest(script.as_bytes()))
                )
            })
            .collect();
        let csp = format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let headers = [
            (header::CONTENT_SECURITY_POLICY, csp.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                "same-origin",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ]
        .into_iter()
        .map(|(name, value)| {
            (
                name,
                HeaderValue::from_str(value).expect("ASCII header values"),
            )
        })
        .collect();
        SecurityHeaders { headers }
    }
}

impl SecurityHeaders {
    /// Put the headers on every response of `router` (tower-http's `SetResponseHeader`).
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, mut router: Router<S>) -> Router<S> {
        for (name, value) in &self.headers {
            router = router.layer(SetResponseHeaderLayer::overriding(
                name.clone(),
                value.clone(),
            ));
        }
        router
    }
}

#[cfg(test)]
mod tests {
    use super::inline_scripts;

    #[test]
    fn finds_only_inline_scripts() {
        let html = r#"<script src="/a.js"></script><script type="module">import x;</script>"#;
        assert_eq!(inline_scripts(html), ["import x;"]);
    }
}
