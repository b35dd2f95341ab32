//! Keydesk's page: a Leptos client-side app.
//!
//! Layout: [`App`] connects to the server and picks the page for the address; [`routes`] holds
//! the pages; [`components`] the pieces they share; [`api`] every request the page makes;
//! [`location`] the address as signals, and links followed without reloading.

// Leptos' view types nest deeply; with the `ssr` feature (the server's rendering of the users
// table) the compiler needs more room to lay them out.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod location;
pub mod routes;

use keydesk_api::{DirectoryKind, Permission, StateCounts, UserState};
use leptos::{prelude::*, task::spawn_local};

use crate::{
    api::{ApiFailure, Client},
    location::Location,
};

/// The page an address shows.
#[derive(Clone, Debug, PartialEq)]
enum Page {
    Users,
    User(String),
    Audit,
    Outbox,
    NotFound,
}

impl Page {
    fn at(path: &str) -> Self {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments[..] {
            [] | ["users"] => Page::Users,
            ["users", id] => Page::User(
                js_sys::decode_uri_component(id)
                    .ok()
                    .and_then(|id| id.as_string())
                    .unwrap_or_else(|| id.to_owned()),
            ),
            ["audit"] => Page::Audit,
            ["outbox"] => Page::Outbox,
            _ => Page::NotFound,
        }
    }
}

/// Where the page stands before it can show anything.
#[derive(Clone, Debug, PartialEq)]
enum Connection {
    Connecting,
    Ready(Client),
    Failed(ApiFailure),
}

/// How many people are in each state, for the navigation; refreshed after every change.
#[derive(Clone, Copy)]
pub struct Counts {
    pub counts: RwSignal<Option<StateCounts>>,
    pub refresh: Callback<()>,
}

impl Counts {
    fn new(client: Client) -> Self {
        let counts = RwSignal::new(None);
        let refresh = Callback::new(move |()| {
            let client = client.clone();
            spawn_local(async move {
                if let Ok(fresh) = client.state_counts().await {
                    counts.set(Some(fresh));
                }
            });
        });
        refresh.run(());
        Counts { counts, refresh }
    }
}

/// The server writes the list's first rows into the page it sends (`#boot`, static HTML) so they
/// show before the app has started; the stylesheet hides the app while they are there. Removed
/// once the app shows its own list, or anything else instead.
pub fn remove_boot_rows() {
    if let Some(boot) = document().get_element_by_id("boot") {
        boot.remove();
    }
}

/// The person's recovery page (`/recover`, `src/bin/recover.rs`): opened from an email, it needs
/// no Keydesk sign-in and never shows the admin's navigation. It is its own small program, so
/// neither page carries the other's code.
#[component]
pub fn RecoveryApp() -> impl IntoView {
    view! {
        <header class="top">
            <span class="brand">"Keydesk"</span>
            <span class="tagline">"Account recovery"</span>
        </header>
        <main id="main"><routes::RecoverPage /></main>
    }
}

/// The admin's page (`src/main.rs`).
#[component]
pub fn App() -> impl IntoView {
    let connection = RwSignal::new(Connection::Connecting);
    let connect = move || {
        connection.set(Connection::Connecting);
        spawn_local(async move {
            connection.set(match Client::connect().await {
                Ok(client) => Connection::Ready(client),
                Err(err) => Connection::Failed(err),
            });
        });
    };
    connect();

    (move || match connection.get() {
        Connection::Connecting => view! {
            <main id="main"><p class="panel" role="status">"Connecting to Keydesk…"</p></main>
        }
        .into_any(),
        Connection::Failed(err) => {
            remove_boot_rows();
            let title = match err.code() {
                Some(401) => "You are not signed in",
                Some(403) => "You have no access to Keydesk",
                _ => "Keydesk cannot start",
            };
            let hint = match err.code() {
                Some(401) => "Open Keydesk through your company's sign-in page. If you did, your sign-in may have expired: reload the page.",
                Some(403) => "Ask the team that runs Keydesk to add you to a group with access.",
                _ => "",
            };
            view! {
                <main id="main">
                    <div class="panel error-panel" role="alert">
                        <h1>{title}</h1>
                        <p>{err.to_string()}</p>
                        <p>{hint}</p>
                        <button type="button" on:click=move |_| connect()>"Try again"</button>
                    </div>
                </main>
            }
            .into_any()
        }
        Connection::Ready(client) => {
            provide_context(Counts::new(client.clone()));
            provide_context(client.session.clone());
            if client.directory == DirectoryKind::Upstream {
                provide_context(components::users_table::Upstream {
                    admin_console_url: client.admin_console_url.clone(),
                });
            }
            provide_context(client);
            let location = Location::provide();
            let page = Memo::new(move |_| Page::at(&location.path.read()));
            view! {
                <TopBar />
                <main id="main">
                    {move || match page.get() {
                        Page::Users => view! { <routes::UsersPage /> }.into_any(),
                        Page::User(id) => view! { <routes::UserPage id /> }.into_any(),
                        Page::Audit => view! { <routes::AuditPage /> }.into_any(),
                        Page::Outbox => view! { <routes::OutboxPage /> }.into_any(),
                        Page::NotFound => view! { <routes::NotFound /> }.into_any(),
                    }}
                </main>
            }
            .into_any()
        }
    })
    .into_any()
}

/// The header: navigation, the count of recoveries awaiting completion, and who is signed in.
#[component]
fn TopBar() -> impl IntoView {
    let client = expect_context::<Client>();
    let counts = expect_context::<Counts>();
    let session = client.session.clone();
    let awaiting = move || {
        counts
            .counts
            .read()
            .as_ref()
            .map(|c| c.of(&UserState::RecoveryAccepted))
            .unwrap_or(0)
    };
    let outbox = client.directory == DirectoryKind::Embedded && session.may(Permission::Recover);
    let audit = session.may(Permission::ReadAudit);
    let roles = if session.roles.is_empty() {
        "no role".to_owned()
    } else {
        session.roles.join(", ")
    };
    let banner = session.development.then(|| {
        view! {
            <div class="dev-banner" role="note">
                <strong>"Development sign-in"</strong>
                {format!(
                    ": you are acting as {} ({roles}). Keydesk allows this only on this machine; behind your SSO proxy it uses your real sign-in.",
                    session.email
                )}
            </div>
        }
    });
    view! {
        {banner}
        <header class="top">
            <a class="brand" href="/">"Keydesk"</a>
            <nav aria-label="Keydesk">
                <a href="/">"Users"</a>
                <a href="/?state=RECOVERY_ACCEPTED">
                    "Awaiting completion "
                    <span class="count" aria-label=move || format!("{} people", awaiting())>
                        {awaiting}
                    </span>
                </a>
                {audit.then(|| view! { <a href="/audit">"Audit"</a> })}
                {outbox.then(|| view! { <a href="/outbox">"Outbox"</a> })}
            </nav>
            <span class="signed-in" title=format!("Roles: {roles}")>{session.email.clone()}</span>
        </header>
    }
}
