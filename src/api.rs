//! Every request the page makes, in one place. Components call these functions; they never build
//! URLs or parse JSON themselves.

use js_sys::{JSON, Reflect};
use keydesk_api::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, AccountId, AuditPage, AuditQuery,
    AuditVerification, BeginRecoveryRequest, BeginRecoveryResponse, ListUsersParams,
    ListUsersResponse, OutboxMessage, OutboxResponse, PageConfig, RecoveryLinkInfo, RecoveryToken,
    Session, StateCounts, User, UserId, UserMethod, begin_recovery_path, users_path,
};
use leptos::prelude::window;
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

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
    /// What the browser said is in its console: "TypeError: Failed to fetch" helps nobody here.
    #[error("Keydesk could not be reached. Check your connection and try again.")]
    Network,
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

/// Sends a request now; [`answer`] waits for it. (`fetch` itself rather than gloo-net's wrapper: a
/// few kilobytes less for every admin.)
fn start(url: &str, json_body: Option<String>) -> Result<JsFuture, ApiFailure> {
    let init = RequestInit::new();
    if let Some(body) = json_body {
        let headers = Headers::new().map_err(network)?;
        headers
            .set("content-type", "application/json")
            .map_err(network)?;
        init.set_method("POST");
        init.set_headers(&headers);
        init.set_body(&JsValue::from(body));
    }
    Ok(JsFuture::from(window().fetch_with_str_and_init(url, &init)))
}

/// The answer's text; a failure answer becomes its [`ApiFailure`]. Not generic, and neither is
/// the waiting: each answer type adds only its own JSON decoding to the page.
async fn answer(request: Result<JsFuture, ApiFailure>) -> Result<String, ApiFailure> {
    let response: Response = request?.await.map_err(network)?.unchecked_into();
    let body = match response.text() {
        Ok(text) => JsFuture::from(text).await.map(|text| text.as_string()),
        Err(err) => Err(err),
    };
    if response.ok() {
        return body
            .map_err(network)?
            .ok_or_else(|| ApiFailure::Unexpected("no text".to_owned()));
    }
    let code = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|value| value.trim().parse().ok());
    match body.ok().flatten().as_deref().and_then(error_fields) {
        Some((status, message)) => Err(ApiFailure::Server {
            code,
            status,
            message,
            retry_after,
        }),
        // A proxy in front of Keydesk may answer with its own page.
        None => Err(ApiFailure::Server {
            code,
            status: String::new(),
            message: format!("Keydesk answered {code} {}.", response.status_text()),
            retry_after,
        }),
    }
}

/// The status and message of a failure answer, `{"error": {"code", "status", "message"}}`
/// ([`keydesk_api::ApiError`]), read with the browser's own `JSON.parse`: serde's decoder for
/// that shape cost every admin a kilobyte of download, for the two strings the page shows.
fn error_fields(text: &str) -> Option<(String, String)> {
    let error = Reflect::get(&JSON::parse(text).ok()?, &"error".into()).ok()?;
    let field = |name: &str| Reflect::get(&error, &name.into()).ok()?.as_string();
    Some((field("status")?, field("message")?))
}

fn decode<T: DeserializeOwned>(body: &str) -> Result<T, ApiFailure> {
    serde_json::from_str(body).map_err(|err| ApiFailure::Unexpected(err.to_string()))
}

impl ApiFailure {
    /// Refused for a reason that asking again will not change (a rule, a state, a permission,
    /// bad input), unlike a busy or unreachable server.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ApiFailure::Server { code, .. } if (400..500).contains(code) && *code != 429)
    }
}

/// A request that could not be made: what the browser said goes to its console, for whoever
/// debugs; the person is told what to do.
fn network(err: JsValue) -> ApiFailure {
    leptos::logging::warn!("request failed: {err:?}");
    ApiFailure::Network
}

/// `path?name=value&…`, each value encoded.
fn with_query(path: &str, pairs: Vec<(&str, &str)>) -> String {
    let mut url = path.to_owned();
    for (index, (name, value)) in pairs.into_iter().enumerate() {
        url.push(if index == 0 { '?' } else { '&' });
        url.push_str(name);
        url.push('=');
        url.push_str(&String::from(js_sys::encode_uri_component(value)));
    }
    url
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiFailure> {
    decode(&answer(start(url, None)).await?)
}

async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    let body =
        serde_json::to_string(body).map_err(|err| ApiFailure::Unexpected(err.to_string()))?;
    decode(&answer(start(path, Some(body))).await?)
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

/// The page's handle on the admin API of one account, for the person signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub account: AccountId,
    /// Which directory backend answers.
    pub directory: keydesk_api::DirectoryKind,
    pub session: Session,
    /// Upstream only: where recoveries are completed, since no public interface can.
    pub admin_console_url: Option<String>,
}

impl Client {
    /// Ask the server who is signed in and which account it manages.
    pub async fn connect() -> Result<Client, ApiFailure> {
        // Together, not one after the other: both stand between the person and the first row.
        let session = start("/api/session", None);
        let config = start("/api/config", None);
        let session: Session = decode(&answer(session).await?)?;
        let config: PageConfig = decode(&answer(config).await?)?;
        Ok(Client {
            account: config.account_id,
            directory: config.directory,
            session,
            admin_console_url: config.admin_console_url,
        })
    }

    /// Audit records matching the filters, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ApiFailure> {
        get(&with_query("/api/audit", query.pairs())).await
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
        get(&with_query(&users_path(&self.account), params.pairs())).await
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
        // The custom methods take no parameters: their body is `{}`.
        let request = start(&method.path(&self.account, user), Some("{}".to_owned()));
        decode(&answer(request).await?)
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
