//! The embedded directory's schema. Migrations are versioned with SQLite's `user_version`; add new
//! ones at the end, never edit a released one.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
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
        ),
        // Account recovery: the person's link (only its hash), the credentials they set, what
        // completing resets, and the emails waiting to go out (written in the same transaction
        // as the change they announce, so a change is never without its email or the reverse).
        M::up(
            "ALTER TABLE users ADD COLUMN recovery_started_time TEXT;
            ALTER TABLE users ADD COLUMN recovery_completed_time TEXT;
            ALTER TABLE users ADD COLUMN two_factor_enabled INTEGER NOT NULL DEFAULT 1;
            ALTER TABLE users ADD COLUMN signed_in_devices INTEGER NOT NULL DEFAULT 2;
            UPDATE users SET recovery_started_time = update_time
                WHERE state IN ('RECOVERY_STARTED', 'RECOVERY_ACCEPTED');
            CREATE TABLE recovery_links (
                token_hash   TEXT PRIMARY KEY,
                user_id      TEXT NOT NULL REFERENCES users (id),
                create_time  TEXT NOT NULL,
                expire_time  TEXT NOT NULL,
                used_time    TEXT,
                revoked_time TEXT
            );
            CREATE INDEX recovery_links_by_user ON recovery_links (user_id);
            CREATE TABLE credentials (
                user_id         TEXT PRIMARY KEY REFERENCES users (id),
                password_hash   TEXT NOT NULL,
                secret_key_hash TEXT NOT NULL,
                update_time     TEXT NOT NULL
            );
            CREATE TABLE outbox (
                id          INTEGER PRIMARY KEY,
                to_address  TEXT NOT NULL,
                subject     TEXT NOT NULL,
                body        TEXT NOT NULL,
                link        TEXT,
                create_time TEXT NOT NULL,
                sent_time   TEXT,
                last_error  TEXT
            );",
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
