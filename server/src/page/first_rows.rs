//! The users list's first rows, written into the page as static HTML for a signed-in person, so
//! that they show while the app is still downloading and starting (on a large directory that is
//! most of the time to the first row). The app removes them (`#boot`) once it shows its own list;
//! until then the stylesheet keeps the app, mounted beside them, out of sight.
//!
//! Nothing here may cost the page: whatever goes wrong (nobody signed in, a view the API would
//! refuse, a slow directory, a page without `<body>`), the page goes out as built.

use std::{fmt::Write as _, time::Duration};

use axum::{
    extract::{Query, Request},
    http::Uri,
};
use keydesk_api::{
    ListUsersParams, OrderBy, OrderField, Permission, SortDirection, USERS_PAGE_ROWS, User,
    UserState,
};

use crate::{
    AppState,
    auth::{oauth, peer},
    directory::ListQuery,
};

/// How long the rows may hold the page back; past this it goes without them.
const WAIT: Duration = Duration::from_millis(300);

/// The addresses where the page shows the users list (src/lib.rs `Page::at`).
pub fn is_users_list(path: &str) -> bool {
    matches!(path, "/" | "/users" | "/users/")
}

/// The list the page's address asks for, read as the page reads it (src/routes/users.rs
/// `ViewQuery`): the first `q`, `state` and `order_by`, and an order it cannot read is the default.
pub struct View {
    q: String,
    state: String,
    order: OrderBy,
}

impl View {
    fn from_uri(uri: &Uri) -> Self {
        let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|Query(pairs)| pairs)
            .unwrap_or_default();
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        View {
            q: first("q"),
            state: first("state"),
            order: first("order_by").parse().unwrap_or_default(),
        }
    }

    /// The request the page makes for its first page of this view.
    fn list_params(&self) -> ListUsersParams {
        let non_empty = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        ListUsersParams {
            max_page_size: Some(USERS_PAGE_ROWS.to_string()),
            q: non_empty(&self.q),
            state: non_empty(&self.state),
            order_by: Some(self.order.to_string()),
            ..ListUsersParams::default()
        }
    }
}

/// The list a request for the page asks for, when a person is signed in who may read users and
/// the API would answer the view; `None` for the page as built.
pub fn requested_list(state: &AppState, request: &Request) -> Option<(View, ListQuery)> {
    // A browser opening the page sends no bearer token: whatever does is not a person.
    if oauth::bearer(request.headers()).is_some() {
        return None;
    }
    // The same check as the API's; a refusal is not audited here, as the page's own first call
    // to the API will be.
    let session = state.auth.identify(peer(request), request.headers()).ok()?;
    if !session.may(Permission::ReadUsers) {
        return None;
    }
    let view = View::from_uri(request.uri());
    let query = ListQuery::from_params(view.list_params()).ok()?;
    Some((view, query))
}

/// The built `index.html` with the first rows of that list in it; `None` when the list is empty
/// or anything fails.
pub async fn page_with_rows(state: &AppState, (view, query): (View, ListQuery)) -> Option<String> {
    let page = tokio::time::timeout(WAIT, state.directory.list_users(query))
        .await
        .ok()?
        .ok()?;
    if page.results.is_empty() {
        return None;
    }
    let html = tokio::fs::read_to_string(state.dist.join("index.html"))
        .await
        .ok()?;
    let body = html.find("<body")?;
    let open_end = body + html[body..].find('>')? + 1;
    let mut page_html = String::with_capacity(html.len() + page.results.len() * 600);
    page_html.push_str(&html[..open_end]);
    write_boot(&mut page_html, &view, &page.results);
    page_html.push_str(&html[open_end..]);
    Some(page_html)
}

