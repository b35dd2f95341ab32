//! Keydesk's page: a Leptos client-side app.
//!
//! Layout: [`App`] connects to the server and sets up the router; [`routes`] holds the pages;
//! [`components`] the pieces they share; [`api`] every request the page makes.

pub mod api;
pub mod components;
pub mod routes;

use keydesk_api::StateCounts;
use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    components::{Route, Router, Routes},
    hooks::use_location,
    path,
};

use crate::api::{ApiFailure, Client};

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

    move || match connection.get() {
        Connection::Connecting => view! {
            <main id="main"><p class="panel" role="status">"Connecting to Keydesk…"</p></main>
        }
        .into_any(),
        Connection::Failed(err) => view! {
            <main id="main">
                <div class="panel error-panel" role="alert">
                    <h1>"Keydesk cannot start"</h1>
                    <p>{err.to_string()}</p>
                    <button type="button" on:click=move |_| connect()>"Try again"</button>
                </div>
            </main>
        }
        .into_any(),
        Connection::Ready(client) => {
            provide_context(Counts::new(client.clone()));
            provide_context(client);
            view! {
                <Router>
                    <TopBar />
                    <main id="main">
                        <Routes fallback=routes::NotFound>
                            <Route path=path!("/") view=routes::UsersPage />
                            <Route path=path!("/users") view=routes::UsersPage />
                            <Route path=path!("/outbox") view=routes::OutboxPage />
                            <Route path=path!("/recover") view=routes::RecoverPage />
                        </Routes>
                    </main>
                </Router>
            }
            .into_any()
        }
    }
}

/// The header, with the admin navigation everywhere but on the person's recovery page.
#[component]
fn TopBar() -> impl IntoView {
    let client = expect_context::<Client>();
    let counts = expect_context::<Counts>();
    let location = use_location();
    let admin = move || location.pathname.get() != "/recover";
    let awaiting = move || {
        counts
            .counts
            .read()
            .as_ref()
            .map(|c| c.of("RECOVERY_ACCEPTED"))
            .unwrap_or(0)
    };
    let embedded = client.directory == "embedded";
    view! {
        <header class="top">
            <a class="brand" href="/">"Keydesk"</a>
            <Show when=admin fallback=|| view! { <span class="tagline">"Account recovery"</span> }>
                <nav aria-label="Keydesk">
                    <a href="/">"Users"</a>
                    <a href="/?state=RECOVERY_ACCEPTED">
                        "Awaiting completion "
                        <span class="count" aria-label=move || format!("{} people", awaiting())>
                            {awaiting}
                        </span>
                    </a>
                    {embedded.then(|| view! { <a href="/outbox">"Outbox"</a> })}
                </nav>
            </Show>
        </header>
    }
}
