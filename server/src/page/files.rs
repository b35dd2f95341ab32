//! Where the built page comes from: a folder (`KEYDESK_DIST`; `./dist` in a build without the
//! page inside), or the binary itself (`--features embed-page`, as scripts/build builds it).

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
};

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use tower::ServiceExt;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeader,
};

#[derive(Clone, Debug)]
pub enum PageFiles {
    Folder(PathBuf),
    #[cfg(feature = "embed-page")]
    Embedded,
}

impl PageFiles {
    /// The folder given, else the page inside the binary, else `./dist`.
    pub fn new(dist: Option<&Path>) -> Self {
        match dist {
            Some(folder) => PageFiles::Folder(folder.to_owned()),
            #[cfg(feature = "embed-page")]
            None => PageFiles::Embedded,
            #[cfg(not(feature = "embed-page"))]
            None => PageFiles::Folder(PathBuf::from("./dist")),
        }
    }

    /// For the log: where the page is served from.
    pub fn describe(&self) -> String {
        match self {
            PageFiles::Folder(folder) => folder.display().to_string(),
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => "built into this binary".to_owned(),
        }
    }

    /// A file's bytes (`index.html`, to hash its scripts at start).
    pub fn read(&self, name: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            PageFiles::Folder(folder) => std::fs::read(folder.join(name)).ok().map(Cow::Owned),
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => super::embedded::get(name).map(|file| file.data),
        }
    }

    /// [`PageFiles::read`] without holding up the runtime's thread on a disk.
    pub async fn read_async(&self, name: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            PageFiles::Folder(folder) => tokio::fs::read(folder.join(name))
                .await
                .ok()
                .map(Cow::Owned),
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => self.read(name),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        match self {
            PageFiles::Folder(folder) => folder.join(name).is_file(),
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => super::embedded::get(name).is_some(),
        }
    }

    /// Answer with the file the request's path names, or with `fallback` when there is none.
    pub async fn serve(&self, request: Request, fallback: &str) -> Response {
        match self {
            PageFiles::Folder(folder) => {
                let files = ServeDir::new(folder)
                    .precompressed_br()
                    .precompressed_gzip()
                    .fallback(uncached(ServeFile::new(folder.join(fallback))));
                match files.oneshot(request).await {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                }
            }
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => super::memory::serve(
                request.uri().path(),
                request.headers(),
                fallback,
                super::embedded::get,
            ),
        }
    }

    /// Answer with the page `name`, never cached.
    pub async fn serve_page(&self, request: Request, name: &str) -> Response {
        match self {
            PageFiles::Folder(folder) => {
                match uncached(ServeFile::new(folder.join(name)))
                    .oneshot(request)
                    .await
                {
                    Ok(response) => response.into_response(),
                    Err(never) => match never {},
                }
            }
            #[cfg(feature = "embed-page")]
            PageFiles::Embedded => {
                let mut response = super::memory::serve(
                    &format!("/{name}"),
                    request.headers(),
                    name,
                    super::embedded::get,
                );
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE));
                response
            }
        }
    }
}

/// The page itself is never cached under any name, so that a new release shows at once, and
/// a stale page asking for an asset that is gone does not get the page pinned there for a year.
/// (The in-memory files say the same of their fallback: `memory::serve`.)
pub const PAGE_CACHE: &str = "no-cache";

fn uncached<S>(service: S) -> SetResponseHeader<S, HeaderValue> {
    SetResponseHeader::overriding(
        service,
        header::CACHE_CONTROL,
        HeaderValue::from_static(PAGE_CACHE),
    )
}
