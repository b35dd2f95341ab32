//! Listing users: state filters, sort order, keyset pagination, and the search behind `q`.
//!
//! Every sort order has an index that walks it, with or without a state filter (see the schema),
//! so a page without `q` reads about as many rows as it shows. With `q`, a person is listed when
//! their folded search text contains the folded query, and the question is how to find the first
//! page of them in order without reading everyone:
//!
//! - The trigram index (`users_search`) lists who matches a query of three characters or more,
//!   at 0.1 to 0.5 µs a match. A page is the first matches in the sort order, so each match's
//!   place in that order is needed: reading it from its row costs about 1 µs, so [`Ranks`] keeps
//!   every person's place in each order (and their state) in memory, as of the table's version,
//!   which triggers bump at every write that can move someone. Then a search costs about what
//!   listing its matches does, wherever in the order they are.
//! - A query matching more than `set_limit` people is common enough that walking the order and
//!   testing each row's text fills a page within a few thousand rows; should the matches be
//!   bunched far along the order instead, the walk stops and the rest comes from the index.
//! - Queries of one or two characters are below what a trigram index answers: they walk the
//!   order, and since nearly every text holds most letters and digits, a page fills quickly.

use std::sync::{Arc, Mutex};

use keydesk_api::{ListUsersResponse, OrderField, SortDirection, User};
use rusqlite::{Connection, params_from_iter, types::Value};

use super::{
    Context, USER_COLUMNS,
    page_token::{Cursor, PageTokens},
    row_to_user, text,
};
use crate::directory::{DirectoryError, ListQuery};

/// Where a search stops listing its matches and walks the order instead.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Up to this many matches, a search lists them; beyond, it walks the order, testing text.
    pub set_limit: usize,
    /// That walk reads at most this many times the rows an even spread of matches would need.
    pub walk_factor: usize,
}

pub const TUNING: Tuning = Tuning {
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
    let column = super::sort_column(query.order.field);
    // One statement after another must see the same people: one read transaction.
    let tx = conn.transaction()?;
    // One row more than asked tells whether another page exists.
    let rowids = find(
        &tx,
        &context.ranks,
        query,
        after.map(|cursor| (cursor.key, cursor.id)),
        page_size + 1,
        TUNING,
    )?;
    let mut results: Vec<User> = Vec::with_capacity(rowids.len().min(page_size));
    let mut last_key = String::new();
    {
        let mut load = tx.prepare_cached(&format!(
            "SELECT {USER_COLUMNS}, {column} FROM users WHERE rowid = ?1"
        ))?;
        for rowid in rowids.iter().take(page_size) {
            let (user, key) = load.query_row([rowid], |row| {
                Ok((row_to_user(&context.account, row)?, row.get(11)?))
            })?;
            results.push(user);
            last_key = key;
        }
    }
    tx.commit()?;
    let next_page_token = (rowids.len() > page_size).then(|| {
        let last = results.last().expect("page_size is at least 1");
        context.tokens.issue(&Cursor {
            query: PageTokens::fingerprint(query),
            key: last_key,
            id: last.id.to_string(),
        })
    });
    Ok(ListUsersResponse {
        results,
        next_page_token,
        snapshot_time: None,
        snapshot_error: None,
    })
}

/// The sort order and the state filters, as SQL.
struct Order {
    field: OrderField,
    column: &'static str,
    descending: bool,
    states: Vec<String>,
}

impl Order {
    fn of(query: &ListQuery) -> Order {
        Order {
            field: query.order.field,
            column: super::sort_column(query.order.field),
            descending: query.order.direction == SortDirection::Desc,
            states: query
                .filter
                .map(|filter| filter.state())
                .iter()
                .chain(&query.state)
                .map(|state| state.as_str().to_owned())
                .collect(),
        }
    }

