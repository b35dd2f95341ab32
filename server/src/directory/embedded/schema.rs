//! The embedded directory's schema. Migrations are versioned with SQLite's `user_version`; add new
//! ones at the end, never edit a released one.

use rusqlite_migration::{M, Migrations};

/// `keydesk-server generate` inserts its users once this many migrations have run, then runs the
/// rest, so that the search index and the sort indexes are built over everyone in one pass each.
/// The users table must take `insert_users` by then.
pub const GENERATE_BEFORE: usize = 2;

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
        // Search and sort at 100,000 people (see `listing`). `users_search` indexes every
        // three-character sequence of the folded search text, so `q` finds a substring without
        // reading every row. It keeps only the index and reads the text from `users` by rowid
        // (external content); the triggers keep it in step with every write, including writes
        // made outside Keydesk. `users` has no INTEGER PRIMARY KEY, so a VACUUM that renumbered
        // its rowids would need `INSERT INTO users_search (users_search) VALUES ('rebuild')`.
        // The text is folded already, so the index compares exactly (`case_sensitive 1`).
        // The indexes let every sort order, with or without a state filter, walk in order
        // instead of sorting everyone: (state, id) is the state order's own. `users_version`
        // changes whenever someone could move in a sort order or change state: the server keeps
        // everyone's places in memory as of a version (`listing::Memory`). The page asks how
        // many people are in each state on every load and after every change: counting them
        // read the whole state index, so triggers keep the counts instead.
        M::up(
            "CREATE VIRTUAL TABLE users_search USING fts5(
                search_key, content = 'users', tokenize = 'trigram case_sensitive 1'
            );
            INSERT INTO users_search (users_search) VALUES ('rebuild');
            CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
                INSERT INTO users_search (rowid, search_key) VALUES (new.rowid, new.search_key);
            END;
            CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
                INSERT INTO users_search (users_search, rowid, search_key)
                    VALUES ('delete', old.rowid, old.search_key);
            END;
            CREATE TRIGGER users_search_update AFTER UPDATE OF search_key ON users BEGIN
                INSERT INTO users_search (users_search, rowid, search_key)
                    VALUES ('delete', old.rowid, old.search_key);
                INSERT INTO users_search (rowid, search_key) VALUES (new.rowid, new.search_key);
            END;
            CREATE INDEX users_by_state_id ON users (state, id);
            CREATE INDEX users_by_state_email ON users (state, email_key, id);
            CREATE INDEX users_by_state_create_time ON users (state, create_time, id);
            CREATE TABLE users_version (version INTEGER NOT NULL);
            INSERT INTO users_version (version) VALUES (0);
            CREATE TRIGGER users_version_insert AFTER INSERT ON users BEGIN
                UPDATE users_version SET version = version + 1;
            END;
            CREATE TRIGGER users_version_delete AFTER DELETE ON users BEGIN
                UPDATE users_version SET version = version + 1;
            END;
            CREATE TRIGGER users_version_update
                AFTER UPDATE OF id, state, name_key, email_key, create_time ON users BEGIN
                UPDATE users_version SET version = version + 1;
            END;
            CREATE TABLE user_state_counts (
                state TEXT PRIMARY KEY,
                count INTEGER NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO user_state_counts (state, count)
                SELECT state, count(*) FROM users GROUP BY state;
            CREATE TRIGGER user_state_counts_insert AFTER INSERT ON users BEGIN
                INSERT INTO user_state_counts (state, count) VALUES (new.state, 1)
                    ON CONFLICT (state) DO UPDATE SET count = count + 1;
            END;
            CREATE TRIGGER user_state_counts_delete AFTER DELETE ON users BEGIN
                UPDATE user_state_counts SET count = count - 1 WHERE state = old.state;
            END;
            CREATE TRIGGER user_state_counts_update AFTER UPDATE OF state ON users
                WHEN old.state IS NOT new.state BEGIN
                UPDATE user_state_counts SET count = count - 1 WHERE state = old.state;
                INSERT INTO user_state_counts (state, count) VALUES (new.state, 1)
                    ON CONFLICT (state) DO UPDATE SET count = count + 1;
            END;",
        ),
        // Search moved into memory (`text_index`): the FTS5 table cost a write per text and
        // 1.5 ms per common search. `users_text_version` changes whenever a search text could
        // have: the server keeps everyone's texts in memory as of a version, and a state change
        // does not touch them.
        M::up(
            "DROP TRIGGER users_search_insert;
            DROP TRIGGER users_search_delete;
            DROP TRIGGER users_search_update;
            DROP TABLE users_search;
            CREATE TABLE users_text_version (version INTEGER NOT NULL);
            INSERT INTO users_text_version (version) VALUES (0);
            CREATE TRIGGER users_text_version_insert AFTER INSERT ON users BEGIN
                UPDATE users_text_version SET version = version + 1;
            END;
            CREATE TRIGGER users_text_version_delete AFTER DELETE ON users BEGIN
                UPDATE users_text_version SET version = version + 1;
            END;
            CREATE TRIGGER users_text_version_update AFTER UPDATE OF search_key ON users
                WHEN old.search_key IS NOT new.search_key BEGIN
                UPDATE users_text_version SET version = version + 1;
            END;",
        ),
        // `users_row_version` changes at every write to `users`, whatever the column: the
        // server keeps the users it last listed in memory as of a version (`listing::Memory`).
        M::up(
            "CREATE TABLE users_row_version (version INTEGER NOT NULL);
            INSERT INTO users_row_version (version) VALUES (0);
            CREATE TRIGGER users_row_version_insert AFTER INSERT ON users BEGIN
                UPDATE users_row_version SET version = version + 1;
            END;
            CREATE TRIGGER users_row_version_delete AFTER DELETE ON users BEGIN
                UPDATE users_row_version SET version = version + 1;
            END;
            CREATE TRIGGER users_row_version_update AFTER UPDATE ON users BEGIN
                UPDATE users_row_version SET version = version + 1;
            END;",
        ),
        // The page asks after every change how many owners are ACTIVE (the last one cannot be
        // suspended), and every owner's suspension counts the others: a few rows, not everyone.
        M::up(
            "CREATE INDEX users_active_owners ON users (id) WHERE role = 'OWNER' AND state = 'ACTIVE';",
        ),
        // Who began a person's recovery: with four eyes, someone else must complete it.
        M::up("ALTER TABLE users ADD COLUMN recovery_started_by TEXT;"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
