//! Every request the page makes, in one place. Components call these functions; they never build
//! URLs or parse JSON themselves.

use gloo_net::http::{Request, Response};
use keydesk_api::{
    AccountId, ApiError, ListUsersParams, ListUsersResponse, PageConfig, User, UserId, UserMethod,
    users_path,
};
use serde::de::DeserializeOwned;

/// Why a request failed, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiFailure {
    /// The server answered with its JSON error: its message is shown as it is.
    #[error("{message}")]
    Server {
        code: u16,
        status: String,
        message: String,
    },
    #[error("Keydesk could not be reached ({0}). Check your connection and try again.")]
    Network(String),
    #[error("Keydesk answered with something this page does not understand ({0}).")]
    Unexpected(String),
}

impl ApiFailure {
    /// The HTTP status of a server error, if the server answered at all.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiFailure::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiFailure> {
    if response.ok() {
        return response
            .json::<T>()
            .await
            .map_err(|err| ApiFailure::Unexpected(err.to_string()));
    }
    let code = response.status();
    let status_text = response.status_text();
    match response.json::<ApiError>().await {
        Ok(ApiError { error }) => Err(ApiFailure::Server {
            code,
            status: error.status,
            message: error.message,
        }),
        // A proxy in front of Keydesk may answer with its own page.
        Err(_) => Err(ApiFailure::Server {
            code,
            status: String::new(),
            message: format!("Keydesk answered {code} {status_text}."),
        }),
    }
}

fn network(err: gloo_net::Error) -> ApiFailure {
    ApiFailure::Network(err.to_string())
}

/// The page's handle on the admin API of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub account: AccountId,
    /// `embedded` or `upstream`.
    pub directory: String,
}

impl Client {
    /// Ask the server which account it manages.
    pub async fn connect() -> Result<Client, ApiFailure> {
        let response = Request::get("/api/config").send().await.map_err(network)?;
        let config: PageConfig = decode(response).await?;
        Ok(Client {
            account: config.account_id,
            directory: config.directory,
        })
    }

    /// One page of users.
    pub async fn list_users(
        &self,
        params: &ListUsersParams,
    ) -> Result<ListUsersResponse, ApiFailure> {
        let response = Request::get(&users_path(&self.account))
            .query(params.pairs())
            .send()
            .await
            .map_err(network)?;
        decode(response).await
    }

    /// One user, as they are now.
    pub async fn get_user(&self, user: &UserId) -> Result<User, ApiFailure> {
        let response = Request::get(&format!("{}/{user}", users_path(&self.account)))
            .send()
            .await
            .map_err(network)?;
        decode(response).await
    }

    /// Run a custom method (`:suspend`, `:reactivate`) on one user; the user as they now are.
    pub async fn call_user_method(
        &self,
        method: UserMethod,
        user: &UserId,
    ) -> Result<User, ApiFailure> {
        let response = Request::post(&method.path(&self.account, user))
            .header("Content-Type", "application/json")
            .body("{}")
            .map_err(network)?
            .send()
            .await
            .map_err(network)?;
        decode(response).await
    }
}
