//! Every request the page makes, in one place. Components call these functions; they never build
//! URLs or parse JSON themselves.

use gloo_net::http::{Request, Response};
use keydesk_api::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, AccountId, ApiError, BeginRecoveryRequest,
    BeginRecoveryResponse, ListUsersParams, ListUsersResponse, OutboxMessage, OutboxResponse,
    PageConfig, RecoveryLinkInfo, RecoveryToken, StateCounts, User, UserId, UserMethod,
    begin_recovery_path, users_path,
};
use serde::{Serialize, de::DeserializeOwned};

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

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    decode(Request::get(path).send().await.map_err(network)?).await
}

async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    let request = Request::post(path).json(body).map_err(network)?;
    decode(request.send().await.map_err(network)?).await
}

/// The person's side of a recovery link: who it is for.
pub async fn inspect_recovery_link(token: &str) -> Result<RecoveryLinkInfo, ApiFailure> {
    post(
        "/api/recovery:inspect",
        &RecoveryToken {
            token: token.to_owned(),
        },
    )
    .await
}

/// The person's side: confirm the email, set the password; the new Secret Key comes back.
pub async fn accept_recovery_link(
    request: &AcceptRecoveryRequest,
) -> Result<AcceptRecoveryResponse, ApiFailure> {
    post("/api/recovery:accept", request).await
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
        let config: PageConfig = get("/api/config").await?;
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
        get(&format!("{}/{user}", users_path(&self.account))).await
    }

    /// Run a custom method (`:suspend`, `:completeRecovery`, …) on one user; the user as they
    /// now are.
    pub async fn call_user_method(
        &self,
        method: UserMethod,
        user: &UserId,
    ) -> Result<User, ApiFailure> {
        post(&method.path(&self.account, user), &serde_json::json!({})).await
    }

    /// Begin recovery for everyone named (by ID), or for nobody.
    pub async fn begin_recovery(&self, users: &[User]) -> Result<Vec<User>, ApiFailure> {
        let request = BeginRecoveryRequest {
            users: users.iter().map(|user| user.id.to_string()).collect(),
        };
        let response: BeginRecoveryResponse =
            post(&begin_recovery_path(&self.account), &request).await?;
        Ok(response.users)
    }

    /// How many people are in each state.
    pub async fn state_counts(&self) -> Result<StateCounts, ApiFailure> {
        get("/api/state-counts").await
    }

    /// The emails the embedded directory sent or holds.
    pub async fn outbox(&self) -> Result<Vec<OutboxMessage>, ApiFailure> {
        let response: OutboxResponse = get("/api/outbox").await?;
        Ok(response.messages)
    }
}
