//! The page's views, one module each.

mod users;

pub use users::{PendingChange, UserRow, UsersPage};

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <div class="panel">
            <h1>"Nothing here"</h1>
            <p>"This address is not a Keydesk page. " <a href="/">"Go to the users list"</a></p>
        </div>
    }
}
