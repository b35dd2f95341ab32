//! One search of `q` over what [`super::Memory`] keeps: in order, in the states asked for, and
//! holding the text.

use std::ops::Range;

use memchr::memmem::Finder;

use super::{
    Order,
    memory::{Places, States},
};
use crate::directory::embedded::text_index::TextIndex;

/// One search of `q` over the memory of who is where, in what state, with what text.
pub(super) struct Search<'a> {
    pub order: &'a Order,
    pub places: &'a Places,
    pub states: Option<&'a States>,
    pub texts: &'a TextIndex,
    pub finder: &'a Finder<'a>,
}

impl Search<'_> {
    fn in_states(&self, rowid: i64) -> bool {
        self.states.is_none_or(|states| {
            self.order
                .states
                .iter()
                .all(|set| set.iter().any(|state| states.is(rowid, state)))
        })
    }

    fn matches(&self, rowid: i64) -> bool {
        self.in_states(rowid) && self.texts.contains(rowid, self.finder)
    }

    /// The first `wanted` matches among `candidates` whose places are in `range`, in order.
    /// Places first: ordering the candidates needs no text, and then only the texts up to the
    /// page's end are tested.
    pub(super) fn by_rank(
        &self,
        candidates: &[u32],
        range: Range<usize>,
        wanted: usize,
    ) -> Vec<i64> {
        // Place and rowid in one number, so that sorting compares integers.
        let mut placed: Vec<u64> = candidates
            .iter()
            .filter_map(|&rowid| {
                let place = self.places.of(i64::from(rowid))?;
                range
                    .contains(&(place as usize))
                    .then_some((u64::from(place) << 32) | u64::from(rowid))
            })
            .collect();
        let in_order = |a: &u64, b: &u64| match self.order.descending {
            true => b.cmp(a),
            false => a.cmp(b),
        };
        // Only the front needs sorting: a few times the page, and more should too few match.
        let mut found = Vec::with_capacity(wanted);
        let mut rest = &mut placed[..];
        while found.len() < wanted && !rest.is_empty() {
            let front = (wanted * 2).min(rest.len());
            if front < rest.len() {
                rest.select_nth_unstable_by(front - 1, in_order);
            }
            let (head, tail) = rest.split_at_mut(front);
            head.sort_unstable_by(in_order);
            found.extend(
                head.iter()
                    .map(|placed| (placed & u64::from(u32::MAX)) as i64)
                    .filter(|&rowid| self.matches(rowid))
                    .take(wanted - found.len()),
            );
            rest = tail;
        }
        found
    }

    /// Every match among `candidates`, place and rowid in one number, ascending.
    pub(super) fn everyone(&self, candidates: &[u32]) -> Vec<u64> {
        let mut placed: Vec<u64> = candidates
            .iter()
            .filter(|&&rowid| self.matches(i64::from(rowid)))
            .filter_map(|&rowid| {
                let place = self.places.of(i64::from(rowid))?;
                Some((u64::from(place) << 32) | u64::from(rowid))
            })
            .collect();
        placed.sort_unstable();
        placed
    }

    /// Walk the places in `range` in order, keeping matches until `wanted` are kept or `limit`
    /// places are read. When the walk stops short, the places it did not read come back too.
    pub(super) fn walk(
        &self,
        range: Range<usize>,
        wanted: usize,
        limit: usize,
    ) -> (Vec<i64>, Option<Range<usize>>) {
        let mut found = Vec::new();
        let mut places: Box<dyn Iterator<Item = usize>> = match self.order.descending {
            true => Box::new(range.clone().rev()),
            false => Box::new(range.clone()),
        };
        let mut read = 0;
        while found.len() < wanted {
            let Some(place) = places.next() else {
                break;
            };
            let rowid = self.places.order[place];
            if self.matches(rowid) {
                found.push(rowid);
            }
            read += 1;
            if read == limit && found.len() < wanted {
                let rest = match self.order.descending {
                    true => range.start..place,
                    false => place + 1..range.end,
                };
                return (found, Some(rest));
            }
        }
        (found, None)
    }
}
