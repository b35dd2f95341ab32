//! The embedded directory's schema. Migrations are versioned with SQLite's `user_version`; add new
//! ones at the end, never edit a released one.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        "CREATE TABLE users (
            id           TEXT PRIMARY KEY,
            email        TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            state        TEXT NOT NULL,
            user_type    TEXT NOT NULL,
            role         TEXT NOT NULL,
            create_time  TEXT NOT NULL,
            update_time  TEXT NOT NULL,
            -- Derived keys, written with the row: sorting and searching ignore case and accents.
            name_key     TEXT NOT NULL,
            email_key    TEXT NOT NULL,
            search_key   TEXT NOT NULL
        );
        CREATE INDEX users_by_name ON users (name_key, id);
        CREATE INDEX users_by_email ON users (email_key, id);
        CREATE INDEX users_by_state ON users (state, name_key, id);
        CREATE INDEX users_by_create_time ON users (create_time, id);
        -- Settings the server keeps between runs, such as the key that signs page tokens.
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value BLOB NOT NULL
        );",
    )])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
