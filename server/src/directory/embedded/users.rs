//! One user's row: reading it, and the rules for changing its state.

use keydesk_api::{
    AccountId, OrderField, Role, User, UserId, UserMethod, UserState, UserType, user_resource_name,
};
use rusqlite::{Connection, OptionalExtension};

use super::text;
use crate::directory::DirectoryError;

pub const USER_COLUMNS: &str = "id, email, display_name, state, user_type, role, create_time, \
     update_time, recovery_started_time, two_factor_enabled, signed_in_devices, recovery_started_by";

/// Now, as the directory writes times: RFC 3339 to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The text search matches: the folded name, the folded email, the ID.
pub fn search_key(name_key: &str, email: &str, id: &str) -> String {
    format!("{name_key}\n{}\n{}", text::fold(email), id.to_lowercase())
}

pub fn row_to_user(account: &AccountId, row: &rusqlite::Row) -> rusqlite::Result<User> {
    let id = UserId::parse(row.get_ref(0)?.as_str()?).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    })?;
    Ok(User {
        path: user_resource_name(account, &id),
        id,
        email: row.get(1)?,
        display_name: row.get(2)?,
        state: UserState::parse(row.get_ref(3)?.as_str()?),
        user_type: Some(UserType::parse(row.get_ref(4)?.as_str()?)),
        role: Some(Role::parse(row.get_ref(5)?.as_str()?)),
        create_time: row.get(6)?,
        update_time: Some(row.get(7)?),
        recovery_started_time: row.get(8)?,
        two_factor_enabled: Some(row.get(9)?),
        signed_in_devices: Some(row.get(10)?),
        recovery_started_by: row.get(11)?,
    })
}

pub fn load_user(
    conn: &Connection,
    account: &AccountId,
    id: &UserId,
) -> Result<User, DirectoryError> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id.as_str()],
        |row| row_to_user(account, row),
    )
    .optional()?
    .ok_or_else(|| DirectoryError::NotFound(id.clone()))
}

pub fn describe(user: &User) -> String {
    format!("{} <{}>", user.display_name, user.email)
}

/// Where `method` takes someone in `user`'s state, by `keydesk_api`'s rules (the page offers by
/// the same ones): `None` when they are there already, or why not.
fn decide(
    user: &User,
    method: UserMethod,
    to: UserState,
    only_from: &str,
) -> Result<Option<UserState>, DirectoryError> {
    if !method.allowed_from(&user.state) {
        return Err(DirectoryError::FailedPrecondition(format!(
            "{} cannot be {done}: their state is {}, and only {only_from} user can be {done}",
            describe(user),
            user.state.label(),
            done = method.done(),
        )));
    }
    Ok((user.state != to).then_some(to))
}

/// How many active owners there are, through the partial index of them: a few rows. Left to
/// itself, SQLite read every active person through the state index instead (0.3 s and 700 MB of
/// the file mapped at a million people, on every count of states).
pub const ACTIVE_OWNERS: &str = "SELECT COUNT(*) FROM users INDEXED BY users_active_owners \
                                 WHERE role = 'OWNER' AND state = 'ACTIVE'";

pub fn decide_suspend(
    user: &User,
    tx: &rusqlite::Transaction,
) -> Result<Option<UserState>, DirectoryError> {
    let next = decide(user, UserMethod::Suspend, UserState::Suspended, "an Active")?;
    if next.is_some() && user.role == Some(Role::Owner) {
        let other_owners: i64 = tx.query_row(
            &format!("{ACTIVE_OWNERS} AND id != ?1"),
            [user.id.as_str()],
            |row| row.get(0),
        )?;
        if other_owners == 0 {
            return Err(DirectoryError::FailedPrecondition(format!(
                "{} is the last active owner of this account and cannot be suspended; make \
                 someone else an owner first",
                describe(user)
            )));
        }
    }
    Ok(next)
}

pub fn decide_reactivate(
    user: &User,
    _tx: &rusqlite::Transaction,
) -> Result<Option<UserState>, DirectoryError> {
    decide(
        user,
        UserMethod::Reactivate,
        UserState::Active,
        "a Suspended",
    )
}

pub fn sort_column(field: OrderField) -> &'static str {
    match field {
        OrderField::DisplayName => "name_key",
        OrderField::Email => "email_key",
        OrderField::State => "state",
        OrderField::CreateTime => "create_time",
    }
}
