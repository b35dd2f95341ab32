//! The admin's record pages, served from `records.html`: the audit trail (`/audit`), the
//! scheduled changes (`/scheduled`) and the embedded demo's Outbox (`/outbox`), with the admin's
//! navigation. Their own program, so that the admin's everyday page does not carry them.

fn main() {
    leptos::mount::mount_to_body(keydesk::RecordsApp);
}
