//! Every request the page makes, in one place. Components call these functions; they never build
//! URLs or parse JSON themselves.

use gloo_net::http::{Request, RequestBuilder, Response};
use js_sys::{JSON, Reflect};
use keydesk_api::{
    AcceptRecoveryRequest, AcceptRecoveryResponse, AccountId, AuditPage, AuditQuery,
    AuditVerification, Availability, BeginRecoveryRequest, BeginRecoveryResponse, ChangeRules,
    LastChange, ListUsersParams, ListUsersResponse, MethodRequest, OutboxMessage, OutboxResponse,
    PageConfig, RecoveryLinkInfo, RecoveryToken, ScheduleRequest, ScheduledChange, ScheduledList,
    Session, StateCounts, User, UserId, UserMethod, begin_recovery_path, users_path,
};
use leptos::prelude::on_cleanup;
use serde::{Serialize, de::DeserializeOwned};
use web_sys::{AbortController, AbortSignal};

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
    /// Most likely a server newer than this page. serde's own explanation is not kept: its
    /// formatting cost every admin kilobytes of download, and it would not help them.
    #[error(
        "Keydesk answered with something this page does not understand. Reload the page: Keydesk may have been updated."
    )]
    Unexpected,
}

impl ApiFailure {
    /// The HTTP status of a server error, if the server answered at all.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiFailure::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// When the server is not ready yet and says when to ask again (503 with `Retry-After`:
    /// upstream, the first reading of 1Password is under way): seconds to wait.
    pub fn ready_in(&self) -> Option<u32> {
        match self {
            ApiFailure::Server {
                code: 503,
                retry_after,
                ..
            } => *retry_after,
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

/// A request sent now through gloo-net; [`answer`] waits for it. A read is aborted when the
/// reactive owner that asked for it is cleaned up (a newer search, a page left), so a late answer
/// can never overwrite a newer one. A change is never aborted: the server carries it out anyway,
/// and the page must hear how it went.
fn start(request: RequestBuilder, json_body: Option<String>) -> Pending {
    let sent = match json_body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(body),
        None => request.abort_signal(abort_on_cleanup().as_ref()).build(),
    }
    .map(Request::send);
    Box::pin(async move { sent.map_err(network)?.await.map_err(network) })
}

type Pending = std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiFailure>>>>;

/// An abort signal that fires when the current reactive owner is cleaned up.
fn abort_on_cleanup() -> Option<AbortSignal> {
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    on_cleanup(move || controller.abort());
    Some(signal)
}

/// The answer's text; a failure answer becomes its [`ApiFailure`]. Not generic, and neither is
/// the waiting: each answer type adds only its own JSON decoding to the page.
async fn answer(request: Pending) -> Result<String, ApiFailure> {
    let response = request.await?;
    let body = response.text().await;
    if response.ok() {
        return body.map_err(network);
    }
    let code = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.trim().parse().ok());
    match body.ok().as_deref().and_then(error_fields) {
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

/// An answer's JSON as a `T` (json.rs: parsed by the browser, without serde_json).
fn decode<T: DeserializeOwned>(body: &str) -> Result<T, ApiFailure> {
    crate::json::from_str(body).ok_or(ApiFailure::Unexpected)
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
fn network(err: gloo_net::Error) -> ApiFailure {
    // Not through `Display`, which costs every admin 0.6 KB of download.
    let reason = match err {
        gloo_net::Error::JsError(err) => err.message,
        gloo_net::Error::GlooError(reason) => reason,
        // Only from gloo-net's own JSON decoding, which the page does not use.
        _ => "unreadable answer".to_owned(),
    };
    leptos::leptos_dom::logging::console_warn(&reason);
    ApiFailure::Network
}

/// `path?name=value&…`, built by the browser's `URLSearchParams` (inside gloo-net).
fn get<T: DeserializeOwned>(
    path: &str,
    query: Vec<(&str, &str)>,
) -> impl Future<Output = Result<T, ApiFailure>> + use<T> {
    // Sent now, inside the caller's reactive owner, which is what aborts it.
    let request = start(Request::get(path).query(query), None);
    async move { decode(&answer(request).await?) }
}

async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    let body = serde_json::to_string(body).map_err(|_| ApiFailure::Unexpected)?;
    decode(&answer(start(Request::post(path), Some(body))).await?)
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
    /// What every change must carry.
    pub rules: ChangeRules,
    /// Whether recovery could be begun when the page connected (see [`crate::readiness`]).
    pub recovery: Availability,
    /// Whether people could be suspended and reactivated when the page connected.
    pub state_changes: Availability,
}

impl Client {
    /// Ask the server who is signed in and which account it manages.
    pub async fn connect() -> Result<Client, ApiFailure> {
        // Together, not one after the other: both stand between the person and the first row.
        // A request is sent when it is first polled: joined, both are polled at once.
        let (session, config) = futures::future::join(
            answer(start(Request::get("/api/session"), None)),
            answer(start(Request::get("/api/config"), None)),
        )
        .await;
        let session: Session = decode(&session?)?;
        let config: PageConfig = decode(&config?)?;
        Ok(Client {
            account: config.account_id,
            directory: config.directory,
            session,
            admin_console_url: config.admin_console_url,
            rules: config.changes,
            recovery: config.recovery,
            state_changes: config.state_changes,
        })
    }

    /// The server's configuration for the page, read again (what can be done now).
    pub async fn config(&self) -> Result<PageConfig, ApiFailure> {
        get("/api/config", Vec::new()).await
    }

    /// Audit records matching the filters, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, ApiFailure> {
        get("/api/audit", query.pairs()).await
    }

    /// Whether the audit chain is intact.
    pub async fn verify_audit(&self) -> Result<AuditVerification, ApiFailure> {
        get("/api/audit/verify", Vec::new()).await
    }

    /// One page of users.
    pub async fn list_users(
        &self,
        params: &ListUsersParams,
    ) -> Result<ListUsersResponse, ApiFailure> {
        get(&users_path(&self.account), params.pairs()).await
    }

    /// One user, as they are now.
    pub async fn get_user(&self, user: &UserId) -> Result<User, ApiFailure> {
        get(&format!("{}/{user}", users_path(&self.account)), Vec::new()).await
    }

    /// Run a custom method (`:suspend`, `:completeRecovery`, …) on one user; the user as they
    /// now are.
    pub async fn call_user_method(
        &self,
        method: UserMethod,
        user: &UserId,
        note: &MethodRequest,
    ) -> Result<User, ApiFailure> {
        // 1Password completes recoveries only in its admin console: Keydesk records the
        // confirmed checks, and the page opens the console.
        if method == UserMethod::CompleteRecovery && self.admin_console().is_some() {
            return post(&format!("/api/users/{user}/confirm-identity"), note).await;
        }
        post(&method.path(&self.account, user), note).await
    }

    /// Upstream: where recoveries are completed (`Some("")` when the URL is not configured).
    pub fn admin_console(&self) -> Option<&str> {
        (self.directory == keydesk_api::DirectoryKind::Upstream)
            .then(|| self.admin_console_url.as_deref().unwrap_or_default())
    }

    /// Begin recovery for everyone named (by ID). The embedded directory begins for all or
    /// none; upstream, `op` may fail for some, who come back in `failures`.
    pub async fn begin_recovery(
        &self,
        users: &[User],
        note: &MethodRequest,
    ) -> Result<BeginRecoveryResponse, ApiFailure> {
        let request = BeginRecoveryRequest {
            users: users.iter().map(|user| user.id.to_string()).collect(),
            reason: note.reason.clone(),
            ticket: note.ticket.clone(),
        };
        post(&begin_recovery_path(&self.account), &request).await
    }

    /// How many people are in each state.
    pub async fn state_counts(&self) -> Result<StateCounts, ApiFailure> {
        get("/api/state-counts", Vec::new()).await
    }

    /// Why `user` is in their state: the change that put them there, if Keydesk made it.
    pub async fn last_change(&self, user: &UserId) -> Result<Option<LastChange>, ApiFailure> {
        get(&format!("/api/users/{user}/last-change"), Vec::new()).await
    }

    /// Schedule a suspension or reactivation.
    pub async fn schedule(&self, request: &ScheduleRequest) -> Result<ScheduledChange, ApiFailure> {
        post("/api/scheduled", request).await
    }

    /// What is scheduled, of one person if given.
    pub async fn scheduled(&self, user: Option<&UserId>) -> Result<ScheduledList, ApiFailure> {
        let query = user
            .map(|id| vec![("user_id", id.as_str())])
            .unwrap_or_default();
        get("/api/scheduled", query).await
    }

    /// Cancel a scheduled change (`run`: make it now instead).
    pub async fn settle_scheduled(&self, id: i64, run: bool) -> Result<(), ApiFailure> {
        let verb = if run { "run" } else { "cancel" };
        let path = format!("/api/scheduled/{id}/{verb}");
        let _: serde::de::IgnoredAny = post(&path, &()).await?;
        Ok(())
    }

    /// The emails the embedded directory sent or holds.
    pub async fn outbox(&self) -> Result<Vec<OutboxMessage>, ApiFailure> {
        let response: OutboxResponse = get("/api/outbox", Vec::new()).await?;
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
