//! Every request the page makes, in one place. Components call these functions; they never build
//! URLs or parse JSON themselves.

use gloo_net::http::{Request, Response};
use keydesk_api::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, AccountId, ApiError, AuditPage, AuditQuery,
    AuditVerification, BeginRecoveryRequest, BeginRecoveryResponse, ListUsersParams,
    ListUsersResponse, OutboxMessage, OutboxResponse, PageConfig, RecoveryLinkInfo, RecoveryToken,
    Session, StateCounts, User, UserId, UserMethod, begin_recovery_path, users_path,
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
        /// For 429: how many seconds the server asks the page to wait.
        retry_after: Option<u32>,
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

    /// When the server limits how fast a person acts: seconds to wait.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiFailure::Server {
                code: 429,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(5)),
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
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.trim().parse().ok());
    match response.json::<ApiError>().await {
        Ok(ApiError { error }) => Err(ApiFailure::Server {
            code,
            status: error.status,
            message: error.message,
            retry_after,
        }),
        // A proxy in front of Keydesk may answer with its own page.
        Err(_) => Err(ApiFailure::Server {
            code,
            status: String::new(),
            message: format!("Keydesk answered {code} {status_text}."),
            retry_after,
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

/// The custom methods take no parameters: their body is `{}`. (A typed empty struct rather than
/// `serde_json::json!({})`, which would ship serde_json's `Value` to every browser.)
#[derive(Serialize)]
struct NoParameters {}

/// The page's handle on the admin API of one account, for the person signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub account: AccountId,
    /// `embedded` or `upstream`.
    pub directory: String,
    pub session: Session,
    /// Upstream only: where recoveries are completed, since no public interface can.
    pub admin_console_url: Option<String>,
}

impl Client {
    /// Ask the server who is signed in and which account it manages.
    pub async fn connect() -> Result<Client, ApiFailure> {
        // Together, not one after the other: both stand between the person and the first row.
        let (session, config) = futures::join!(
            get::<Session>("/api/session"),
            get::<PageConfig>("/api/config")
        );
        let (session, config) = (session?, config?);
        Ok(Client {
            account: config.account_id,
            directory: config.directory,
            session,
            admin_console_url: config.admin_console_url,
        })
    }

    /// Audit records matching the filters, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ApiFailure> {
        let response = Request::get("/api/audit")
            .query(query.pairs())
            .send()
            .await
            .map_err(network)?;
        decode(response).await
    }

    /// Whether the audit chain is intact.
    pub async fn verify_audit(&self) -> Result<AuditVerification, ApiFailure> {
        get("/api/audit/verify").await
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
        post(&method.path(&self.account, user), &NoParameters {}).await
    }

    /// Begin recovery for everyone named (by ID). The embedded directory begins for all or
    /// none; upstream, `op` may fail for some, who come back in `failures`.
    pub async fn begin_recovery(
        &self,
        users: &[User],
    ) -> Result<BeginRecoveryResponse, ApiFailure> {
        let request = BeginRecoveryRequest {
            users: users.iter().map(|user| user.id.to_string()).collect(),
        };
        post(&begin_recovery_path(&self.account), &request).await
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

/// Wait without blocking the page.
pub async fn sleep(milliseconds: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .expect("a browser window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, milliseconds as i32);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Run a request; when the server says the person is acting too fast, say so through `waiting`,
/// wait as long as it asks, and try again (a few times at most).
pub async fn patiently<T, F, Fut>(
    call: F,
    waiting: impl Fn(Option<String>),
) -> Result<T, ApiFailure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ApiFailure>>,
{
    for _ in 0..4 {
        match call().await {
            Err(err) if err.retry_after().is_some() => {
                let seconds = err.retry_after().unwrap_or(5);
                waiting(Some(format!(
                    "Keydesk limits how fast one person can act: trying again in {seconds} s…"
                )));
                sleep(seconds * 1000).await;
                waiting(None);
            }
            other => return other,
        }
    }
    call().await
}
