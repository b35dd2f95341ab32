//! Who is acting. Until the SSO proxy integration, the development identity from the
//! configuration acts for every request.

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{AppState, error::AppError};

/// The signed-in person.
#[derive(Clone, Debug)]
pub struct Actor {
    pub email: String,
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = AppError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Actor {
            email: state.dev_user.clone(),
        })
    }
}
