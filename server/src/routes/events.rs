//! `GET /api/events`: live updates for the page ([`crate::events`]).

use axum::{
    extract::State,
    http::HeaderMap,
    response::{
        IntoResponse,
        sse::{KeepAlive, Sse},
    },
};
use keydesk_api::Permission;

use crate::{AppState, auth::Signed, error::AppError};

/// Every change as it happens, as server-sent events: `user` (a person as they now are),
/// `scheduled` (the scheduled changes changed), `reset` (read everything again) and `hello` (the
/// stream is open). Send `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/api/events", tag = "keydesk",
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    // Every event is about people: only someone who may read them may listen.
    signed.require(Permission::ReadUsers)?;
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    // `X-Accel-Buffering: no`: nginx passes each event on at once instead of buffering them.
    Ok((
        [("x-accel-buffering", "no")],
        Sse::new(state.events.stream(last)).keep_alive(KeepAlive::default()),
    ))
}
