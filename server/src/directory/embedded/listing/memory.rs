//! What listing and search keep in memory, each as of its own version of the users table.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Arc, Mutex},
};

use keydesk_api::{AccountId, OrderBy, OrderField, User};
use rusqlite::Connection;

use super::{Order, kept::KeptSearches};
use crate::directory::{
    DirectoryError,
    embedded::{
        text_index::TextIndex,
        users::{USER_COLUMNS, row_to_user},
        without_map,
    },
};

/// Build what a search needs before the first one asks, so that person does not wait for it.
pub fn warm(conn: &Connection, memory: &Memory) -> Result<(), DirectoryError> {
    memory.texts(conn)?;
    let version = version(conn, Version::Places)?;
    memory.places(conn, OrderBy::default().field, version)?;
    Ok(())
}

/// Which writes to `users` a version counts (see the schema): each table holds one number.
#[derive(Clone, Copy)]
pub(super) enum Version {
    /// Writes that can move someone in a sort order or change their state.
    Places,
    /// Writes that can change a search text.
    Texts,
    /// Every write.
    Rows,
}

pub(super) fn version(conn: &Connection, of: Version) -> Result<i64, DirectoryError> {
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
    /// Recent searches, each with every match in order.
    pub(super) kept: KeptSearches,
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
pub(super) struct Places {
    version: i64,
    /// Rowids in order.
    pub order: Vec<i64>,
    /// Place in `order`, by rowid; `u32::MAX` for a rowid nobody has.
    place: Vec<u32>,
}

/// Everyone's state, by rowid.
pub(super) struct States {
    version: i64,
    names: Vec<String>,
    /// Index into `names` plus one, by rowid; 0 for a rowid nobody has.
    of: Vec<u16>,
}

impl Memory {
    pub(super) fn places(
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
        let order = without_map(conn, |conn| {
            let mut statement = conn.prepare(&format!(
                "SELECT rowid FROM users ORDER BY {column}, id",
                column = crate::directory::embedded::users::sort_column(field)
            ))?;
            let order = statement
                .query_map([], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(order)
        })?;
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
    pub(super) fn users(
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

    pub(super) fn texts(&self, conn: &Connection) -> Result<Arc<TextIndex>, DirectoryError> {
        let version = version(conn, Version::Texts)?;
        let mut cached = self.texts.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(texts) = cached.as_ref().filter(|texts| texts.version == version) {
            return Ok(texts.clone());
        }
        let texts = Arc::new(without_map(conn, |conn| TextIndex::read(conn, version))?);
        *cached = Some(texts.clone());
        Ok(texts)
    }

    pub(super) fn states(
        &self,
        conn: &Connection,
        version: i64,
    ) -> Result<Arc<States>, DirectoryError> {
        let mut cached = self.states.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(states) = cached.as_ref().filter(|states| states.version == version) {
            return Ok(states.clone());
        }
        let states = without_map(conn, |conn| read_states(conn, version))?;
        *cached = Some(states.clone());
        Ok(states)
    }
}

/// Everyone's state, from the table.
fn read_states(conn: &Connection, version: i64) -> Result<Arc<States>, DirectoryError> {
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
    Ok(Arc::new(States { version, names, of }))
}

impl Places {
    /// The places after `after` (all, without it), as a range of ascending places: a descending
    /// page takes them from the end.
    pub(super) fn range(
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

    pub(super) fn of(&self, rowid: i64) -> Option<u32> {
        let place = *self.place.get(usize::try_from(rowid).ok()?)?;
        (place != u32::MAX).then_some(place)
    }

    /// The first place whose (sort key, ID) is after `cursor`, or not before it: a binary search
    /// reading a row at each step (a cursor's row may have moved or gone since it was issued).
    pub(super) fn first_after(
        &self,
        conn: &Connection,
        order: &Order,
        cursor: &(String, String),
    ) -> Result<usize, DirectoryError> {
        self.partition(conn, order, |row| row <= cursor)
    }

    pub(super) fn first_not_before(
        &self,
        conn: &Connection,
        order: &Order,
        cursor: &(String, String),
    ) -> Result<usize, DirectoryError> {
        self.partition(conn, order, |row| row < cursor)
    }

    pub(super) fn partition(
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
    pub(super) fn is(&self, rowid: i64, state: &str) -> bool {
        usize::try_from(rowid)
            .ok()
            .and_then(|rowid| self.of.get(rowid))
            .and_then(|&index| self.names.get((index as usize).checked_sub(1)?))
            .is_some_and(|name| name == state)
    }
}
