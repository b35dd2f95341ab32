//! Serving files held in memory (the page built into the binary) the way tower-http's `ServeDir`
//! serves `dist/`: a file's precompressed `.br` or `.gz` twin when the browser takes that
//! encoding, its type from its name, `index.html` for a folder, and an unknown path answered
//! with the fallback page. No crate serves rust-embed's files with the precompressed twins they
//! already carry on axum 0.8 (axum-embed is stuck on axum 0.7; memory-serve compresses again,
//! its own way), hence this. Unlike `ServeDir`, a file carries an `ETag` (its SHA-256, known
//! at compile time), so a browser revalidating `index.html` gets a 304.

use std::borrow::Cow;

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use data_encoding::HEXLOWER;

/// One file: its bytes, and their SHA-256.
pub struct MemoryFile {
    pub data: Cow<'static, [u8]>,
    pub sha256: [u8; 32],
}

/// The encodings whose twins the build writes (scripts/build: brotli, then zopfli's gzip), best
/// first.
const TWINS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// Answer a GET or HEAD for `path` from the files `get` finds; `fallback` (never cached) when
/// there is no file there.
pub fn serve(
    path: &str,
    headers: &HeaderMap,
    fallback: &str,
    get: impl Fn(&str) -> Option<MemoryFile>,
) -> Response {
    let wanted = file_name(path);
    let (name, file, is_fallback) = match get(&wanted) {
        Some(file) => (wanted.as_str(), file, false),
        None => match get(fallback) {
            Some(file) => (fallback, file, true),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let twins: Vec<(&str, MemoryFile)> = TWINS
        .iter()
        .filter_map(|(coding, suffix)| get(&format!("{name}{suffix}")).map(|twin| (*coding, twin)))
        .collect();
    let has_twins = !twins.is_empty();
    let (encoding, file) = twins
        .into_iter()
        .find(|(coding, _)| accepts(headers, coding))
        .map_or((None, file), |(coding, twin)| (Some(coding), twin));

    let etag = format!("\"{}\"", HEXLOWER.encode(&file.sha256[..16]));
    let mut response = if matches_etag(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match file.data {
            Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            Cow::Owned(bytes) => Bytes::from(bytes),
        };
        let mime = mime_guess::from_path(name).first_raw();
        let mut response = Body::from(body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(mime.unwrap_or("application/octet-stream")),
        );
        if let Some(coding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if has_twins {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if is_fallback {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(super::files::PAGE_CACHE),
        );
    }
    response
}

/// The file a path names: `index.html` for a folder.
fn file_name(path: &str) -> String {
    let name = path.trim_start_matches('/');
    if name.is_empty() || name.ends_with('/') {
        format!("{name}index.html")
    } else {
        name.to_owned()
    }
}

/// Whether `Accept-Encoding` takes `coding` (named, with a weight above zero). Like `ServeDir`,
/// `*` is not read as every encoding.
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            name.eq_ignore_ascii_case(coding).then(|| {
                parts
                    .find_map(|param| param.trim().strip_prefix("q="))
                    .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0))
            })
        })
        .is_some_and(|q| q > 0.0)
}

/// `If-None-Match` names this `ETag` (weakly compared, as RFC 9110 says for this header) or `*`.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::{HeaderMap, StatusCode, header};
    use sha2::{Digest, Sha256};

    use super::{MemoryFile, serve};

    fn files() -> HashMap<&'static str, &'static [u8]> {
        HashMap::from([
            ("index.html", b"the page".as_slice()),
            ("index.html.br", b"the page, brotli"),
            ("app-0123456789abcdef_bg.wasm", b"wasm"),
            ("app-0123456789abcdef_bg.wasm.br", b"wasm, brotli"),
            ("app-0123456789abcdef_bg.wasm.gz", b"wasm, gzip"),
            ("recover/index.html", b"the recovery page"),
            ("plain.txt", b"plain"),
        ])
    }

    async fn get(path: &str, request_headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let files = files();
        let mut headers = HeaderMap::new();
        for (name, value) in request_headers {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let response = serve(path, &headers, "index.html", |name| {
            files.get(name).map(|data| MemoryFile {
                data: (*data).into(),
                sha256: Sha256::digest(data).into(),
            })
        });
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn the_best_twin_the_browser_takes_is_sent() {
        let wasm = "/app-0123456789abcdef_bg.wasm";
        for (accept, encoding, body) in [
            ("gzip, deflate, br, zstd", Some("br"), "wasm, brotli"),
            ("gzip", Some("gzip"), "wasm, gzip"),
            ("br;q=0, gzip;q=0.5", Some("gzip"), "wasm, gzip"),
            ("BR", Some("br"), "wasm, brotli"),
            ("identity", None, "wasm"),
            ("*", None, "wasm"),
            ("", None, "wasm"),
        ] {
            let (status, headers, text) = get(wasm, &[("accept-encoding", accept)]).await;
            assert_eq!(status, StatusCode::OK, "{accept}");
            assert_eq!(
                headers
                    .get(header::CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap()),
                encoding,
                "{accept}"
            );
            assert_eq!(text, body, "{accept}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
            assert_eq!(headers[header::VARY], "accept-encoding");
        }
    }

    #[tokio::test]
    async fn a_file_without_twins_goes_as_it_is_with_its_type_and_no_vary() {
        let (status, headers, text) = get("/plain.txt", &[("accept-encoding", "br")]).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "plain"));
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert!(headers.get(header::VARY).is_none());
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert!(
            headers.get(header::CACHE_CONTROL).is_none(),
            "the caller decides"
        );
    }

    #[tokio::test]
    async fn folders_get_their_index_and_unknown_paths_the_fallback_uncached() {
        let (_, headers, text) = get("/", &[]).await;
        assert_eq!(text, "the page");
        assert!(headers.get(header::CACHE_CONTROL).is_none());
        assert_eq!(get("/recover/", &[]).await.2, "the recovery page");
        for path in ["/users/U1", "/app-fedcba9876543210.js", "/index.html.gz"] {
            let (status, headers, text) = get(path, &[("accept-encoding", "br")]).await;
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::OK, "the page, brotli")
            );
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html", "{path}");
        }
    }

    #[tokio::test]
    async fn a_browser_holding_the_same_file_gets_304() {
        let (_, headers, _) = get("/index.html", &[("accept-encoding", "br")]).await;
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let same = [("accept-encoding", "br"), ("if-none-match", etag.as_str())];
        let (status, headers, text) = get("/index.html", &same).await;
        assert_eq!((status, text.as_str()), (StatusCode::NOT_MODIFIED, ""));
        assert_eq!(headers[header::ETAG], etag.as_str());
        let weak = format!("\"other\", W/{etag}");
        let weak = [("accept-encoding", "br"), ("if-none-match", weak.as_str())];
        assert_eq!(get("/index.html", &weak).await.0, StatusCode::NOT_MODIFIED);
        // The plain file is another representation, with another tag.
        let plain = [("if-none-match", etag.as_str())];
        assert_eq!(get("/index.html", &plain).await.0, StatusCode::OK);
    }
}
