//! One exchange with 1Password over HTTP, and what its failures mean: the answer or why there
//! was none, the status and message of a refusal, `Retry-After`, and how each failure reads for
//! the person who asked.

use std::time::{Duration, SystemTime};

use keydesk_api::UserId;
use reqwest::{StatusCode, header};

use crate::directory::DirectoryError;

/// One answer from 1Password, or why there was none.
pub enum Answer {
    Response(StatusCode, Option<Duration>, String),
    /// Timed out, refused, or dropped before a response arrived.
    Lost(String),
}

/// One exchange, counted in the metrics by its outcome.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let answer = exchange(request).await;
    crate::metrics::upstream_call(match &answer {
        Answer::Response(status, _, _) if status.is_success() => "success",
        Answer::Response(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE, _, _) => {
            "busy"
        }
        Answer::Response(..) => "refused",
        Answer::Lost(_) => "lost",
    });
    answer
}

async fn exchange(request: reqwest::RequestBuilder) -> Answer {
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Answer::Lost(describe_transport(&err)),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    match response.text().await {
        Ok(body) => Answer::Response(status, retry_after, body),
        Err(err) => Answer::Lost(describe_transport(&err)),
    }
}

fn describe_transport(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "it did not answer in time".into()
    } else if err.is_connect() {
        "it could not be reached".into()
    } else {
        "the connection broke before it answered".into()
    }
}

/// A change was sent and no answer came back, nor could the person be read since.
pub fn unknown_outcome(id: &UserId, method: &str, why: &str) -> DirectoryError {
    DirectoryError::OutcomeUnknown(format!(
        "1Password did not answer the {method} of {id} ({why}), so whether it took effect is not \
         known yet. Keydesk will read the person's state and record what it finds; look again \
         in a minute."
    ))
}

/// `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, DirectoryError> {
    serde_json::from_str(body).map_err(|err| {
        DirectoryError::Unavailable(format!("1Password's answer could not be read: {err}"))
    })
}

/// Why a call failed, before it is said to the person.
pub enum CallError {
    /// A definite answer other than success.
    Refused(StatusCode, String),
    /// 429 or 503 more often, or for longer, than Keydesk waits.
    Busy(StatusCode, Option<Duration>, String),
    /// No token: the client ID or secret is wrong, or the token endpoint failed.
    Credentials(StatusCode, Option<Duration>, String),
    Lost(String),
    Garbled(String),
    /// No token could be had (already tried again as the policy allows).
    NoToken(Box<CallError>),
}

/// The message in an error body, whatever its shape: 1Password does not publish it.
fn upstream_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text_at = |v: &serde_json::Value| {
        ["message", "error_description", "error", "detail"]
            .iter()
            .find_map(|key| v.get(key).and_then(|m| m.as_str()).map(str::to_owned))
    };
    // Flat (`{"message": …}`, OAuth's `{"error": …}`) or nested as Google-style APIs do
    // (`{"error": {"code": …, "message": …}}`).
    let field = parsed
        .as_ref()
        .and_then(|v| text_at(v).or_else(|| v.get("error").and_then(text_at)));
    let text = field.unwrap_or_else(|| body.trim().to_owned());
    let mut short: String = text.chars().take(200).collect();
    if short.is_empty() {
        short = "no details".into();
    }
    short
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

impl From<CallError> for DirectoryError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::NoToken(err) => (*err).into(),
            // How 1Password refuses an account with automated provisioning is not documented:
            // a refusal that names it is taken for it (the stand-in's is a 403 saying so).
            CallError::Refused(status, body)
                if status.is_client_error()
                    && upstream_message(&body)
                        .to_lowercase()
                        .contains("automated provisioning") =>
            {
                DirectoryError::AutomatedProvisioning
            }
            CallError::Refused(StatusCode::NOT_FOUND, body) => DirectoryError::Missing(format!(
                "1Password has no such user ({})",
                upstream_message(&body)
            )),
            CallError::Refused(
                status @ (StatusCode::BAD_REQUEST
                | StatusCode::CONFLICT
                | StatusCode::PRECONDITION_FAILED
                | StatusCode::UNPROCESSABLE_ENTITY),
                body,
            ) => DirectoryError::FailedPrecondition(format!(
                "1Password refused ({}): {}",
                status_text(status),
                upstream_message(&body)
            )),
            CallError::Refused(status, body) => DirectoryError::Upstream {
                message: format!(
                    "1Password answered {}: {}",
                    status_text(status),
                    upstream_message(&body)
                ),
                retry_after: None,
            },
            CallError::Busy(status, retry_after, body) => DirectoryError::Upstream {
                message: format!(
                    "1Password is busy ({}: {}); try again{}",
                    status_text(status),
                    upstream_message(&body),
                    retry_after
                        .map(|d| format!(" in {} s", d.as_secs().max(1)))
                        .unwrap_or_default()
                ),
                retry_after,
            },
            CallError::Credentials(status, retry_after, body) => DirectoryError::Upstream {
                message: format!(
                    "1Password did not give Keydesk a token ({}: {}); check the OAuth client ID \
                     and secret in [directory.upstream]",
                    status_text(status),
                    upstream_message(&body)
                ),
                retry_after,
            },
            CallError::Lost(why) => DirectoryError::Unavailable(format!("1Password: {why}")),
            CallError::Garbled(what) => {
                DirectoryError::Unavailable(format!("1Password's answer could not be read: {what}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let later = SystemTime::now() + Duration::from_secs(120);
        let wait = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn upstream_messages_are_read_from_any_shape() {
        assert_eq!(upstream_message(r#"{"message":"no"}"#), "no");
        assert_eq!(
            upstream_message(r#"{"error":"invalid_client"}"#),
            "invalid_client"
        );
        assert_eq!(
            upstream_message(r#"{"error":{"code":429,"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(upstream_message("plain words\n"), "plain words");
        assert_eq!(upstream_message(""), "no details");
        assert_eq!(percent_encode("a b/c=="), "a%20b%2Fc%3D%3D");
    }
}
