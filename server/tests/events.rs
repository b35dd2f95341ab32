//! Live updates (`GET /api/events`): a change reaches every open stream, a stream resumes with
//! `Last-Event-ID` or is told to read everything again, only people who may read users listen,
//! and stopping Keydesk ends every stream.

use std::time::Duration;

use crate::common::{TestApp, config_with_settings, oauth_client};
use reqwest::{Response, StatusCode};

const ZOE: &str = "zoe.lefevre@example.com";
const OLIVER: &str = "oliver.smith@example.com";

/// One server-sent event: its `event`, `id` and `data` fields.
#[derive(Debug, Default)]
pub(crate) struct Event {
    pub kind: String,
    pub id: String,
    pub data: String,
}

/// An open stream, read event by event.
pub(crate) struct Stream {
    response: Response,
    buffer: String,
}

impl Stream {
    pub async fn open(app: &TestApp, last_event_id: Option<&str>) -> Stream {
        let mut request = app.client.get(app.url("/api/events"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ended. A guard
    /// against hanging, not a measure of speed: that is the page's e2e test and the benchmark.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some((block, rest)) = self.buffer.split_once("\n\n") {
                let (block, rest) = (block.to_owned(), rest.to_owned());
                self.buffer = rest;
                let mut event = Event::default();
                for line in block.lines() {
                    match line.split_once(':').map(|(k, v)| (k, v.trim_start())) {
                        Some(("event", v)) => event.kind = v.to_owned(),
                        Some(("id", v)) => event.id = v.to_owned(),
                        Some(("data", v)) => event.data.push_str(v),
                        _ => {}
                    }
                }
                if !event.kind.is_empty() {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

async fn suspend(app: &TestApp, email: &str) {
    let path = format!("{}:suspend", app.user_path(&app.id_of(email)));
    assert_eq!(app.post(&path).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_change_reaches_every_open_stream_with_the_person_as_they_now_are() {
    let app = TestApp::start().await;
    let mut first = Stream::open(&app, None).await;
    let mut second = Stream::open(&app, None).await;
    for stream in [&mut first, &mut second] {
        assert_eq!(stream.next().await.unwrap().kind, "hello");
    }
    suspend(&app, ZOE).await;
    let zoe = app.id_of(ZOE);
    for stream in [&mut first, &mut second] {
        let event = stream.next().await.unwrap();
        assert_eq!(event.kind, "user");
        let user: keydesk_api::User = serde_json::from_str(&event.data).unwrap();
        assert_eq!(
            (user.id.as_str(), user.state.as_str()),
            (zoe.as_str(), "SUSPENDED")
        );
    }
    // Beginning a recovery, and the scheduled list, are announced too.
    app.begin_recovery(&[OLIVER]).await;
    assert_eq!(first.next().await.unwrap().kind, "user");
}

#[tokio::test]
async fn a_stream_resumes_where_it_left_off_or_is_told_to_read_everything_again() {
    let app = TestApp::start().await;
    let mut stream = Stream::open(&app, None).await;
    let hello = stream.next().await.unwrap();
    drop(stream);
    suspend(&app, ZOE).await;
    app.begin_recovery(&[OLIVER]).await;
    let mut resumed = Stream::open(&app, Some(&hello.id)).await;
    assert_eq!(resumed.next().await.unwrap().kind, "hello");
    let missed: Vec<String> = [resumed.next().await.unwrap(), resumed.next().await.unwrap()]
        .into_iter()
        .map(|e| {
            serde_json::from_str::<keydesk_api::User>(&e.data)
                .unwrap()
                .email
        })
        .collect();
    assert_eq!(missed, [ZOE, OLIVER]);
    // An ID from before a restart, or one Keydesk never gave: read everything again.
    for id in ["0badc0de.3", "nonsense"] {
        let mut stream = Stream::open(&app, Some(id)).await;
        assert_eq!(stream.next().await.unwrap().kind, "hello");
        assert_eq!(stream.next().await.unwrap().kind, "reset", "{id}");
    }
}

#[tokio::test]
async fn only_people_who_may_read_users_listen() {
    let app = TestApp::builder()
        .settings(&oauth_client("events", None), &[])
        .start()
        .await;
    let token = app.bearer_token("events").await;
    let response = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let proxied = TestApp::builder()
        .settings("[auth]\nmode = \"proxy\"\n[auth.proxy]\n", &[])
        .start()
        .await;
    let response = proxied
        .client
        .get(proxied.url("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn stopping_keydesk_ends_every_stream_at_once() {
    let (_dir, config) = config_with_settings("", &[]);
    let keydesk = keydesk_server::build(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keydesk.serve(listener, async {
        let _ = stopped.await;
    }));
    let mut response = reqwest::get(format!("http://{address}/api/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.chunk().await.unwrap().is_some(), "hello");
    stop.send(()).unwrap();
    // The stream ends, and the server with it, well before the 10 s grace is over.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while response.chunk().await.unwrap_or(None).is_some() {}
        server.await.unwrap();
    })
    .await;
    assert!(ended.is_ok(), "an open stream held the stop up");
}
