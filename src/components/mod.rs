//! Reusable pieces of the page.

pub mod confirm_dialog;
pub mod state_badge;
pub mod users_table;

pub use confirm_dialog::ConfirmDialog;
pub use state_badge::StateBadge;
pub use users_table::UsersTable;
