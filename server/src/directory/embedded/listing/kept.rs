//! Searches kept whole: every match of a recent search, in place order, as of the versions of the
//! table it was found at.
//!
//! Among a million people a common first name has tens of thousands of matches, and putting them
//! in order costs milliseconds: each match's place is a read somewhere in a 4 MB array. A
//! helpdesk asks the same search again and again (the page after each keystroke, the next page,
//! the list refreshed after a change elsewhere, a colleague looking up the same person), and kept,
//! each of those is a binary search. Any write that can move someone or change a text changes a
//! version, and a search kept at older versions is never asked again, so it is dropped.

use std::{
    collections::VecDeque,
    ops::Range,
    sync::{Arc, Mutex},
};

use keydesk_api::OrderField;

/// What makes two searches the same.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub needle: String,
    pub field: OrderField,
    pub states: Vec<Vec<String>>,
    pub places_version: i64,
    pub texts_version: i64,
}

/// One search's matches: place and rowid in one number (place in the high half), ascending.
pub(super) struct Kept {
    key: Key,
    matches: Vec<u64>,
}

impl Kept {
    /// The first `wanted` matches whose places are in `range`, in the order asked for.
    pub fn page(&self, range: Range<usize>, wanted: usize, descending: bool) -> Vec<i64> {
        let first_at = |place: usize| {
            self.matches
                .partition_point(|placed| (placed >> 32) < place as u64)
        };
        let within = &self.matches[first_at(range.start)..first_at(range.end)];
        let rowid = |placed: &u64| (placed & u64::from(u32::MAX)) as i64;
        match descending {
            true => within.iter().rev().take(wanted).map(rowid).collect(),
            false => within.iter().take(wanted).map(rowid).collect(),
        }
    }
}

/// The most recent searches, newest first.
#[derive(Default)]
pub(super) struct KeptSearches {
    searches: Mutex<VecDeque<Arc<Kept>>>,
}

impl KeptSearches {
    /// At most this many searches are kept…
    const SEARCHES: usize = 64;
    /// …holding at most this many matches in all (16 MB).
    const MATCHES: usize = 2_000_000;

    /// The search `key` as kept, or found by `find` (its matches, ascending) and kept.
    pub fn get_or_find(&self, key: Key, find: impl FnOnce() -> Vec<u64>) -> Arc<Kept> {
        let lock = || self.searches.lock().unwrap_or_else(|err| err.into_inner());
        {
            let mut searches = lock();
            if let Some(at) = searches.iter().position(|kept| kept.key == key) {
                let kept = searches.remove(at).expect("a position found");
                searches.push_front(kept.clone());
                return kept;
            }
        }
        // Found without holding the others back; two at once may both find it, which is fine.
        let kept = Arc::new(Kept {
            key,
            matches: find(),
        });
        let mut searches = lock();
        // Versions only grow: a search kept at older ones will never be asked again.
        searches.retain(|old| {
            old.key.places_version >= kept.key.places_version
                && old.key.texts_version >= kept.key.texts_version
        });
        searches.push_front(kept.clone());
        let mut total = 0;
        let keep = searches
            .iter()
            .take(Self::SEARCHES)
            .take_while(|kept| {
                total += kept.matches.len();
                total <= Self::MATCHES
            })
            .count()
            .max(1);
        searches.truncate(keep);
        kept
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn key(needle: &str, places_version: i64) -> Key {
        Key {
            needle: needle.to_owned(),
            field: OrderField::DisplayName,
            states: Vec::new(),
            places_version,
            texts_version: 1,
        }
    }

    /// Rowid 10 + place at each place given.
    fn placed(places: &[u64]) -> Vec<u64> {
        places.iter().map(|&p| (p << 32) | (10 + p)).collect()
    }

    #[test]
    fn the_same_search_is_found_once_and_a_newer_version_drops_the_older() {
        let kept = KeptSearches::default();
        let finds = Cell::new(0);
        let find = || {
            finds.set(finds.get() + 1);
            placed(&[1, 2])
        };
        kept.get_or_find(key("ada", 1), find);
        kept.get_or_find(key("ada", 1), find);
        kept.get_or_find(key("ben", 1), find);
        assert_eq!(finds.get(), 2);
        // A write moved someone: both are found again, and the old ones are gone.
        kept.get_or_find(key("ada", 2), find);
        assert_eq!(finds.get(), 3);
        assert_eq!(kept.searches.lock().unwrap().len(), 1);
    }

    #[test]
    fn no_more_than_the_bound_is_kept_but_always_the_newest() {
        let kept = KeptSearches::default();
        for i in 0..100 {
            kept.get_or_find(key(&format!("q{i}"), 1), || placed(&[1]));
        }
        assert_eq!(kept.searches.lock().unwrap().len(), KeptSearches::SEARCHES);
        let huge = || vec![0; KeptSearches::MATCHES + 1];
        kept.get_or_find(key("everyone", 1), huge);
        let searches = kept.searches.lock().unwrap();
        assert_eq!(searches.len(), 1);
        assert_eq!(searches[0].key.needle, "everyone");
    }

    #[test]
    fn a_page_is_the_matches_within_the_range_in_either_direction() {
        let kept = Kept {
            key: key("ada", 1),
            matches: placed(&[2, 5, 7, 9, 12]),
        };
        assert_eq!(kept.page(0..100, 3, false), [12, 15, 17]);
        assert_eq!(kept.page(6..100, 10, false), [17, 19, 22]);
        assert_eq!(kept.page(0..9, 2, true), [17, 15]);
        assert_eq!(kept.page(0..2, 5, true), Vec::<i64>::new());
    }
}
