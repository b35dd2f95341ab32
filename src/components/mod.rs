//! Reusable pieces of the page.

pub mod confirm_dialog;
pub mod copy_button;
pub mod directory_status;
pub mod notice;
pub mod row_action;
pub mod row_menu;
pub mod state_badge;
pub mod users_table;
pub mod wording;

pub use confirm_dialog::ConfirmDialog;
pub use copy_button::CopyButton;
pub use notice::Notice;
pub use state_badge::StateBadge;
pub use users_table::UsersTable;