    /// ` AND …` for the state filters and the start of the page, and their arguments.
    fn conditions(&self, after: Option<&(String, String)>, args: &mut Vec<Value>) -> String {
        let mut sql = String::new();
        for state in &self.states {
            sql.push_str(" AND state = ?");
            args.push(Value::Text(state.clone()));
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
    ranks: &Ranks,
    query: &ListQuery,
    after: Option<(String, String)>,
    wanted: usize,
    tuning: Tuning,
) -> Result<Vec<i64>, DirectoryError> {
    let order = Order::of(query);
    let Some(text) = &query.text else {
        return Ok(walk(conn, &order, None, after, wanted, None)?.found);
    };
    let needle = text::fold(text);
    // The trigram index answers three characters or more. A NUL is left to the walk, which
    // compares bytes, rather than to the index's query parser.
    if needle.chars().count() < 3 || needle.contains('\0') {
        return Ok(walk(conn, &order, Some(&needle), after, wanted, None)?.found);
    }
    // The phrase of the needle's trigrams, one after another, matches exactly the texts that
    // contain the needle, so nothing needs checking again.
    let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
    let matches = matching_rows(conn, &phrase, Some(tuning.set_limit + 1))?;
    if matches.len() <= tuning.set_limit {
        return by_rank(conn, ranks, &order, &matches, after.as_ref(), wanted);
    }
    let everyone = directory_size(conn)?;
    let even_spread = wanted.saturating_mul(everyone) / tuning.set_limit.max(1);
    let limit = even_spread.saturating_mul(tuning.walk_factor).max(1);
    let mut walked = walk(conn, &order, Some(&needle), after, wanted, Some(limit))?;
    if let Some(stopped_at) = walked.stopped_at {
        let matches = matching_rows(conn, &phrase, None)?;
        let rest = wanted - walked.found.len();
        walked.found.extend(by_rank(
            conn,
            ranks,
            &order,
            &matches,
            Some(&stopped_at),
            rest,
        )?);
    }
    Ok(walked.found)
}

/// About how many people there are, without counting them: rowids are handed out in order, and
/// people are not deleted.
fn directory_size(conn: &Connection) -> Result<usize, DirectoryError> {
    let mut statement = conn.prepare_cached("SELECT coalesce(max(rowid), 0) FROM users")?;
    let size: i64 = statement.query_row([], |row| row.get(0))?;
    Ok(size.max(0) as usize)
}

/// What a walk in order found, and where it stopped if it ran out of rows to read.
struct Walk {
    found: Vec<i64>,
    /// The sort key and ID of the last row read, when the walk stopped before the end.
    stopped_at: Option<(String, String)>,
}

/// Walk the order from `after`, keeping the rows whose search text contains `needle` (all, if
/// none), until `wanted` are kept or `limit` rows are read.
fn walk(
    conn: &Connection,
    order: &Order,
    needle: Option<&str>,
    after: Option<(String, String)>,
    wanted: usize,
    limit: Option<usize>,
) -> Result<Walk, DirectoryError> {
    let mut args = Vec::new();
    // Only the text needs the row itself: the order's index holds the rest, rowid included.
    let text_column = if needle.is_some() { ", search_key" } else { "" };
    let mut sql = format!(
        "SELECT rowid, {column}, id{text_column} FROM users WHERE 1 = 1",
        column = order.column
    );
    sql.push_str(&order.conditions(after.as_ref(), &mut args));
    sql.push_str(&order.order_by());
    if needle.is_none() {
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(wanted as i64));
    }
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(params_from_iter(args))?;
    let mut found = Vec::new();
    let mut read = 0usize;
    while let Some(row) = rows.next()? {
        let keep = match needle {
            None => true,
            Some(needle) => row
                .get_ref(3)?
                .as_str()
                .map_err(|err| DirectoryError::Internal(format!("search_key: {err}")))?
                .contains(needle),
        };
        if keep {
            found.push(row.get(0)?);
            if found.len() == wanted {
                break;
            }
        }
        read += 1;
        if limit == Some(read) {
            return Ok(Walk {
                found,
                stopped_at: Some((row.get(1)?, row.get(2)?)),
            });
        }
    }
    Ok(Walk {
        found,
        stopped_at: None,
    })
}

/// The rowids of the people whose search text contains `phrase`, at most `limit` of them.
fn matching_rows(
    conn: &Connection,
    phrase: &str,
    limit: Option<usize>,
) -> Result<Vec<i64>, DirectoryError> {
    let mut statement =
        conn.prepare_cached("SELECT rowid FROM users_search WHERE users_search MATCH ?1 LIMIT ?2")?;
    let limit = limit.map_or(-1, |limit| limit as i64);
    let rowids = statement
        .query_map(rusqlite::params![phrase, limit], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(rowids)
}

/// The first `wanted` of the rows `matches` in the order after `after`, by their places in it.
fn by_rank(
    conn: &Connection,
    ranks: &Ranks,
    order: &Order,
    matches: &[i64],
    after: Option<&(String, String)>,
    wanted: usize,
) -> Result<Vec<i64>, DirectoryError> {
    if matches.is_empty() || wanted == 0 {
        return Ok(Vec::new());
    }
    let version = ranks_version(conn)?;
    let places = ranks.places(conn, order.field, version)?;
    let states = match order.states.is_empty() {
        true => None,
        false => Some(ranks.states(conn, version)?),
    };
    // Places run in ascending order; a descending page takes them from the end.
    let (first, end) = match after {
        None => (0, places.order.len()),
        Some(cursor) if order.descending => (0, places.first_not_before(conn, order, cursor)?),
        Some(cursor) => (places.first_after(conn, order, cursor)?, places.order.len()),
    };
    let mut found: Vec<(u32, i64)> = matches
        .iter()
        .filter_map(|&rowid| {
            let place = places.of(rowid)?;
            let in_range = (first..end).contains(&(place as usize));
            let in_states = states
                .as_ref()
                .is_none_or(|states| order.states.iter().all(|state| states.is(rowid, state)));
            (in_range && in_states).then_some((place, rowid))
        })
        .collect();
    if order.descending {
        found.sort_unstable_by(|a, b| b.cmp(a));
    } else {
        found.sort_unstable();
    }
    found.truncate(wanted);
    Ok(found.into_iter().map(|(_, rowid)| rowid).collect())
}

fn ranks_version(conn: &Connection) -> Result<i64, DirectoryError> {
    let mut statement = conn.prepare_cached("SELECT version FROM users_version")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

/// Each person's place in each sort order, and their state, kept in memory as of one version of
/// the users table (see the module's documentation). Built when first needed after a change:
/// reading an order's index takes about 20 ms at 100,000 people.
#[derive(Default)]
pub struct Ranks {
    places: [Mutex<Option<Arc<Places>>>; 4],
    states: Mutex<Option<Arc<States>>>,
}

/// One sort order, ascending: who is where.
struct Places {
    version: i64,
    /// Rowids in order.
    order: Vec<i64>,
    /// Place in `order`, by rowid; `u32::MAX` for a rowid nobody has.
    place: Vec<u32>,
}

/// Everyone's state, by rowid.
struct States {
    version: i64,
    names: Vec<String>,
    /// Index into `names` plus one, by rowid; 0 for a rowid nobody has.
    of: Vec<u16>,
}

impl Ranks {
    fn places(
        &self,
        conn: &Connection,
        field: OrderField,
        version: i64,
    ) -> Result<Arc<Places>, DirectoryError> {
        let slot = match field {
            OrderField::DisplayName => 0,
            OrderField::Email => 1,
            OrderField::State => 2,
            OrderField::CreateTime => 3,
        };
        // Held while building: whoever else needs this order now waits for it instead of
        // building it again.
        let mut cached = self.places[slot]
            .lock()
            .unwrap_or_else(|err| err.into_inner());
        if let Some(places) = cached.as_ref().filter(|places| places.version == version) {
            return Ok(places.clone());
        }
        let mut statement = conn.prepare(&format!(
            "SELECT rowid FROM users ORDER BY {column}, id",
            column = super::sort_column(field)
        ))?;
        let order = statement
            .query_map([], |row| row.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut place = vec![u32::MAX; order.iter().max().map_or(0, |&max| max as usize + 1)];
        for (at, &rowid) in order.iter().enumerate() {
            place[rowid as usize] = at as u32;
        }
        let places = Arc::new(Places {
            version,
            order,
            place,
        });
        *cached = Some(places.clone());
        Ok(places)
    }

    fn states(&self, conn: &Connection, version: i64) -> Result<Arc<States>, DirectoryError> {
        let mut cached = self.states.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(states) = cached.as_ref().filter(|states| states.version == version) {
            return Ok(states.clone());
        }
        let mut names: Vec<String> = Vec::new();
        let mut of = Vec::new();
        let mut statement = conn.prepare("SELECT rowid, state FROM users")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let rowid = row.get::<_, i64>(0)? as usize;
            let state = row.get_ref(1)?.as_str().unwrap_or_default();
            let index = match names.iter().position(|name| name == state) {
                Some(index) => index,
                None => {
                    names.push(state.to_owned());
                    names.len() - 1
                }
            };
            if of.len() <= rowid {
                of.resize(rowid + 1, 0);
            }
            of[rowid] = index as u16 + 1;
        }
        let states = Arc::new(States { version, names, of });
        *cached = Some(states.clone());
        Ok(states)
    }
}

impl Places {
    fn of(&self, rowid: i64) -> Option<u32> {
        let place = *self.place.get(usize::try_from(rowid).ok()?)?;
        (place != u32::MAX).then_some(place)
    }

    /// The first place whose (sort key, ID) is after `cursor`, or not before it: a binary search
    /// reading a row at each step (a cursor's row may have moved or gone since it was issued).
    fn first_after(
        &self,
        conn: &Connection,
        order: &Order,
        cursor: &(String, String),
    ) -> Result<usize, DirectoryError> {
        self.partition(conn, order, |row| row <= cursor)
    }

    fn first_not_before(
        &self,
        conn: &Connection,
        order: &Order,
        cursor: &(String, String),
    ) -> Result<usize, DirectoryError> {
        self.partition(conn, order, |row| row < cursor)
    }

    fn partition(
        &self,
        conn: &Connection,
        order: &Order,
        before: impl Fn(&(String, String)) -> bool,
    ) -> Result<usize, DirectoryError> {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {column}, id FROM users WHERE rowid = ?1",
            column = order.column
        ))?;
        let (mut low, mut high) = (0, self.order.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let row: (String, String) =
                statement.query_row([self.order[middle]], |row| Ok((row.get(0)?, row.get(1)?)))?;
            if before(&row) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }
}

impl States {
    fn is(&self, rowid: i64, state: &str) -> bool {
        usize::try_from(rowid)
            .ok()
            .and_then(|rowid| self.of.get(rowid))
            .and_then(|&index| self.names.get((index as usize).checked_sub(1)?))
            .is_some_and(|name| name == state)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use keydesk_api::{ApiFilter, OrderBy, OrderField, UserState};

    use super::*;
    use crate::directory::embedded::{insert_users, schema, seed};

    /// The demo (accents, several scripts) and a generated crowd, in a fresh database.
    fn directory() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrations().to_latest(&mut conn).unwrap();
        let mut users = seed::demo_users();
        users.extend(seed::generated_users(700));
        insert_users(&mut conn, &users).unwrap();
        conn
    }

    /// Every row as the oracle needs it: rowid → (sort keys by column, state, search text).
    struct Row {
        keys: HashMap<&'static str, String>,
        id: String,
        state: String,
        text: String,
    }

    fn rows(conn: &Connection) -> HashMap<i64, Row> {
        let mut statement = conn
            .prepare(
                "SELECT rowid, name_key, email_key, state, create_time, id, search_key FROM users",
            )
            .unwrap();
        statement
            .query_map([], |row| {
                let keys = HashMap::from([
                    ("name_key", row.get(1)?),
                    ("email_key", row.get(2)?),
                    ("state", row.get(3)?),
                    ("create_time", row.get(4)?),
                ]);
                Ok((
                    row.get(0)?,
                    Row {
                        keys,
                        state: row.get(3)?,
                        id: row.get(5)?,
                        text: row.get(6)?,
                    },
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Who `query` lists, in order, worked out the slow and obvious way.
    fn expected(rows: &HashMap<i64, Row>, query: &ListQuery) -> Vec<i64> {
        let order = Order::of(query);
        let needle = query.text.as_deref().map(text::fold);
        let mut found: Vec<(&String, &String, i64)> = rows
            .iter()
            .filter(|(_, row)| {
                needle.as_deref().is_none_or(|n| row.text.contains(n))
                    && order.states.iter().all(|state| &row.state == state)
            })
            .map(|(rowid, row)| (&row.keys[order.column], &row.id, *rowid))
            .collect();
        found.sort();
        if query.order.direction == SortDirection::Desc {
            found.reverse();
        }
        found.into_iter().map(|(_, _, rowid)| rowid).collect()
    }

    /// Who `query` lists, page by page as tokens would continue it.
    fn walk_pages(
        conn: &Connection,
        ranks: &Ranks,
        rows: &HashMap<i64, Row>,
        query: &ListQuery,
        tuning: Tuning,
    ) -> Vec<i64> {
        let column = Order::of(query).column;
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = find(conn, ranks, query, after, query.page_size as usize, tuning).unwrap();
            listed.extend(&page);
            match page.last() {
                Some(last) if page.len() == query.page_size as usize => {
                    after = Some((rows[last].keys[column].clone(), rows[last].id.clone()));
                }
                _ => return listed,
            }
        }
    }

    /// Every search of three characters or more walks the order testing text, as far as it takes.
    const ALWAYS_WALK_TEXT: Tuning = Tuning {
        set_limit: 0,
        walk_factor: 1 << 40,
    };
    /// Every such search walks one row, then takes the rest of the page by rank.
    const WALK_THEN_RANK: Tuning = Tuning {
        set_limit: 0,
        walk_factor: 0,
    };

    #[test]
    fn every_strategy_lists_exactly_the_matches_in_order_across_pages() {
        let conn = directory();
        let ranks = Ranks::default();
        let rows = rows(&conn);
        let queries = [
            "Zoltán",
            "ada",
            "abara",
            "son",
            "zoe",
            "Lefèvre",
            "山田",
            "e",
            "zz",
            "o l",
            "12",
            "@exa",
            "7",
            "nobody at all",
            "ADA.ABARA.0@example.com",
            "\"quoted",
            "x\"y",
            "%",
            "_",
            "50%",
            "a_b",
        ];
        let mut checked = 0;
        for q in queries {
            for field in OrderField::ALL {
                for direction in [SortDirection::Asc, SortDirection::Desc] {
                    for (filter, state) in [
                        (None, None),
                        (Some(ApiFilter::IsActive), None),
                        (None, Some(UserState::Suspended)),
                    ] {
                        let query = ListQuery {
                            filter,
                            state,
                            text: Some(q.to_owned()),
                            order: OrderBy { field, direction },
                            page_size: 37,
                            page_token: None,
                        };
                        let want = expected(&rows, &query);
                        for tuning in [TUNING, ALWAYS_WALK_TEXT, WALK_THEN_RANK] {
                            assert_eq!(
                                walk_pages(&conn, &ranks, &rows, &query, tuning),
                                want,
                                "{query:?} {tuning:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn without_q_every_order_and_filter_lists_everyone_in_order() {
        let conn = directory();
        let ranks = Ranks::default();
        let rows = rows(&conn);
        for field in OrderField::ALL {
            for direction in [SortDirection::Asc, SortDirection::Desc] {
                for state in [None, Some(UserState::Active), Some(UserState::Pending)] {
                    let query = ListQuery {
                        state,
                        order: OrderBy { field, direction },
                        page_size: 97,
                        ..ListQuery::default()
                    };
                    assert_eq!(
                        walk_pages(&conn, &ranks, &rows, &query, TUNING),
                        expected(&rows, &query),
                        "{query:?}"
                    );
                }
            }
        }
    }

    /// Each order, with or without a state filter, is walked through an index: never by reading
    /// everyone and sorting them, which is what made the state order slow.
    #[test]
    fn every_order_and_state_filter_walks_an_index_instead_of_sorting() {
        let conn = directory();
        for field in OrderField::ALL {
            for direction in [SortDirection::Asc, SortDirection::Desc] {
                for state in [None, Some(UserState::Suspended)] {
                    for after in [None, Some(("k".to_owned(), "ID".to_owned()))] {
                        let query = ListQuery {
                            state: state.clone(),
                            order: OrderBy { field, direction },
                            ..ListQuery::default()
                        };
                        let order = Order::of(&query);
                        let mut args = Vec::new();
                        let sql = format!(
                            "EXPLAIN QUERY PLAN SELECT rowid FROM users WHERE 1 = 1{}{}",
                            order.conditions(after.as_ref(), &mut args),
                            order.order_by(),
                        );
                        let plan: Vec<String> = conn
                            .prepare(&sql)
                            .unwrap()
                            .query_map(params_from_iter(args), |row| row.get(3))
                            .unwrap()
                            .collect::<Result<_, _>>()
                            .unwrap();
                        let plan = plan.join("; ");
                        assert!(plan.contains("USING COVERING INDEX"), "{sql}: {plan}");
                        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
                    }
                }
            }
        }
    }

    /// The trigram index and the places kept in memory follow every write: a state change, an
    /// edit of the text, a delete, an insert, whoever makes it.
    #[test]
    fn search_follows_state_changes_edits_deletes_and_inserts() {
        let conn = directory();
        let ranks = Ranks::default();
        let rows_now = || rows(&conn);
        let search = |q: &str, state: Option<UserState>, field: OrderField| {
            let query = ListQuery {
                text: Some(q.to_owned()),
                state,
                order: OrderBy {
                    field,
                    direction: SortDirection::Asc,
                },
                page_size: 50,
                ..ListQuery::default()
            };
            let found = find(&conn, &ranks, &query, None, 50, TUNING).unwrap();
            let first: Vec<i64> = expected(&rows_now(), &query).into_iter().take(50).collect();
            assert_eq!(found, first, "{query:?}");
            found.len()
        };
        let suspended = Some(UserState::Suspended);
        assert_eq!(
            search("zoe lefevre", suspended.clone(), OrderField::State),
            0
        );
        assert_eq!(search("e", None, OrderField::State), 50);
        conn.execute(
            "UPDATE users SET state = 'SUSPENDED' WHERE email = 'zoe.lefevre@example.com'",
            [],
        )
        .unwrap();
        assert_eq!(
            search("zoe lefevre", suspended.clone(), OrderField::State),
            1
        );
        assert_eq!(search("lefevre", None, OrderField::State), 1);
        search("a", None, OrderField::State);
        // An edit to the text itself, as a rename would make.
        conn.execute(
            "UPDATE users SET search_key = 'zoe martin' || char(10) || email_key,
                              name_key = 'zoe martin'
             WHERE email = 'zoe.lefevre@example.com'",
            [],
        )
        .unwrap();
        assert_eq!(
            search("zoe lefevre", suspended.clone(), OrderField::DisplayName),
            0
        );
        assert_eq!(
            search("zoe martin", suspended.clone(), OrderField::DisplayName),
            1
        );
        conn.execute(
            "DELETE FROM users WHERE email = 'zoe.lefevre@example.com'",
            [],
        )
        .unwrap();
        assert_eq!(search("zoe martin", None, OrderField::DisplayName), 0);
        conn.execute(
            "INSERT INTO users (id, email, display_name, state, user_type, role, create_time,
                                update_time, name_key, email_key, search_key)
             SELECT substr('NEWCOMER' || rowid || 'AAAAAAAAAAAAAAAAAAAAAAAAAA', 1, 26),
                    'newcomer.' || rowid || '@example.com', 'Newcomer ' || rowid, 'ACTIVE',
                    user_type, role, create_time, update_time, 'newcomer ' || rowid,
                    'newcomer.' || rowid || '@example.com',
                    'newcomer ' || rowid || char(10) || 'newcomer.' || rowid || '@example.com'
             FROM users LIMIT 3",
            [],
        )
        .unwrap();
        assert_eq!(search("newcomer", None, OrderField::DisplayName), 3);
        conn.execute(
            "INSERT INTO users_search (users_search, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn state_counts_follow_inserts_state_changes_and_deletes() {
        let conn = directory();
        let kept = |conn: &Connection| -> Vec<(String, i64)> {
            conn.prepare(
                "SELECT state, count FROM user_state_counts WHERE count > 0 ORDER BY state",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let counted = |conn: &Connection| -> Vec<(String, i64)> {
            conn.prepare("SELECT state, count(*) FROM users GROUP BY state ORDER BY state")
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(kept(&conn), counted(&conn));
        conn.execute_batch(
            "UPDATE users SET state = 'SUSPENDED' WHERE email LIKE 'a%';
             UPDATE users SET state = 'TRANSFER_STARTED' WHERE email LIKE 'b%';
             UPDATE users SET state = state WHERE email LIKE 'c%';
             DELETE FROM users WHERE email LIKE 'd%';",
        )
        .unwrap();
        assert_eq!(kept(&conn), counted(&conn));
    }
}
