//! Repeated refusals recorded once a minute, with a count. Whoever sends 20,000 requests with a
//! wrong proxy secret or random recovery tokens gets one record per address and reason per
//! minute, not 20,000 records: the first refusal is written at once, the rest of its minute as
//! one record that says how many there were.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use keydesk_api::AuditAction;

use super::Entry;

/// How long one record stands for repeated refusals.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Sources followed one by one; beyond this, refusals from new sources are counted together.
const MAX_SOURCES: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    client_address: String,
    action: AuditAction,
    reason: String,
}

struct Window {
    opened: Instant,
    /// The first refusal of the window, already recorded.
    first: Entry,
    /// How many more came after it.
    more: u32,
}

#[derive(Default)]
pub struct Refusals {
    windows: Mutex<HashMap<Key, Window>>,
}

impl Refusals {
    /// The records to write for this refusal now: itself if it is the first of its kind this
    /// minute (after the summary of the previous minute's, if there were more), else nothing.
    pub fn refuse(&self, entry: Entry, now: Instant) -> Vec<Entry> {
        let mut windows = self.windows.lock().expect("not poisoned");
        let mut key = Key {
            client_address: entry.client_address.clone(),
            action: entry.action,
            reason: entry.reason.clone(),
        };
        if windows.len() >= MAX_SOURCES && !windows.contains_key(&key) {
            key.client_address = "(many addresses)".into();
        }
        let mut to_write = Vec::new();
        match windows.get_mut(&key) {
            Some(window) if now.duration_since(window.opened) < WINDOW => {
                window.more += 1;
                return to_write;
            }
            Some(window) => to_write.extend(summary(window)),
            None => {}
        }
        let mut first = entry;
        first.client_address = key.client_address.clone();
        windows.insert(
            key,
            Window {
                opened: now,
                first: first.clone(),
                more: 0,
            },
        );
        to_write.push(first);
        to_write
    }

    /// The summaries of every window that has closed by `now` (all of them with `None`, when the
    /// server stops), forgetting those windows.
    pub fn close(&self, now: Option<Instant>) -> Vec<Entry> {
        let mut windows = self.windows.lock().expect("not poisoned");
        let mut to_write = Vec::new();
        windows.retain(|_, window| {
            let closed = now.is_none_or(|now| now.duration_since(window.opened) >= WINDOW);
            if closed {
                to_write.extend(summary(window));
            }
            !closed
        });
        to_write
    }
}

/// The record of the refusals after a window's first, if there were any.
fn summary(window: &Window) -> Option<Entry> {
    (window.more > 0).then(|| Entry {
        count: window.more,
        reason: format!(
            "{} ({} more like this within a minute of the first)",
            window.first.reason, window.more
        ),
        ..window.first.clone()
    })
}

#[cfg(test)]
mod tests {
    use keydesk_api::AuditOutcome;

    use super::*;

    fn refusal(address: &str) -> Entry {
        Entry {
            actor_email: "unverified: mallory@example.com".into(),
            actor_groups: Vec::new(),
            action: AuditAction::SignIn,
            targets: Vec::new(),
            outcome: AuditOutcome::Denied,
            reason: "You are not signed in: the SSO proxy's shared secret is missing or wrong."
                .into(),
            request_id: "r".into(),
            client_address: address.into(),
            count: 1,
            settles: None,
            note: Default::default(),
        }
    }

    #[test]
    fn one_record_per_address_and_reason_per_minute_with_a_count() {
        let refusals = Refusals::default();
        let start = Instant::now();
        assert_eq!(refusals.refuse(refusal("10.0.0.1"), start).len(), 1);
        for n in 1..=999 {
            let at = start + Duration::from_millis(n * 50);
            assert!(refusals.refuse(refusal("10.0.0.1"), at).is_empty());
        }
        // Another address is another source.
        assert_eq!(refusals.refuse(refusal("10.0.0.2"), start).len(), 1);
        assert!(
            refusals
                .close(Some(start + Duration::from_secs(30)))
                .is_empty()
        );
        let summaries = refusals.close(Some(start + WINDOW));
        assert_eq!(summaries.len(), 1, "10.0.0.2 had no more after its first");
        assert_eq!(summaries[0].count, 999);
        assert_eq!(summaries[0].client_address, "10.0.0.1");
        assert!(
            summaries[0]
                .reason
                .ends_with("(999 more like this within a minute of the first)")
        );
    }

    #[test]
    fn a_refusal_after_the_minute_writes_the_summary_and_itself() {
        let refusals = Refusals::default();
        let start = Instant::now();
        refusals.refuse(refusal("10.0.0.1"), start);
        refusals.refuse(refusal("10.0.0.1"), start + Duration::from_secs(1));
        let written = refusals.refuse(refusal("10.0.0.1"), start + Duration::from_secs(61));
        assert_eq!(written.iter().map(|e| e.count).collect::<Vec<_>>(), [1, 1]);
        assert!(written[0].reason.contains("1 more like this"));
        assert!(refusals.close(None).is_empty());
    }
}
