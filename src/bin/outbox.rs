//! The Outbox (embedded demo directory only), served at `/outbox` from `outbox.html`: the admin's
//! navigation and the emails Keydesk sent, without the rest of the admin's page.

fn main() {
    leptos::mount::mount_to_body(keydesk::OutboxApp);
}
