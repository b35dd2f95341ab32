fn main() {
    leptos::mount::mount_to_body(|| leptos::view! { <keydesk::App pages=keydesk::ADMIN_PAGES /> });
}
