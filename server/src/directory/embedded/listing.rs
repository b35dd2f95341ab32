//! Listing users: state filters, sort order, keyset pagination, and the search behind `q`.
//!
//! Every sort order has an index that walks it, with or without a state filter (see the schema),
//! so a page without `q` reads about as many rows as it shows. With `q`, a person is listed when
//! their folded search text contains the folded query, and the question is how to find the first
//! page of them in order without reading everyone. [`Memory`] keeps in memory, as of the table's
//! version (which triggers bump at every write that can move someone), every person's place in
//! each order, their state, and their search text with an index of its three-byte sequences
//! ([`TextIndex`]). Then:
//!
//! - The people holding the query's rarest sequence are the candidates. Up to `set_limit` of
//!   them are put in order by place, and tested in that order until the page is full.
//! - More candidates than that is common enough that walking the order and testing each text
//!   fills a page within a few thousand people; should the matches be bunched far along the
//!   order instead, the walk stops and the rest is taken by place from the candidates.
//! - A query of one or two bytes has no sequence to look up: it walks the order, and since nearly
//!   every text holds most letters and digits, a page fills quickly.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Arc, Mutex},
};

use keydesk_api::{AccountId, ListUsersResponse, OrderBy, OrderField, SortDirection, User};
use memchr::memmem::Finder;
use rusqlite::{Connection, params_from_iter, types::Value};

use super::{
    Context,
    page_token::{Cursor, PageTokens},
    text,
    text_index::TextIndex,
    users::{USER_COLUMNS, row_to_user},
};
use crate::directory::{DirectoryError, ListQuery};

/// Where a search stops listing its matches and walks the order instead.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Up to this many candidates, a search orders them by place; beyond, it walks the order.
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
            column: super::users::sort_column(query.order.field),
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

/// One search of `q` over the memory of who is where, in what state, with what text.
struct Search<'a> {
    order: &'a Order,
    places: &'a Places,
    states: Option<&'a States>,
    texts: &'a TextIndex,
    finder: &'a Finder<'a>,
}

