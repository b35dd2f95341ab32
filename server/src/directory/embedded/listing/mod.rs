//! Listing users: state filters, sort order, keyset pagination, and the search behind `q`.
//!
//! Every sort order has an index that walks it, with or without a state filter (see the schema),
//! so a page without `q` reads about as many rows as it shows. With `q`, a person is listed when
//! their folded search text contains the folded query, and the question is how to find the first
//! page of them in order without reading everyone. [`Memory`] keeps in memory, as of the table's
//! version (which triggers bump at every write that can move someone), every person's place in
//! each order, their state, and their search text with an index of its three-byte sequences
//! (`TextIndex`). Then:
//!
//! - The people holding the query's rarest sequence are the candidates. Up to `keep_limit` of
//!   them are tested and put in order by place, and the search is kept whole (`kept`), so that
//!   its next pages and the same search again read nobody. Up to `set_limit` of them are put in
//!   order by place, and tested in that order until the page is full.
//! - More candidates than that is common enough that walking the order and testing each text
//!   fills a page within a few thousand people; should the matches be bunched far along the
//!   order instead, the walk stops and the rest is taken by place from the candidates.
//! - A query of one or two bytes has no sequence to look up: it walks the order, and since nearly
//!   every text holds most letters and digits, a page fills quickly.

mod kept;
mod memory;
mod search;
#[cfg(test)]
mod tests;

use keydesk_api::{ListUsersResponse, OrderField, SortDirection};
use memchr::memmem::Finder;
use rusqlite::{Connection, params_from_iter, types::Value};

pub use self::memory::{Memory, warm};
use self::{
    memory::{Version, version},
    search::Search,
};
use super::{
    Context,
    page_token::{Cursor, PageTokens},
    text,
};
use crate::directory::{DirectoryError, ListQuery};

/// Where a search stops listing its matches and walks the order instead.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Up to this many candidates, a search finds and keeps every match (at most a few
    /// milliseconds, and 8 bytes a match).
    pub keep_limit: usize,
    /// Up to this many candidates, a search orders them by place; beyond, it walks the order.
    pub set_limit: usize,
    /// That walk reads at most this many times the rows an even spread of matches would need.
    pub walk_factor: usize,
}

pub const TUNING: Tuning = Tuning {
    keep_limit: 100_000,
    set_limit: 5_000,
    walk_factor: 4,
};

/// One page of users for `query`.
pub fn list(
    conn: &mut Connection,
    context: &Context,
    query: &ListQuery,
) -> Result<ListUsersResponse, DirectoryError> {
    let after = match &query.page_token {
        Some(token) => Some(context.tokens.open(token, query)?),
        None => None,
    };
    let page_size = query.page_size as usize;
    let column = super::users::sort_column(query.order.field);
    // One statement after another must see the same people: one read transaction.
    let tx = conn.transaction()?;
    // One row more than asked tells whether another page exists.
    let rowids = find(
        &tx,
        &context.memory,
        query,
        after.map(|cursor| (cursor.key, cursor.id)),
        page_size + 1,
        TUNING,
    )?;
    let shown = &rowids[..rowids.len().min(page_size)];
    let results = context.memory.users(&tx, &context.account, shown)?;
    // Another page starts after the last row shown: its sort key goes into the token.
    let next_page_token = match (rowids.len() > page_size, shown.last(), results.last()) {
        (true, Some(&rowid), Some(last)) => {
            let mut statement =
                tx.prepare_cached(&format!("SELECT {column} FROM users WHERE rowid = ?1"))?;
            let key: String = statement.query_row([rowid], |row| row.get(0))?;
            Some(context.tokens.issue(&Cursor {
                query: PageTokens::fingerprint(query),
                key,
                id: last.id.to_string(),
            }))
        }
        _ => None,
    };
    tx.commit()?;
    Ok(ListUsersResponse {
        results,
        next_page_token,
        snapshot_time: None,
        snapshot_error: None,
        states_unknown: None,
    })
}

/// The sort order and the state filters, as SQL.
struct Order {
    field: OrderField,
    column: &'static str,
    descending: bool,
    /// Each a set of states, one of which a listed person must be in.
    states: Vec<Vec<String>>,
}

