//! What can be done now, as the server last said (`GET /api/config`), and followed live: with a
//! 1Password account, recovery needs `op` signed in, and an account with automated provisioning
//! refuses suspensions. The server tells open pages when either changes (a `config` event), and
//! the page reads the configuration again.

use keydesk_api::Availability;
use leptos::{prelude::*, task::spawn_local};

use crate::{api::Client, live::Live};

#[derive(Clone, Copy)]
pub struct Readiness {
    /// Beginning and resending recovery.
    pub recovery: RwSignal<Availability>,
    /// Suspending and reactivating.
    pub state_changes: RwSignal<Availability>,
}

impl Readiness {
    /// As `client` connected, then as each `config` event says.
    pub fn follow(client: &Client, live: Live) -> Readiness {
        let readiness = Readiness {
            recovery: RwSignal::new(client.recovery.clone()),
            state_changes: RwSignal::new(client.state_changes.clone()),
        };
        let client = client.clone();
        Effect::watch(
            move || live.config.get(),
            move |_, _, _| {
                let client = client.clone();
                spawn_local(async move {
                    if let Ok(config) = client.config().await {
                        readiness.recovery.set(config.recovery);
                        readiness.state_changes.set(config.state_changes);
                    }
                });
            },
            false,
        );
        readiness
    }
}

/// Why beginning recovery, or suspending and reactivating, cannot be done now, in words for the
/// page: "Recovery is unavailable: op is not signed in (…)".
pub fn refusals() -> Vec<String> {
    let Some(readiness) = use_context::<Readiness>() else {
        return Vec::new();
    };
    [
        ("Recovery", readiness.recovery),
        ("Suspending and reactivating", readiness.state_changes),
    ]
    .into_iter()
    .filter_map(|(what, availability)| {
        availability
            .read()
            .refusal()
            .map(|why| format!("{what} is unavailable: {why}"))
    })
    .collect()
}
