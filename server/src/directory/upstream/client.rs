//! The 1Password Users API over HTTP: the OAuth token (fetched, cached, renewed before it runs
//! out, renewed once on a 401, revoked on shutdown), a timeout on every call, and patience with
//! a busy service (429 and 503, honouring `Retry-After`, up to a bound).
//!
//! Which calls may be repeated: GETs and the token grant, always. `:suspend` and `:reactivate`
//! are idempotent by the API's documentation, but a call whose answer was lost is not simply
//! sent again: the caller first reads the user to see whether it took effect (see
//! [`UsersApi::change`]).

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use keydesk_api::{AccountId, ListUsersResponse, User, UserId, users_path};
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{
    call::{Answer, CallError, decode, percent_encode, send, unknown_outcome},
    settings::UpstreamSettings,
};
use crate::directory::DirectoryError;

/// What Keydesk calls itself to 1Password.
pub const USER_AGENT: &str = concat!("Keydesk/", env!("CARGO_PKG_VERSION"));

/// The first wait before trying again when 1Password gives no `Retry-After`; it doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

pub struct UsersApi {
    http: reqwest::Client,
    base: String,
    account: AccountId,
    client_id: String,
    /// Never logged, never sent anywhere but the token endpoint.
    client_secret: String,
    token: Mutex<Option<Token>>,
    max_attempts: u32,
    max_retry_wait: Duration,
}

struct Token {
    value: String,
    /// Renew from this moment on: some time before it really expires.
    renew_at: Instant,
}

