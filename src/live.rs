//! Live updates (`GET /api/events`): what other admins change shows here within a second,
//! without a reload. The browser's `EventSource` keeps the stream open and reconnects by itself,
//! sending the last event's ID; after a restart the server answers `reset`, and everything shown
//! is read again.

use keydesk_api::User;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{EventSource, MessageEvent};

/// What the stream brought, for the views to follow. Provided as context by the admin's app.
#[derive(Clone, Copy)]
pub struct Live {
    /// The last person an event brought, as they now are.
    pub user: RwSignal<Option<User>>,
    /// Moves at every event: views that show lists read them again.
    pub changed: RwSignal<u32>,
    /// Moves when the server cannot say what changed (it restarted): read everything again.
    pub reset: RwSignal<u32>,
    /// Moves when what can be done changed (see [`crate::readiness`]).
    pub config: RwSignal<u32>,
}

impl Live {
    /// Open the stream for as long as the page lives.
    pub fn connect() -> Live {
        let live = Live {
            user: RwSignal::new(None),
            changed: RwSignal::new(0),
            reset: RwSignal::new(0),
            config: RwSignal::new(0),
        };
        open(live);
        live
    }

    /// Run `follow` after every event from now on (not for what is shown already).
    pub fn follow(self, follow: impl Fn() + 'static) {
        Effect::watch(move || self.changed.get(), move |_, _, _| follow(), false);
    }

    /// Run `follow` with each person an event brings.
    pub fn follow_users(self, follow: impl Fn(User) + 'static) {
        Effect::watch(
            move || self.user.get(),
            move |user, _, _| {
                if let Some(user) = user {
                    follow(user.clone());
                }
            },
            false,
        );
    }
}

fn open(live: Live) {
    let Ok(source) = EventSource::new("/api/events") else {
        return;
    };
    let on_user = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
        let user = event
            .data()
            .as_string()
            .and_then(|text| crate::json::from_str::<User>(&text));
        if let Some(user) = user {
            live.user.set(Some(user));
        }
        live.changed.update(|n| *n += 1);
    });
    let on_scheduled =
        Closure::<dyn Fn(MessageEvent)>::new(move |_| live.changed.update(|n| *n += 1));
    // A gap the server cannot fill: read everything again, what can be done included.
    let on_reset = Closure::<dyn Fn(MessageEvent)>::new(move |_| {
        live.reset.update(|n| *n += 1);
        live.config.update(|n| *n += 1);
        live.changed.update(|n| *n += 1);
    });
    // `config`, and the stream's first event (`hello`): what can be done may have changed
    // between the page reading the configuration and the stream opening.
    let on_config = Closure::<dyn Fn(MessageEvent)>::new(move |_| live.config.update(|n| *n += 1));
    for (kind, listener) in [
        ("user", &on_user),
        ("scheduled", &on_scheduled),
        ("reset", &on_reset),
        ("config", &on_config),
        ("hello", &on_config),
    ] {
        let _ = source.add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
    }
    // The browser reconnects by itself after a dropped connection; an answer that is not a
    // stream (a proxy's error page while Keydesk restarts) closes it for good, so open anew.
    let reopen = Closure::<dyn Fn()>::new({
        let source = source.clone();
        move || {
            if source.ready_state() == EventSource::CLOSED {
                set_timeout(move || open(live), std::time::Duration::from_secs(3));
            }
        }
    });
    source.set_onerror(Some(reopen.as_ref().unchecked_ref()));
    // The stream lives as long as the page.
    on_user.forget();
    on_scheduled.forget();
    on_reset.forget();
    on_config.forget();
    reopen.forget();
}
