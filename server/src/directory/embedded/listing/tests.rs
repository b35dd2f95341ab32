//! Listing checked against an oracle written apart from it.

use std::collections::HashMap;

use keydesk_api::{AccountId, ApiFilter, OrderBy, OrderField, UserState};

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
        .prepare("SELECT rowid, name_key, email_key, state, create_time, id, search_key FROM users")
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
                && order.states.iter().all(|set| set.contains(&row.state))
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

/// Every search of three characters or more with few candidates puts them in order and tests
/// them until the page is full; with many, walks the order (`TUNING` without searches kept).
const RANK_OR_WALK: Tuning = Tuning {
    keep_limit: 0,
    ..TUNING
};
/// Every search of three characters or more walks the order testing text, as far as it takes.
const ALWAYS_WALK_TEXT: Tuning = Tuning {
    keep_limit: 0,
    set_limit: 0,
    walk_factor: 1 << 40,
};
/// Every such search walks one row, then takes the rest of the page by rank.
const WALK_THEN_RANK: Tuning = Tuning {
    keep_limit: 0,
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
                        api_states: false,
                    };
                    let want = expected(&rows, &query);
                    for tuning in [TUNING, RANK_OR_WALK, ALWAYS_WALK_TEXT, WALK_THEN_RANK] {
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
        conn.prepare("SELECT state, count FROM user_state_counts WHERE count > 0 ORDER BY state")
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

/// Counting active owners (every count of states, every suspension of an owner) reads the
/// partial index of them, never every active person.
#[test]
fn active_owners_are_counted_from_their_own_index() {
    let conn = directory();
    let active_owners = crate::directory::embedded::users::ACTIVE_OWNERS;
    for sql in [
        active_owners.to_owned(),
        format!("{active_owners} AND id != 'X'"),
    ] {
        let plan: String = conn
            .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [], |row| row.get(3))
            .unwrap();
        assert!(plan.contains("users_active_owners"), "{sql}: {plan}");
    }
    let count: i64 = conn.query_row(active_owners, [], |row| row.get(0)).unwrap();
    let everyone: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM users WHERE role = 'OWNER' AND state = 'ACTIVE'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(count, everyone);
    assert!(count > 0);
}