impl Order {
    fn of(query: &ListQuery) -> Order {
        Order {
            field: query.order.field,
            column: super::users::sort_column(query.order.field),
            descending: query.order.direction == SortDirection::Desc,
            states: query
                .state_sets()
                .iter()
                .map(|set| set.iter().map(|state| state.as_str().to_owned()).collect())
                .collect(),
        }
    }

    /// ` AND …` for the state filters and the start of the page, and their arguments.
    fn conditions(&self, after: Option<&(String, String)>, args: &mut Vec<Value>) -> String {
        let mut sql = String::new();
        for set in &self.states {
            let marks = vec!["?"; set.len()].join(", ");
            sql.push_str(&format!(" AND state IN ({marks})"));
            args.extend(set.iter().map(|state| Value::Text(state.clone())));
        }
        if let Some((key, id)) = after {
            let later = if self.descending { "<" } else { ">" };
            sql.push_str(&format!(" AND ({}, id) {later} (?, ?)", self.column));
            args.push(Value::Text(key.clone()));
            args.push(Value::Text(id.clone()));
        }
        sql
    }

    fn order_by(&self) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        format!(" ORDER BY {} {direction}, id {direction}", self.column)
    }
}

/// The rowids of the first `wanted` people of `query`'s order after `after` (a sort key and ID).
fn find(
    conn: &Connection,
    memory: &Memory,
    query: &ListQuery,
    after: Option<(String, String)>,
    wanted: usize,
    tuning: Tuning,
) -> Result<Vec<i64>, DirectoryError> {
    let order = Order::of(query);
    let Some(text) = &query.text else {
        return walk(conn, &order, after, wanted);
    };
    let needle = text::fold(text);
    let finder = Finder::new(needle.as_bytes());
    let texts = memory.texts(conn)?;
    let version = version(conn, Version::Places)?;
    let places = memory.places(conn, order.field, version)?;
    let states = match order.states.is_empty() {
        true => None,
        false => Some(memory.states(conn, version)?),
    };
    let search = Search {
        order: &order,
        places: &places,
        states: states.as_deref(),
        texts: &texts,
        finder: &finder,
    };
    let range = places.range(conn, &order, after.as_ref())?;
    let candidates = texts.candidates(needle.as_bytes());
    if let Some(candidates) = candidates.filter(|candidates| candidates.len() <= tuning.keep_limit)
    {
        let key = kept::Key {
            needle: needle.clone(),
            field: order.field,
            states: order.states.clone(),
            places_version: version,
            texts_version: texts.version,
        };
        let kept = memory.kept.get_or_find(key, || search.everyone(candidates));
        return Ok(kept.page(range, wanted, order.descending));
    }
    if let Some(candidates) = candidates.filter(|candidates| candidates.len() <= tuning.set_limit) {
        return Ok(search.by_rank(candidates, range, wanted));
    }
    // Many candidates: walking the order and testing each text fills a page sooner, unless the
    // matches are bunched far along it, so the walk is cut short and the rest taken by rank.
    let limit = candidates.map_or(usize::MAX, |candidates| {
        let even_spread = wanted.saturating_mul(places.order.len()) / candidates.len().max(1);
        even_spread.saturating_mul(tuning.walk_factor).max(1)
    });
    let (mut found, rest) = search.walk(range, wanted, limit);
    if let (Some(rest), Some(candidates)) = (rest, candidates) {
        found.extend(search.by_rank(candidates, rest, wanted - found.len()));
    }
    Ok(found)
}

/// The rowids of the first `wanted` people in `order` after `after`, through the order's index.
fn walk(
    conn: &Connection,
    order: &Order,
    after: Option<(String, String)>,
    wanted: usize,
) -> Result<Vec<i64>, DirectoryError> {
    let mut args = Vec::new();
    // No `LIMIT ?`: taking `wanted` rows stops the walk, and SQLite prepares a statement again
    // whenever a bound LIMIT changes, which cost as much as reading the page.
    let sql = format!(
        "SELECT rowid FROM users WHERE 1 = 1{}{}",
        order.conditions(after.as_ref(), &mut args),
        order.order_by()
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rowids = statement
        .query_map(params_from_iter(args), |row| row.get(0))?
        .take(wanted)
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(rowids)
}