/// Text for HTML, in an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `2024-03-01` of `2024-03-01T09:30:00Z`, as the page shows dates.
fn day(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

/// `<div id="boot">`: the header, the heading and the table as the app draws them (its classes,
/// its sort marks), without the controls, which only work once the app runs.
fn write_boot(html: &mut String, view: &View, users: &[User]) {
    let heading = if view.state == "RECOVERY_ACCEPTED" {
        "Recoveries awaiting completion"
    } else {
        "Users"
    };
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<div id=\"boot\"><header class=\"top\"><a class=\"brand\" href=\"/\">Keydesk</a>\
         <nav aria-label=\"Keydesk\"><a href=\"/\">Users</a></nav></header>\
         <main><section class=\"users-page\"><h1>{heading}</h1>\
         <div class=\"table-scroll\"><table class=\"users\">\
         <caption class=\"visually-hidden\">Users, with their state</caption><thead><tr>\
         <th scope=\"col\" class=\"select\"></th>"
    );
    for (label, field) in [
        ("Name", Some(OrderField::DisplayName)),
        ("Email", Some(OrderField::Email)),
        ("State", Some(OrderField::State)),
        ("Type", None),
        ("Created", Some(OrderField::CreateTime)),
    ] {
        let Some(field) = field else {
            let _ = write!(html, "<th scope=\"col\">{label}</th>");
            continue;
        };
        let (sort, mark) = match (view.order.field == field, view.order.direction) {
            (false, _) => ("none", ""),
            (true, SortDirection::Asc) => ("ascending", "▲"),
            (true, SortDirection::Desc) => ("descending", "▼"),
        };
        let _ = write!(
            html,
            "<th scope=\"col\" aria-sort=\"{sort}\">{label}\
             <span class=\"sort-mark\" aria-hidden=\"true\">{mark}</span></th>"
        );
    }
    html.push_str(
        "<th scope=\"col\"><span class=\"visually-hidden\">Actions</span></th></tr></thead><tbody>",
    );
    for user in users {
        write_row(html, user);
    }
    html.push_str("</tbody></table></div></section></main></div>");
}

fn write_row(html: &mut String, user: &User) {
    let id = escape(user.id.as_str());
    let since = user
        .recovery_started_time
        .as_deref()
        .filter(|_| user.state == UserState::RecoveryStarted)
        .map(|time| {
            format!(
                "<small class=\"since\">since <time datetime=\"{}\">{}</time></small>",
                escape(time),
                escape(day(time))
            )
        })
        .unwrap_or_default();
    let _ = write!(
        html,
        "<tr data-user-id=\"{id}\"><td class=\"select\"></td>\
         <td class=\"name\"><a href=\"/users/{id}\">{name}</a></td>\
         <td class=\"email\">{email}</td>\
         <td><span class=\"badge badge-{tone}\" data-state=\"{state}\">{label}</span>{since}</td>\
         <td>{user_type}</td>\
         <td><time datetime=\"{created}\">{created_day}</time></td><td class=\"actions\"></td></tr>",
        name = escape(&user.display_name),
        email = escape(&user.email),
        tone = user.state.tone(),
        state = escape(user.state.as_str()),
        label = escape(user.state.label()),
        user_type = escape(user.user_type.as_ref().map_or("—", |t| t.label())),
        created = escape(&user.create_time),
        created_day = escape(day(&user.create_time)),
    );
}

#[cfg(test)]
mod tests {
    use super::{View, escape};
    use axum::http::Uri;
    use keydesk_api::{OrderBy, OrderField, SortDirection};

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            escape(r#"<img src=x onerror="a('b')">&"#),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn reads_the_view_as_the_page_does() {
        let view = View::from_uri(&uri(
            "/?q=zo%C3%AB+l&state=ACTIVE&q=other&order_by=nonsense",
        ));
        assert_eq!(view.q, "zoë l");
        assert_eq!(view.state, "ACTIVE");
        assert_eq!(view.order, OrderBy::default());
        let view = View::from_uri(&uri("/users?order_by=email%20desc"));
        assert_eq!(
            view.order,
            OrderBy {
                field: OrderField::Email,
                direction: SortDirection::Desc
            }
        );
    }
}
