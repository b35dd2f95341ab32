//! Request handlers, one module per resource.

mod as_1password;
pub mod audit;
pub mod events;
pub mod export;
pub mod meta;
pub mod oauth;
pub mod recovery;
pub mod schedule;
pub mod users;

/// The account in a path (`{account_id}`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountParams {
    /// The account's ID.
    #[param(schema_with = keydesk_api::openapi::id_schema)]
    #[allow(dead_code)] // described, never read
    account_id: String,
}

/// The account and the user in a path (`{account_id}`, `{user_id}`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserParams {
    /// The account's ID.
    #[param(schema_with = keydesk_api::openapi::id_schema)]
    #[allow(dead_code)] // described, never read
    account_id: String,
    /// The user's ID.
    #[param(schema_with = keydesk_api::openapi::id_schema)]
    #[allow(dead_code)]
    user_id: String,
}
