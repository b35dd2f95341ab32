//! Keydesk's page: a Leptos client-side app.
//!
//! Layout: [`App`] connects to the server and sets up the router; [`routes`] holds the pages;
//! [`components`] the pieces they share; [`api`] every request the page makes.

pub mod api;
pub mod components;
pub mod routes;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    components::{Route, Router, Routes},
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

    view! {
        <header class="top">
            <a class="brand" href="/">"Keydesk"</a>
            <span class="tagline">"1Password users, for the helpdesk"</span>
        </header>
        <main id="main">
            {move || match connection.get() {
                Connection::Connecting => {
                    view! { <p class="panel" role="status">"Connecting to Keydesk…"</p> }.into_any()
                }
                Connection::Failed(err) => {
                    view! {
                        <div class="panel error-panel" role="alert">
                            <h1>"Keydesk cannot start"</h1>
                            <p>{err.to_string()}</p>
                            <button type="button" on:click=move |_| connect()>"Try again"</button>
                        </div>
                    }
                        .into_any()
                }
                Connection::Ready(client) => {
                    provide_context(client);
                    view! {
                        <Router>
                            <Routes fallback=routes::NotFound>
                                <Route path=path!("/") view=routes::UsersPage />
                                <Route path=path!("/users") view=routes::UsersPage />
                            </Routes>
                        </Router>
                    }
                        .into_any()
                }
            }}
        </main>
    }
}
