//! The users list's first rows, written into the page as static HTML for a signed-in person, so
//! that they show while the app is still downloading and starting (on a large directory that is
//! most of the time to the first row). The app removes them (`#boot`) once it shows its own list;
//! until then the stylesheet keeps the app, mounted beside them, out of sight.
//!
//! Nothing here may cost the page: whatever goes wrong (nobody signed in, a view the API would
//! refuse, a slow directory, a page without `<body>`), the page goes out as built.

use std::{fmt::Write as _, time::Duration};

use axum::extract::{Query, Request};
use keydesk::components::users_table::users_table_html;
use keydesk_api::{Permission, Session, User, UsersView};

use crate::{AppState, auth::oauth, directory::ListQuery};

/// How long the rows may hold the page back; past this it goes without them.
const WAIT: Duration = Duration::from_millis(300);

/// The addresses where the page shows the users list (src/lib.rs `Page::at`).
pub fn is_users_list(path: &str) -> bool {
    matches!(path, "/" | "/users" | "/users/")
}

/// The list a request for the page asks for, when a person is signed in who may read users and
/// the API would answer the view; `None` for the page as built.
/// What the first rows are: the view, its query, and who asks (their own row is marked).
pub struct RequestedList {
    view: UsersView,
    query: ListQuery,
    session: Session,
}

pub fn requested_list(state: &AppState, request: &Request) -> Option<RequestedList> {
    // A browser opening the page sends no bearer token: whatever does is not a person.
    if oauth::bearer(request.headers()).is_some() {
        return None;
    }
    // The same check as the API's; a refusal is not audited here, as the page's own first call
    // to the API will be.
    let session = state.auth.identify(request).ok()?;
    if !session.may(Permission::ReadUsers) {
        return None;
    }
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    let view = UsersView::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let query = ListQuery::from_params(view.list_params(None)).ok()?;
    Some(RequestedList {
        view,
        query,
        session,
    })
}

/// The built `index.html` with the first rows of that list in it; `None` when the list is empty
/// or anything fails.
pub async fn page_with_rows(state: &AppState, list: RequestedList) -> Option<String> {
    let RequestedList {
        view,
        query,
        session,
    } = list;
    let page = tokio::time::timeout(WAIT, state.directory.list_users(query))
        .await
        .ok()?
        .ok()?;
    if page.results.is_empty() {
        return None;
    }
    let html = String::from_utf8(state.page.read_async("index.html").await?.into_owned()).ok()?;
    let body = html.find("<body")?;
    let open_end = body + html[body..].find('>')? + 1;
    let mut page_html = String::with_capacity(html.len() + page.results.len() * 600);
    page_html.push_str(&html[..open_end]);
    write_boot(&mut page_html, &view, &page.results, session);
    page_html.push_str(&html[open_end..]);
    Some(page_html)
}

/// `<div id="boot">`: the header and the heading, and the table as the app draws it (the page's
/// own component, without its controls, which only work once the app runs).
fn write_boot(html: &mut String, view: &UsersView, users: &[User], session: Session) {
    let table = users_table_html(users.to_vec(), view.order, session);
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<div id=\"boot\"><header class=\"top\"><a class=\"brand\" href=\"/\">Keydesk</a>\
         <nav aria-label=\"Keydesk\"><a href=\"/\">Users</a></nav></header>\
         <main><section class=\"users-page\"><h1>{}</h1><div class=\"table-scroll\">{table}</div>\
         </section></main></div>",
        view.heading()
    );
}

#[cfg(test)]
mod tests {
    use keydesk_api::{OrderBy, User, UserId, UserState};

    use super::write_boot;

    #[test]
    fn the_rows_are_the_pages_own_table_with_every_text_escaped() {
        let user = User {
            id: UserId::parse("U4F2WUGM4IR24AYU7AMXPKZQYG").unwrap(),
            email: "html.injection@example.com".into(),
            display_name: "<img src=x onerror=alert('pwned')>".into(),
            state: UserState::RecoveryStarted,
            create_time: "2020-02-17T02:19:21Z".into(),
            path: String::new(),
            user_type: None,
            role: None,
            update_time: None,
            recovery_started_time: Some("2026-11-26T08:00:00Z".into()),
            recovery_started_by: None,
            two_factor_enabled: None,
            signed_in_devices: None,
        };
        let view = keydesk_api::UsersView {
            order: "create_time desc".parse::<OrderBy>().unwrap(),
            ..Default::default()
        };
        let session = keydesk_api::Session {
            email: "amara.okafor@example.com".into(),
            name: None,
            groups: Vec::new(),
            roles: Vec::new(),
            permissions: Vec::new(),
            development: true,
            recent_tickets: Vec::new(),
        };
        let mut html = String::new();
        write_boot(&mut html, &view, &[user], session);
        assert!(html.starts_with("<div id=\"boot\">"), "{html}");
        assert!(html.contains("class=\"users\""), "{html}");
        assert!(
            html.contains("data-user-id=\"U4F2WUGM4IR24AYU7AMXPKZQYG\""),
            "{html}"
        );
        assert!(html.contains("&lt;img src=x onerror=alert("), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("aria-sort=\"descending\""), "{html}");
        assert!(html.contains("Recovery started"), "{html}");
        assert!(html.contains("2026-11-26"), "{html}");
        // No controls: they would not work before the app runs.
        assert!(
            !html.contains("<button") && !html.contains("<input"),
            "{html}"
        );
    }
}