/// RFC 6749 §5.1.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl UsersApi {
    pub fn new(settings: &UpstreamSettings, client_secret: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .build()?;
        Ok(UsersApi {
            http,
            base: settings.base_url.trim_end_matches('/').to_owned(),
            account: settings.account_id.clone(),
            client_id: settings.client_id.clone(),
            client_secret,
            token: Mutex::new(None),
            max_attempts: settings.max_attempts,
            max_retry_wait: settings.max_retry_wait,
        })
    }

    /// One page of the account's users, up to 1000.
    pub async fn list_page(
        &self,
        page_token: Option<&str>,
    ) -> Result<ListUsersResponse, DirectoryError> {
        let mut url = format!(
            "{}{}?max_page_size=1000",
            self.base,
            users_path(&self.account)
        );
        if let Some(token) = page_token {
            url.push_str("&page_token=");
            url.push_str(&percent_encode(token));
        }
        let body = self.call(Method::GET, &url, true).await?;
        decode(&body)
    }

    /// Every user, walking the pages.
    pub async fn list_all(&self) -> Result<Vec<User>, DirectoryError> {
        let mut users = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let page = self.list_page(page_token.as_deref()).await?;
            users.extend(page.results);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != page_token.as_ref() => page_token = Some(next),
                Some(_) => {
                    return Err(DirectoryError::Unavailable(
                        "1Password answered the same page token twice".into(),
                    ));
                }
                None => return Ok(users),
            }
        }
    }

    pub async fn get(&self, id: &UserId) -> Result<User, DirectoryError> {
        let body = self.call(Method::GET, &self.user_url(id, ""), true).await?;
        decode(&body)
    }

    /// `:suspend` or `:reactivate`. If the answer is lost, the user is read to see whether the
    /// change happened (it is in `done`) before it is asked for again.
    pub async fn change(
        &self,
        id: &UserId,
        method: &str,
        done: impl Fn(&User) -> bool,
    ) -> Result<User, DirectoryError> {
        let url = self.user_url(id, &format!(":{method}"));
        let mut attempt = 1;
        loop {
            match self.call(Method::POST, &url, false).await {
                Ok(body) => return decode(&body),
                Err(CallError::Lost(why)) if attempt < self.max_attempts => {
                    tracing::warn!(%id, method, %why, "no answer from 1Password; reading the user before trying again");
                    let user = self
                        .get(id)
                        .await
                        .map_err(|_| unknown_outcome(id, method, &why))?;
                    if done(&user) {
                        return Ok(user);
                    }
                    crate::metrics::upstream_retry();
                    attempt += 1;
                }
                Err(CallError::Lost(why)) => return Err(unknown_outcome(id, method, &why)),
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Give the token back (on shutdown), so it does not outlive Keydesk.
    pub async fn revoke(&self) {
        let Some(token) = self.token.lock().await.take() else {
            return;
        };
        let result = self
            .http
            .post(format!("{}/v1beta1/users/oauth2/revoke", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token.value.as_str())])
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                tracing::info!("revoked the 1Password token");
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), "1Password refused to revoke the token");
            }
            Err(err) => tracing::warn!(error = %err, "could not revoke the 1Password token"),
        }
    }

    fn user_url(&self, id: &UserId, method: &str) -> String {
        format!(
            "{}{}/{}{method}",
            self.base,
            users_path(&self.account),
            id.as_str()
        )
    }

    /// One call with the bearer token, tried again as [`UsersApi::retried`] says; a lost answer
    /// only when `repeatable`.
    async fn call(&self, method: Method, url: &str, repeatable: bool) -> Result<String, CallError> {
        self.retried(repeatable, || self.call_once(method.clone(), url))
            .await
    }

    /// One try of a call: the token renewed once, at once, if 1Password answers 401 (expired or
    /// revoked early).
    async fn call_once(&self, method: Method, url: &str) -> Result<String, CallError> {
        let mut renewed = false;
        loop {
            // Already tried as many times as the policy allows: not to be tried again around it.
            let token = self
                .token()
                .await
                .map_err(|err| CallError::NoToken(Box::new(err)))?;
            let request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header(header::ACCEPT, "application/json");
            return match send(request).await {
                Answer::Response(status, _, body) if status.is_success() => Ok(body),
                Answer::Response(StatusCode::UNAUTHORIZED, _, _) if !renewed => {
                    self.forget(&token).await;
                    renewed = true;
                    continue;
                }
                Answer::Response(
                    status @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE),
                    retry_after,
                    body,
                ) => Err(CallError::Busy(status, retry_after, body)),
                Answer::Response(status, _, body) => Err(CallError::Refused(status, body)),
                Answer::Lost(why) => Err(CallError::Lost(why)),
            };
        }
    }

    /// The one retry policy of every call: a busy 1Password (429, 503) is waited for as its
    /// `Retry-After` says (or a doubling backoff from 250 ms), up to `max_attempts` tries; a
    /// `Retry-After` longer than `max_retry_wait` fails at once; a lost answer is tried again
    /// only when `repeatable`.
    async fn retried<T, F, Fut>(&self, repeatable: bool, once: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let max_wait = self.max_retry_wait;
        let policy = ExponentialBuilder::default()
            .with_min_delay(FIRST_BACKOFF)
            .with_max_delay(max_wait)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        once.retry(policy)
            .when(|err| match err {
                CallError::Busy(_, Some(wait), _) => *wait <= max_wait,
                CallError::Busy(_, None, _) => true,
                CallError::Lost(_) => repeatable,
                _ => false,
            })
            .adjust(|err, backoff| match err {
                CallError::Busy(_, Some(wait), _) => backoff.map(|_| (*wait).min(max_wait)),
                _ => backoff,
            })
            .notify(|_, _| crate::metrics::upstream_retry())
            .sleep(tokio::time::sleep)
            .await
    }

    /// The cached token, or a new one when it is about to run out.
    async fn token(&self) -> Result<String, CallError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let token = self.grant().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drop the cached token if it is still the one that was refused.
    async fn forget(&self, refused: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == refused) {
            *cached = None;
        }
    }

    /// The client-credentials grant, tried again like any repeatable call.
    async fn grant(&self) -> Result<Token, CallError> {
        self.retried(true, || self.grant_once()).await
    }

    async fn grant_once(&self) -> Result<Token, CallError> {
        let request = self
            .http
            .post(format!("{}/v1beta1/users/oauth2/token", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("grant_type", "client_credentials")]);
        match send(request).await {
            Answer::Response(status, _, body) if status.is_success() => {
                let token: TokenResponse = serde_json::from_str(&body)
                    .map_err(|err| CallError::Garbled(format!("the token response: {err}")))?;
                // Renew when a quarter of its life is left (3¾ minutes of 15), so a call never
                // leaves with a token about to die.
                let lifetime = Duration::from_secs(token.expires_in.unwrap_or(900));
                Ok(Token {
                    value: token.access_token,
                    renew_at: Instant::now() + lifetime * 3 / 4,
                })
            }
            // Busy says nothing about the credentials.
            Answer::Response(
                status @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE),
                retry_after,
                body,
            ) => Err(CallError::Busy(status, retry_after, body)),
            Answer::Response(status, retry_after, body) => {
                Err(CallError::Credentials(status, retry_after, body))
            }
            Answer::Lost(why) => Err(CallError::Lost(why)),
        }
    }
}
