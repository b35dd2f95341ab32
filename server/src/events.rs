//! Live updates: every change, as it happens, to every open page (`GET /api/events`, server-sent
//! events), so that one admin's change shows on every other admin's page within a second.
//!
//! Events carry what changed (a person as they now are) rather than an instruction to reload.
//! Each has an ID made of this process's start and a sequence number, and the last
//! [`KEPT`] are kept: a page that reconnects with `Last-Event-ID` gets what it missed, or, when
//! that cannot be known (Keydesk restarted, or it missed too many), a `reset` event that tells it
//! to read again everything it shows.

use std::{collections::VecDeque, convert::Infallible, sync::Mutex, time::Duration};

use axum::response::sse;
use futures_util::{Stream, StreamExt as _, stream};
use keydesk_api::User;
use tokio::sync::{broadcast, watch};

/// How many past events a reconnecting page can be given.
const KEPT: usize = 1000;

#[derive(Clone, Debug)]
struct Event {
    seq: u64,
    kind: &'static str,
    data: String,
}

pub struct Events {
    /// This process's start, so that an ID from before a restart is recognised as such.
    boot: String,
    sender: broadcast::Sender<Event>,
    /// The next sequence number, and the last events sent.
    recent: Mutex<(u64, VecDeque<Event>)>,
    /// Set when Keydesk stops: every stream ends, so nothing holds the shutdown up.
    closing: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            boot: format!("{:x}", rand::random::<u32>()),
            sender: broadcast::channel(KEPT).0,
            recent: Mutex::new((1, VecDeque::with_capacity(KEPT))),
            closing: watch::channel(false).0,
        }
    }
}

impl Events {
    /// A person changed: here they are as they now are.
    pub fn user(&self, user: &User) {
        self.publish(
            "user",
            serde_json::to_string(user).expect("a user serialises"),
        );
    }

    /// The scheduled changes changed (one was added, cancelled or made).
    pub fn scheduled(&self) {
        self.publish("scheduled", "{}".to_owned());
    }

    /// What can be done changed (upstream: recovery became available or not, 1Password refused
    /// the Users API): pages read `/api/config` again.
    pub fn config(&self) {
        self.publish("config", "{}".to_owned());
    }

    fn publish(&self, kind: &'static str, data: String) {
        let mut recent = self.recent.lock().expect("not poisoned");
        let event = Event {
            seq: recent.0,
            kind,
            data,
        };
        recent.0 += 1;
        if recent.1.len() == KEPT {
            recent.1.pop_front();
        }
        recent.1.push_back(event.clone());
        // Sent under the lock, so that every stream sees events in sequence order. Nobody
        // listening is not an error.
        let _ = self.sender.send(event);
    }

    /// End every stream: Keydesk is stopping.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn id(&self, seq: u64) -> String {
        format!("{}.{seq}", self.boot)
    }

    /// The stream for a page that last saw `last_event_id`, if any: what it missed first (or a
    /// `reset`), then every event as it happens, with a comment every 15 s to keep proxies from
    /// closing it.
    pub fn stream(
        &self,
        last_event_id: Option<&str>,
    ) -> impl Stream<Item = Result<sse::Event, Infallible>> + use<> {
        let (receiver, missed) = {
            let recent = self.recent.lock().expect("not poisoned");
            let receiver = self.sender.subscribe();
            let missed = last_event_id.map(|last| {
                let seen = last
                    .split_once('.')
                    .filter(|(boot, _)| *boot == self.boot)
                    .and_then(|(_, seq)| seq.parse::<u64>().ok());
                let oldest = recent.1.front().map_or(recent.0, |e| e.seq);
                match seen {
                    Some(seen) if seen + 1 >= oldest && seen < recent.0 => Some(
                        recent
                            .1
                            .iter()
                            .filter(|e| e.seq > seen)
                            .cloned()
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                }
            });
            (receiver, missed)
        };
        let boot = self.boot.clone();
        let to_sse = move |event: Event| {
            sse::Event::default()
                .id(format!("{boot}.{}", event.seq))
                .event(event.kind)
                .data(event.data)
        };
        let reset = sse::Event::default().event("reset").data("{}");
        // The first event sets how soon the browser reconnects after Keydesk restarts.
        let hello = sse::Event::default()
            .event("hello")
            .data("{}")
            .retry(Duration::from_millis(500))
            .id(self.id(self.recent.lock().expect("not poisoned").0 - 1));
        let mut first = vec![hello];
        match missed {
            Some(Some(events)) => first.extend(events.into_iter().map(&to_sse)),
            Some(None) => first.push(reset.clone()),
            None => {}
        }
        let closing = self.closing.subscribe();
        let live = stream::unfold((receiver, closing), move |(mut receiver, mut closing)| {
            let (to_sse, reset) = (to_sse.clone(), reset.clone());
            async move {
                if *closing.borrow() {
                    return None;
                }
                let event = tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) => to_sse(event),
                        Err(broadcast::error::RecvError::Lagged(_)) => reset,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = closing.changed() => return None,
                };
                Some((event, (receiver, closing)))
            }
        });
        // Counted open for as long as the stream lives, whoever ends it.
        let open = crate::metrics::StreamOpen::count();
        stream::iter(first)
            .chain(live)
            .map(move |event| {
                let _counted = &open;
                Ok(event)
            })
            .fuse()
    }
}