impl Search<'_> {
    fn in_states(&self, rowid: i64) -> bool {
        self.states.is_none_or(|states| {
            self.order
                .states
                .iter()
                .all(|state| states.is(rowid, state))
        })
    }

    fn matches(&self, rowid: i64) -> bool {
        self.in_states(rowid) && self.texts.contains(rowid, self.finder)
    }

    /// The first `wanted` matches among `candidates` whose places are in `range`, in order.
    /// Places first: ordering the candidates needs no text, and then only the texts up to the
    /// page's end are tested.
    fn by_rank(&self, candidates: &[u32], range: Range<usize>, wanted: usize) -> Vec<i64> {
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

    /// Walk the places in `range` in order, keeping matches until `wanted` are kept or `limit`
    /// places are read. When the walk stops short, the places it did not read come back too.
    fn walk(
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

/// Build what a search needs before the first one asks, so that person does not wait for it.
pub fn warm(conn: &Connection, memory: &Memory) -> Result<(), DirectoryError> {
    memory.texts(conn)?;
    let version = version(conn, Version::Places)?;
    memory.places(conn, OrderBy::default().field, version)?;
    Ok(())
}

/// Which writes to `users` a version counts (see the schema): each table holds one number.
#[derive(Clone, Copy)]
enum Version {
    /// Writes that can move someone in a sort order or change their state.
    Places,
    /// Writes that can change a search text.
    Texts,
    /// Every write.
    Rows,
}

fn version(conn: &Connection, of: Version) -> Result<i64, DirectoryError> {
    let table = match of {
        Version::Places => "users_version",
        Version::Texts => "users_text_version",
        Version::Rows => "users_row_version",
    };
    let mut statement = conn.prepare_cached(&format!("SELECT version FROM {table}"))?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

/// Each person's place in each sort order, their state, their search text and the users lists
/// showed, each kept as of its own version of the users table (see the module's documentation).
/// Built when first needed after a change: reading an order's index takes about 20 ms at 100,000
/// people, and the texts, which change only when someone joins, leaves or is renamed, about
/// 0.4 s (`warm` builds them at start-up).
#[derive(Default)]
pub struct Memory {
    places: [Mutex<Option<Arc<Places>>>; 4],
    states: Mutex<Option<Arc<States>>>,
    texts: Mutex<Option<Arc<TextIndex>>>,
    users: Mutex<Listed>,
}

/// The users lists showed, by rowid, as of one version of every column (`users_row_version`):
/// reading a page of 100 from the table cost a third of a list's time, copying them from here a
/// fraction of that.
#[derive(Default)]
struct Listed {
    version: i64,
    users: HashMap<i64, User>,
}

impl Listed {
    /// Enough for every page a busy helpdesk looks at between two changes, and a bound on what
    /// paging through everyone could keep (about 600 bytes each).
    const CAPACITY: usize = 20_000;
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

impl Memory {
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
            column = super::users::sort_column(field)
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

    /// The users at `rowids`, in that order.
    fn users(
        &self,
        conn: &Connection,
        account: &AccountId,
        rowids: &[i64],
    ) -> Result<Vec<User>, DirectoryError> {
        let version = version(conn, Version::Rows)?;
        let mut found: Vec<Option<User>> = {
            let mut listed = self.users.lock().unwrap_or_else(|err| err.into_inner());
            if listed.version != version {
                *listed = Listed {
                    version,
                    users: HashMap::new(),
                };
            }
            rowids
                .iter()
                .map(|rowid| listed.users.get(rowid).cloned())
                .collect()
        };
        let mut read = Vec::new();
        {
            let mut load = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE rowid = ?1"
            ))?;
            for (user, rowid) in found.iter_mut().zip(rowids) {
                if user.is_none() {
                    let loaded = load.query_row([rowid], |row| row_to_user(account, row))?;
                    read.push((*rowid, loaded.clone()));
                    *user = Some(loaded);
                }
            }
        }
        if !read.is_empty() {
            let mut listed = self.users.lock().unwrap_or_else(|err| err.into_inner());
            // A write since this list began leaves what it read to the version it read.
            if listed.version == version {
                if listed.users.len() + read.len() > Listed::CAPACITY {
                    listed.users.clear();
                }
                listed.users.extend(read);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn texts(&self, conn: &Connection) -> Result<Arc<TextIndex>, DirectoryError> {
        let version = version(conn, Version::Texts)?;
        let mut cached = self.texts.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(texts) = cached.as_ref().filter(|texts| texts.version == version) {
            return Ok(texts.clone());
        }
        let texts = Arc::new(TextIndex::read(conn, version)?);
        *cached = Some(texts.clone());
        Ok(texts)
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
    /// The places after `after` (all, without it), as a range of ascending places: a descending
    /// page takes them from the end.
    fn range(
        &self,
        conn: &Connection,
        order: &Order,
        after: Option<&(String, String)>,
    ) -> Result<Range<usize>, DirectoryError> {
        Ok(match after {
            None => 0..self.order.len(),
            Some(cursor) if order.descending => 0..self.first_not_before(conn, order, cursor)?,
            Some(cursor) => self.first_after(conn, order, cursor)?..self.order.len(),
        })
    }

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
    use crate::directory::embedded::{generate::insert_users, schema, seed};

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
        memory: &Memory,
        rows: &HashMap<i64, Row>,
        query: &ListQuery,
        tuning: Tuning,
    ) -> Vec<i64> {
        let column = Order::of(query).column;
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = find(conn, memory, query, after, query.page_size as usize, tuning).unwrap();
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
        let memory = Memory::default();
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
                                walk_pages(&conn, &memory, &rows, &query, tuning),
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
        let memory = Memory::default();
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
                        walk_pages(&conn, &memory, &rows, &query, TUNING),
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
        let memory = Memory::default();
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
            let found = find(&conn, &memory, &query, None, 50, TUNING).unwrap();
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
    }

    /// The users kept from one list are read again after any write to the table, whichever
    /// column it changes, and a page reads the same people whether they were kept or not.
    #[test]
    fn listed_users_follow_every_write() {
        let conn = directory();
        let memory = Memory::default();
        let account = AccountId::parse("KEYDESKDEMOACCOUNTABCDEFGH").unwrap();
        let rowids: Vec<i64> = conn
            .prepare("SELECT rowid FROM users ORDER BY name_key LIMIT 5")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let first = memory.users(&conn, &account, &rowids).unwrap();
        assert_eq!(memory.users(&conn, &account, &rowids).unwrap(), first);
        // Columns no sort order or search uses.
        conn.execute(
            "UPDATE users SET signed_in_devices = 42, two_factor_enabled = 1 WHERE rowid = ?1",
            [rowids[2]],
        )
        .unwrap();
        let again = memory.users(&conn, &account, &rowids).unwrap();
        assert_eq!(again[2].signed_in_devices, Some(42));
        assert_eq!(again[2].two_factor_enabled, Some(true));
        assert_eq!(again[..2], first[..2]);
        assert_eq!(again[3..], first[3..]);
        // A page of some kept and some not: each in its place.
        let newest: i64 = conn
            .query_row("SELECT max(rowid) FROM users", [], |row| row.get(0))
            .unwrap();
        assert!(!rowids.contains(&newest));
        let mixed = [rowids[4], newest, rowids[1]];
        let users = memory.users(&conn, &account, &mixed).unwrap();
        assert_eq!(users[0], again[4]);
        assert_eq!(users[2], again[1]);
        let id: String = conn
            .query_row("SELECT id FROM users WHERE rowid = ?1", [mixed[1]], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(users[1].id.as_str(), id);
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
