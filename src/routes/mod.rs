//! The page's views, one module each, and the change dialog they share.

mod audit;
mod change;
mod changes;
mod outbox;
mod recover;
mod scheduled;
mod search_bar;
mod selection_bar;
mod standing;
mod user;
mod users;
mod why;

pub use audit::{AuditPage, AuditTable};
pub use change::{Change, ChangeSummary, Outcome, begin_recovery_refusal};
pub use changes::ChangeDialog;
pub use outbox::OutboxPage;
pub use recover::RecoverPage;
pub use scheduled::ScheduledPage;
pub use selection_bar::SelectionBar;
pub use user::UserPage;
pub use users::UsersPage;

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
