//! The current view of the directory as CSV: every person the search, filter and sort match,
//! streamed a page at a time so that 100,000 people never sit in memory at once.

use axum::{
    body::{Body, Bytes},
    extract::{Query, State, rejection::QueryRejection},
    http::header,
    response::IntoResponse,
};
use futures_util::{StreamExt as _, stream};
use keydesk_api::{ListUsersParams, MAX_PAGE_SIZE, Permission, User};

use crate::{AppState, auth::Signed, directory::ListQuery, error::AppError};

/// The columns, as the users table shows them, plus what a spreadsheet needs to act on a row.
const HEADER: [&str; 7] = [
    "Name",
    "Email",
    "Role",
    "State",
    "Created",
    "ID",
    "update_time",
];

/// Every person the view matches, as CSV (RFC 4180, UTF-8). `max_page_size` and `page_token`
/// are checked as a list's, then left aside: the export is the whole view.
#[utoipa::path(get, path = "/api/users.csv", tag = "keydesk", params(ListUsersParams),
    responses(
        (status = 200, description = "CSV, one person per row after the header", content_type = "text/csv; charset=utf-8"),
        (status = 400, description = "A parameter is invalid", body = keydesk_api::ApiError),
    ))]
pub async fn export_users(
    State(state): State<AppState>,
    signed: Signed,
    params: Result<Query<ListUsersParams>, QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    signed.require(Permission::ReadUsers)?;
    let Query(params) = params?;
    // Checked like a list's (a page size out of range is still an error), then the whole view.
    let query = ListQuery {
        page_size: MAX_PAGE_SIZE,
        page_token: None,
        ..ListQuery::from_params(params)?
    };
    // Ask for the first page before answering, so that a directory that cannot be read is an
    // error with a status, not a CSV cut short.
    let first = state.directory.list_users(query.clone()).await?;
    let header = stream::iter([Ok(Bytes::from(rows(&[], true)))]);
    let pages = stream::unfold(Some(first), move |page| {
        let (state, query) = (state.clone(), query.clone());
        async move {
            let page = page?;
            let chunk = Bytes::from(rows(&page.results, false));
            let Some(token) = page.next_page_token else {
                return Some((Ok(chunk), None));
            };
            let next = ListQuery {
                page_token: Some(token),
                ..query
            };
            match state.directory.list_users(next).await {
                Ok(next) => Some((Ok(chunk), Some(next))),
                // The status line is gone: end the transfer with an error, so that the browser
                // reports the download as failed rather than keeping a file cut short.
                Err(err) => {
                    tracing::warn!(error = %err, "the CSV export stopped early");
                    Some((Err(std::io::Error::other(err.to_string())), None))
                }
            }
        }
    });
    // Fused: the compression layer polls once more after the end, which `unfold` forbids.
    let body = header.chain(pages).fuse();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keydesk-users.csv\"",
            ),
        ],
        Body::from_stream(body),
    ))
}

/// The CSV text of `users` (with the header row first when `header`).
fn rows(users: &[User], header: bool) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(users.len() * 120));
    let mut write = |record: [&str; 7]| {
        writer
            .write_record(record.map(|cell| neutralised(cell).into_owned()))
            .expect("writing to memory cannot fail");
    };
    if header {
        write(HEADER);
    }
    for user in users {
        write([
            &user.display_name,
            &user.email,
            user.role_label(),
            user.state.label(),
            &user.create_time,
            user.id.as_str(),
            user.update_time.as_deref().unwrap_or_default(),
        ]);
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) is written with a leading `'`, so it reads as the text it is (OWASP's
/// advice on CSV injection).
fn neutralised(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quoting_is_rfc_4180() {
        assert_eq!(neutralised("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralised("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralised("-2+3"), "'-2+3");
        assert_eq!(neutralised("Zoë Lefèvre"), "Zoë Lefèvre");
        let text = String::from_utf8(rows(&[], true)).unwrap();
        assert_eq!(text, "Name,Email,Role,State,Created,ID,update_time\n");
    }
}
