//! Extractors shared by the handlers: what several routes read from a request, read once.

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::request::Parts,
};
use keydesk_api::AccountId;

use crate::{AppState, error::AppError};

/// Proof that the account named in the path (`{account_id}`) is the one this Keydesk serves.
/// Handlers that audit every attempt take it as `Result<AccountPath, AppError>`, so that a wrong
/// account is refused inside the attempt, and recorded.
pub struct AccountPath;

impl FromRequestParts<AppState> for AccountPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|err| {
                AppError::invalid(format!("the path is malformed: {}", err.body_text()))
            })?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "account_id")
            .map(|(_, value)| value)
            .ok_or_else(|| AppError::invalid("the path names no account"))?;
        let account = AccountId::parse(raw)?;
        if account != state.account_id {
            return Err(AppError::not_found(format!(
                "account {account} is not managed by this Keydesk"
            )));
        }
        Ok(AccountPath)
    }
}
