//! The person's recovery page, served at `/recover` from `recover.html`.

fn main() {
    leptos::mount::mount_to_body(keydesk::RecoveryApp);
}
