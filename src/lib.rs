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
pub mod json;
pub mod live;
pub mod location;
pub mod readiness;
pub mod routes;
pub mod time;

use keydesk_api::{DirectoryKind, Permission, StateCounts, UserState};
use leptos::{prelude::*, task::spawn_local};
use wasm_bindgen::JsCast;

use crate::{
    api::{ApiFailure, Client},
    location::Location,
};

/// The page an address shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Page {
    Users,
    User(String),
    Audit,
    Scheduled,
    Outbox,
    NotFound,
}

impl Page {
    /// Shown by the record pages' program (`src/bin/records.rs`), not the everyday one.
    fn is_record(&self) -> bool {
        matches!(self, Page::Audit | Page::Scheduled | Page::Outbox)
    }

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
            ["scheduled"] => Page::Scheduled,
            ["outbox"] => Page::Outbox,
            _ => Page::NotFound,
        }
    }
}

/// Where the page stands before it can show anything. (One of it exists: its size is no cost.)
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
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

/// The pages one program shows. The admin's pages are two programs: the records (the audit
/// trail, the scheduled changes, the embedded demo's Outbox) are their own (`src/bin/records.rs`),
/// so that the everyday page stays small. Moving to a page another program shows loads that
/// program.
#[derive(Clone, Copy)]
pub struct Pages {
    pub shows: fn(&Page) -> bool,
    pub view: fn(Page) -> AnyView,
}

/// The admin's everyday pages (`src/main.rs`): the list and each person.
pub const ADMIN_PAGES: Pages = Pages {
    shows: |page| !page.is_record(),
    view: |page| match page {
        Page::Users => view! { <routes::UsersPage /> }.into_any(),
        Page::User(id) => view! { <routes::UserPage id /> }.into_any(),
        _ => view! { <routes::NotFound /> }.into_any(),
    },
};

/// The record pages' program (`src/bin/records.rs`).
pub const RECORD_PAGES: Pages = Pages {
    shows: Page::is_record,
    view: |page| match page {
        Page::Audit => view! { <routes::AuditPage /> }.into_any(),
        Page::Scheduled => view! { <routes::ScheduledPage /> }.into_any(),
        _ => view! { <routes::OutboxPage /> }.into_any(),
    },
};

/// The admin's page (`src/main.rs`).
#[component]
pub fn AdminApp() -> impl IntoView {
    view! { <App pages=ADMIN_PAGES /> }
}

/// The audit trail, the scheduled changes and the Outbox (`src/bin/records.rs`).
#[component]
pub fn RecordsApp() -> impl IntoView {
    view! { <App pages=RECORD_PAGES /> }
}

/// The admin's page: connects, then shows `pages` under the navigation.
#[component]
pub fn App(pages: Pages) -> impl IntoView {
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
            let live = live::Live::connect();
            provide_context(live);
            let counts = Counts::new(client.clone());
            live.follow(move || counts.refresh.run(()));
            provide_context(counts);
            provide_context(readiness::Readiness::follow(&client, live));
            provide_context(client.session.clone());
            if client.directory == DirectoryKind::Upstream {
                provide_context(components::users_table::Upstream);
            }
            provide_context(client);
            let location = Location::provide();
            let page = Memo::new(move |_| Page::at(&location.path.read()));
            Effect::watch(
                move || page.get(),
                move |page, _, _| {
                    if !(pages.shows)(page) {
                        // Another program's page (the address is already its own).
                        let _ = window().location().reload();
                    } else if *page != Page::Users {
                        focus_heading();
                    }
                },
                // From the first page on: a record page is often reached from another
                // program's navigation, which loads this one.
                true,
            );
            view! {
                <TopBar />
                <main id="main">
                    {move || {
                        let page = page.get();
                        if (pages.shows)(&page) {
                            (pages.view)(page)
                        } else {
                            view! { <p class="panel" role="status">"Opening…"</p> }.into_any()
                        }
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
    // One line (the stylesheet cuts it short on a narrow screen; the whole text is its tooltip).
    let banner = session.development.then(|| {
        let text = format!(
            "Development sign-in: you are acting as {} ({roles}). Keydesk allows this only on this \
             machine; behind your SSO proxy it uses your real sign-in.",
            session.email
        );
        let title = text.clone();
        view! { <div class="dev-banner" role="note" title=title>{text}</div> }
    });
    // The navigation marks where the admin is (set on the links directly: a reactive attribute
    // on each link cost a kilobyte of download). On a phone it folds into a menu, opened by a
    // checkbox in CSS alone.
    let location = crate::location::use_location();
    let nav = NodeRef::<leptos::html::Nav>::new();
    Effect::new(move |_| {
        let path = location.path.get();
        let awaiting = location.query.read().get_str("state") == Some("RECOVERY_ACCEPTED");
        let here = match path.as_str() {
            "/" | "/users" if awaiting => "/?state=RECOVERY_ACCEPTED",
            "/users" => "/",
            other => other,
        }
        .to_owned();
        let Some(nav) = nav.get() else { return };
        let links = nav.get_elements_by_tag_name("a");
        for index in 0..links.length() {
            let Some(link) = links.item(index) else {
                continue;
            };
            let _ = if link.get_attribute("href").as_deref() == Some(&here) {
                link.set_attribute("aria-current", "page")
            } else {
                link.remove_attribute("aria-current")
            };
        }
    });
    view! {
        {banner}
        <header class="top">
            <a class="brand" href="/">"Keydesk"</a>
            <input type="checkbox" id="nav-toggle" class="nav-toggle" aria-controls="nav" />
            <label for="nav-toggle" class="nav-toggle-label">"Menu"</label>
            <div class="nav" id="nav">
                <nav aria-label="Keydesk" node_ref=nav>
                    <a href="/">"Users"</a>
                    <a href="/?state=RECOVERY_ACCEPTED">
                        "Awaiting completion "
                        <span class="count" aria-label=move || format!("{} people", awaiting())>
                            {awaiting}
                        </span>
                    </a>
                    <a href="/scheduled">"Scheduled"</a>
                    {audit.then(|| view! { <a href="/audit">"Audit"</a> })}
                    {outbox.then(|| view! { <a href="/outbox">"Outbox"</a> })}
                </nav>
                <span class="signed-in" title=format!("Roles: {roles}")>{session.email.clone()}</span>
            </div>
        </header>
    }
}

/// After moving to another page, focus goes to its heading, so that a screen reader says where
/// the admin now is and Tab starts from the page. (The users list focuses its search box.)
fn focus_heading() {
    request_animation_frame(|| {
        let document = document();
        let target = document
            .query_selector("main h1")
            .ok()
            .flatten()
            .or_else(|| document.get_element_by_id("main"));
        if let Some(target) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = target.set_attribute("tabindex", "-1");
            let _ = target.focus();
        }
    });
}
