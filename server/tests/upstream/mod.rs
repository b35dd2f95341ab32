//! The upstream connector against a real "cloud": an embedded Keydesk serving the Users API with
//! OAuth client credentials, behind a fault-injecting proxy, and a second Keydesk configured with
//! `backend = "upstream"` pointing at the proxy. The tests drive the second Keydesk through its
//! own HTTP API, as the page does, and look at three things: the cloud's database (did the change
//! happen, exactly once?), the proxy's record of what the connector sent (how often, with which
//! credentials), and the upstream Keydesk's audit trail (was every outcome recorded?).
//!
//! Beginning recovery, and the states the Users API does not report, go through the `op`
//! stand-in (tests/fixtures/op), which acts on the cloud directly and logs every invocation.
//! Both stand-ins keep 1Password's rules: the cloud's Users API says only ACTIVE, SUSPENDED or
//! STATE_UNSPECIFIED to an OAuth client, and op's sessions end as 1Password says they do.
//!
//! This module is the connector's plumbing (paging, the token, retries, faults); `states` is
//! what the two sources say of people together, and `op_session` keeping op signed in.

mod killed;
mod op_session;
mod states;

use std::{
    collections::HashSet,
    path::PathBuf,
    time::{Duration, Instant},
};

use crate::common::{
    DEV_USER, OAUTH_SECRET, ONE_PAIR_OF_EYES, TestApp, config_with_settings, expect_error,
    fault_proxy::{Fault, FaultProxy, Match, Seen},
    oauth_client,
};
use keydesk_api::{AuditRecord, ListUsersResponse, Role, User};
use reqwest::{Method, StatusCode, header::RETRY_AFTER};
use serde_json::{Value, json};

/// The OAuth client the upstream Keydesk is configured with, on the cloud.
const CLIENT_ID: &str = "keydesk-upstream";
const ADMIN_CONSOLE: &str = "https://example.1password.com";
const USER_AGENT: &str = concat!("Keydesk/", env!("CARGO_PKG_VERSION"));
const OP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op");
/// The page of the connector's reading of the whole directory.
pub(crate) const LIST_CALL: &str = "/users?max_page_size=1000";

/// How one test's world is built; every field has a default that suits most tests.
pub(crate) struct Setup {
    /// A generated cloud of this many people instead of the demo.
    cloud_users: Option<u32>,
    /// `[oauth] token_lifetime` on the cloud.
    token_lifetime: &'static str,
    /// `[directory.upstream]` keys and their TOML values, replacing the defaults of the same key.
    upstream: Vec<(&'static str, String)>,
    /// Extra variables for the `op` stand-in.
    op_env: Vec<(&'static str, String)>,
    op_timeout: &'static str,
    /// What the client secret file holds.
    secret: &'static str,
    /// What Keydesk's `password_file` holds (the stand-in's account password is
    /// [`OP_PASSWORD`]); `None`: no password file.
    op_password: Option<&'static str>,
    /// The cloud plays an account with automated provisioning.
    automated_provisioning: bool,
    /// `[directory.upstream.op] keepalive`, TOML; the default without.
    op_keepalive: Option<&'static str>,
    /// More of the cloud's configuration file.
    cloud_settings: &'static str,
}

/// The recovery user's account password, as the `op` stand-in knows it.
pub(crate) const OP_PASSWORD: &str = crate::op_standin::PASSWORD;

impl Default for Setup {
    fn default() -> Self {
        Setup {
            cloud_users: None,
            token_lifetime: "15m",
            upstream: Vec::new(),
            op_env: Vec::new(),
            op_timeout: "10s",
            secret: OAUTH_SECRET,
            op_password: Some(OP_PASSWORD),
            automated_provisioning: false,
            op_keepalive: None,
            cloud_settings: "",
        }
    }
}

impl Setup {
    /// Set one `[directory.upstream]` key; `value` is TOML (`"\"2s\""`, `"2"`).
    fn set(mut self, key: &'static str, value: &str) -> Self {
        self.upstream.push((key, value.to_owned()));
        self
    }

    fn op_keepalive(mut self, every: &'static str) -> Self {
        self.op_keepalive = Some(every);
        self
    }

    fn op_env(mut self, name: &'static str, value: &str) -> Self {
        self.op_env.push((name, value.to_owned()));
        self
    }
}

/// The cloud, the proxy in front of it, and the upstream Keydesk that reads it through the proxy.
struct World {
    cloud: TestApp,
    proxy: FaultProxy,
    keydesk: TestApp,
}

/// The cloud: development sign-in (so the `op` stand-in and the tests may act on it directly)
/// and one OAuth client with every scope.
pub(crate) async fn start_cloud(setup: &Setup) -> (TestApp, FaultProxy) {
    // One pair of eyes: the tests complete recoveries "in the console" as the cloud's one
    // development identity, who also began them (through op).
    let settings = format!(
        "{ONE_PAIR_OF_EYES}{}\n[oauth]\ntoken_lifetime = \"{}\"\nautomated_provisioning = {}\n\n{}",
        setup.cloud_settings,
        setup.token_lifetime,
        setup.automated_provisioning,
        oauth_client(CLIENT_ID, None)
    );
    let cloud = match setup.cloud_users {
        Some(count) => {
            TestApp::builder()
                .generated_users(count)
                .settings(&settings, &[])
                .start()
                .await
        }
        None => TestApp::builder().settings(&settings, &[]).start().await,
    };
    let proxy = FaultProxy::start(cloud.address()).await;
    (cloud, proxy)
}

/// The upstream Keydesk's configuration file, reading `base_url` for `cloud`'s account.
pub(crate) fn upstream_settings(cloud: &TestApp, base_url: &str, setup: &Setup) -> String {
    let mut fields: Vec<(&str, String)> = vec![
        ("base_url", format!("{base_url:?}")),
        ("allow_custom_base_url", "true".into()),
        ("account_id", format!("{:?}", cloud.account())),
        ("client_id", format!("{CLIENT_ID:?}")),
        ("client_secret_file", "\"{dir}/client-secret\"".into()),
        ("request_timeout", "\"2s\"".into()),
        ("max_retry_wait", "\"3s\"".into()),
        ("max_attempts", "3".into()),
        // Long, so that only the start-up reading and the reading after a change happen unless
        // a test asks for more.
        ("refresh_interval", "\"1h\"".into()),
        ("admin_console_url", format!("{ADMIN_CONSOLE:?}")),
    ];
    for (key, value) in &setup.upstream {
        fields.retain(|(k, _)| k != key);
        fields.push((key, value.clone()));
    }
    let mut env: Vec<(&str, String)> = vec![
        ("OP_STANDIN_KEYDESK", cloud.url("")),
        ("OP_STANDIN_ACCOUNT", cloud.account().to_owned()),
        ("OP_STANDIN_LOG", "{dir}/op.log".into()),
        ("OP_STANDIN_STATE", "{dir}".into()),
    ];
    for (name, value) in &setup.op_env {
        env.retain(|(n, _)| n != name);
        env.push((name, value.clone()));
    }
    let line = |(key, value): &(&str, String)| format!("{key} = {value}\n");
    let string_line = |(key, value): &(&str, String)| format!("{key} = {value:?}\n");
    let mut password_file = match setup.op_password {
        Some(_) => "password_file = \"{dir}/op-password\"\n".to_owned(),
        None => String::new(),
    };
    if let Some(every) = setup.op_keepalive {
        password_file.push_str(&format!("keepalive = {every:?}\n"));
    }
    format!(
        "[directory]\nbackend = \"upstream\"\n\n[directory.upstream]\n{}\n\
         [directory.upstream.op]\npath = {OP:?}\npass_env = [\"PATH\"]\ntimeout = \"{}\"\n\
         account = \"keydesk\"\n{password_file}\n[directory.upstream.op.env]\n{}",
        fields.iter().map(line).collect::<String>(),
        setup.op_timeout,
        env.iter().map(string_line).collect::<String>(),
    )
}

/// The upstream Keydesk, started but not yet waited for.
async fn start_keydesk(cloud: &TestApp, base_url: &str, setup: &Setup) -> TestApp {
    let mut files = vec![("client-secret", setup.secret), ("password", OP_PASSWORD)];
    if let Some(password) = setup.op_password {
        files.push(("op-password", password));
    }
    TestApp::builder()
        .settings(&upstream_settings(cloud, base_url, setup), &files)
        .start()
        .await
}

/// Everything, with the snapshot read once.
async fn start(setup: Setup) -> World {
    let (cloud, proxy) = start_cloud(&setup).await;
    let keydesk = start_keydesk(&cloud, &proxy.url(), &setup).await;
    snapshot_loaded(&keydesk).await;
    World {
        cloud,
        proxy,
        keydesk,
    }
}

/// Wait until lists answer: the first reading of the directory is done.
async fn snapshot_loaded(keydesk: &TestApp) -> ListUsersResponse {
    eventually(
        "the snapshot is read",
        Duration::from_secs(15),
        async || {
            let (status, body) = keydesk.list(&[]).await;
            (status == StatusCode::OK).then(|| serde_json::from_value(body).unwrap())
        },
    )
    .await
}

/// Poll `check` until it gives something, at most `within`.
async fn eventually<T>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `Match` wants a `&'static str`; a test's few paths may live as long as the test binary.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn basic_credentials(secret: &str) -> String {
    let pair = format!("{CLIENT_ID}:{secret}");
    format!("Basic {}", data_encoding::BASE64.encode(pair.as_bytes()))
}

fn is_oauth(seen: &Seen) -> bool {
    seen.path_and_query.starts_with("/v1beta1/users/oauth2/")
}

fn bearer(seen: &Seen) -> &str {
    seen.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no bearer token: {seen:?}"))
}

impl World {
    /// The requests the proxy saw with this method whose path and query contain `part`.
    fn calls(&self, method: Method, part: &str) -> Vec<Seen> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|s| s.method == method && s.path_and_query.contains(part))
            .collect()
    }

    fn token_calls(&self) -> Vec<Seen> {
        self.calls(Method::POST, "/oauth2/token")
    }

    /// The connector's own path for a user (…/users/{id}), as the proxy sees it.
    fn user_call(&self, id: &str) -> String {
        self.cloud.user_path(id)
    }

    /// Every call the proxy saw about one user, in order: method, fault, and whether it reached
    /// the cloud.
    fn calls_about(&self, id: &str) -> Vec<(Method, Option<String>, bool)> {
        let path = self.user_call(id);
        self.proxy
            .requests()
            .into_iter()
            .filter(|s| s.path_and_query.starts_with(&path))
            .map(|s| (s.method, s.fault, s.forwarded))
            .collect()
    }

    /// What must hold of everything the connector sent: its User-Agent on every request, the
    /// client's Basic credentials on the token endpoints only, a bearer token everywhere else,
    /// and the client secret nowhere else.
    fn assert_well_behaved(&self) {
        let basic = basic_credentials(OAUTH_SECRET);
        for seen in self.proxy.requests() {
            assert_eq!(seen.header("user-agent"), Some(USER_AGENT), "{seen:?}");
            if is_oauth(&seen) {
                assert_eq!(seen.method, Method::POST, "{seen:?}");
                assert_eq!(
                    seen.header("authorization"),
                    Some(basic.as_str()),
                    "{seen:?}"
                );
                assert_eq!(
                    seen.header("content-type"),
                    Some("application/x-www-form-urlencoded"),
                    "{seen:?}"
                );
                if seen.path_and_query.ends_with("/token") {
                    assert_eq!(seen.body, "grant_type=client_credentials");
                }
            } else {
                assert!(!bearer(&seen).is_empty(), "{seen:?}");
                assert!(seen.path_and_query.starts_with("/v1beta1/accounts/"));
            }
            let everything = format!("{} {:?} {}", seen.path_and_query, seen.headers, seen.body);
            assert!(!everything.contains(OAUTH_SECRET), "{seen:?}");
        }
    }

    /// `POST …/users/{id}:{method}` on the upstream Keydesk.
    async fn call(&self, id: &str, method: &str) -> (StatusCode, Value) {
        self.keydesk
            .post(&format!("{}:{method}", self.keydesk.user_path(id)))
            .await
    }

    async fn get(&self, id: &str) -> (StatusCode, Value) {
        self.keydesk.get_json(&self.keydesk.user_path(id)).await
    }

    fn cloud_state(&self, id: &str) -> String {
        self.cloud.row(id).0
    }

    /// Someone who set a new password and waits for an admin to complete their recovery.
    async fn first_accepted(&self) -> User {
        self.keydesk
            .list_page(&[("state", "RECOVERY_ACCEPTED")])
            .await
            .results
            .swap_remove(0)
    }

    /// The upstream Keydesk's records of how each `action` ended. Each outcome of a call to
    /// 1Password settles the `attempted` record written before the call, naming the same people.
    fn audited(&self, action: &str) -> Vec<AuditRecord> {
        let records = self.keydesk.audit_records();
        let outcomes: Vec<AuditRecord> = records
            .iter()
            .filter(|r| r.action.as_str() == action && r.outcome != "attempted")
            .cloned()
            .collect();
        for outcome in &outcomes {
            if let Some(seq) = outcome.settles {
                let attempt = records
                    .iter()
                    .find(|r| r.seq == seq)
                    .expect("what it settles");
                assert!(
                    attempt.seq < outcome.seq && attempt.outcome == "attempted",
                    "{attempt:?}"
                );
                assert!(
                    outcome.targets.iter().all(|t| attempt.targets.contains(t)),
                    "{records:#?}"
                );
            }
        }
        outcomes
    }

    /// How many times the cloud itself carried out `action` on `id` (its own audit trail).
    fn cloud_did(&self, action: &str, id: &str) -> usize {
        self.cloud
            .audit_records()
            .iter()
            .filter(|r| {
                r.action.as_str() == action
                    && r.targets == [id]
                    && r.outcome.as_str() == "succeeded"
            })
            .count()
    }

    /// The arguments of every `op` run that began a recovery, in order.
    fn op_begins(&self) -> Vec<Vec<String>> {
        self.op_runs("user recovery begin")
    }

    /// The arguments of every `op` run whose arguments start with `command`.
    fn op_runs(&self, command: &str) -> Vec<Vec<String>> {
        Self::op_runs_of(&self.keydesk, command)
    }

    fn op_runs_of(keydesk: &TestApp, command: &str) -> Vec<Vec<String>> {
        let words: Vec<&str> = command.split(' ').collect();
        read_op_log(keydesk)
            .into_iter()
            .map(|line| serde_json::from_value::<Vec<String>>(line["argv"].clone()).unwrap())
            .filter(|argv| argv.len() >= words.len() && argv[..words.len()] == words[..])
            .collect()
    }

    /// The snapshot's answer for one person, by email.
    async fn listed(&self, email: &str) -> User {
        let page = self.keydesk.list_page(&[("q", email)]).await;
        assert_eq!(page.results.len(), 1, "{email}: {page:?}");
        page.results.into_iter().next().unwrap()
    }
}

fn settings_dir(app: &TestApp) -> PathBuf {
    let file = app.config.settings_file.as_ref().expect("a settings file");
    file.parent().unwrap().to_owned()
}

fn read_op_log(keydesk: &TestApp) -> Vec<Value> {
    std::fs::read_to_string(settings_dir(keydesk).join("op.log"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

pub(crate) use crate::common::plain_members as members;

async fn active_member(cloud: &TestApp, n: usize) -> User {
    members(cloud, "user.isActive()").await.swap_remove(n)
}

/// The cloud's people as 1Password's two sources show them to Keydesk: the Users API's fields,
/// the CLI's state and type, nothing of Keydesk's own (role, times, two-factor, devices).
pub(crate) fn through_1password(users: Vec<User>) -> Vec<User> {
    users
        .into_iter()
        .map(|user| User {
            user_type: user.user_type.clone(),
            ..user.without_extensions()
        })
        .collect()
}

fn user(body: Value) -> User {
    serde_json::from_value(body.clone()).unwrap_or_else(|err| panic!("not a User ({err}): {body}"))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers.get(RETRY_AFTER).map(|v| v.to_str().unwrap())
}

// ---- The happy path ----

#[tokio::test]
async fn a_big_directory_is_read_in_pages_of_1000() {
    let world = start(Setup {
        cloud_users: Some(2500),
        ..Setup::default()
    })
    .await;

    let lists = world.calls(Method::GET, "/users?");
    let queries: Vec<&str> = lists.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(queries.len(), 3, "{queries:?}");
    assert!(queries[0].ends_with(LIST_CALL), "{queries:?}");
    for query in &queries[1..] {
        assert!(query.contains("?max_page_size=1000&page_token="), "{query}");
    }
    assert_ne!(queries[1], queries[2]);

    // Every one of them, in the snapshot, as the cloud has them.
    let everyone = world
        .keydesk
        .list_all(&[("max_page_size", "1000"), ("order_by", "email")])
        .await;
    assert_eq!(everyone.len(), 2500);
    let from_cloud = world
        .cloud
        .list_all(&[("max_page_size", "1000"), ("order_by", "email")])
        .await;
    assert!(
        everyone == through_1password(from_cloud),
        "the snapshot differs"
    );
    world.assert_well_behaved();
}

#[tokio::test]
async fn lists_search_filter_and_sort_the_snapshot_as_the_cloud_would() {
    let world = start(Setup::default()).await;
    let (keydesk, cloud) = (&world.keydesk, &world.cloud);

    let page = keydesk.list_page(&[]).await;
    let snapshot_time = page
        .snapshot_time
        .expect("a list says how old its snapshot is");
    humantime::parse_rfc3339(&snapshot_time).expect("RFC 3339");
    assert_eq!(page.snapshot_error, None);

    let queries: [&[(&str, &str)]; 8] = [
        &[],
        &[("q", "zoe")],
        &[("q", "ødegård")],
        &[("state", "SUSPENDED")],
        &[("state", "RECOVERY_ACCEPTED"), ("order_by", "email desc")],
        &[
            ("filter", "user.isActive()"),
            ("order_by", "create_time desc"),
        ],
        &[
            ("q", "example"),
            ("order_by", "state"),
            ("max_page_size", "7"),
        ],
        &[("order_by", "display_name desc"), ("max_page_size", "10")],
    ];
    for params in queries {
        let ours = keydesk.list_all(params).await;
        let theirs = through_1password(cloud.list_all(params).await);
        assert!(!ours.is_empty(), "{params:?}");
        assert_eq!(ours, theirs, "{params:?}");
    }
    let (status, counts) = keydesk.get_json("/api/state-counts").await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    let mut theirs = cloud.get_json("/api/state-counts").await.1;
    // Neither source says who is an owner.
    theirs.as_object_mut().unwrap().remove("active_owners");
    assert_eq!(counts, theirs);

    // Nothing of that went to 1Password: the snapshot answered.
    assert_eq!(world.calls(Method::GET, "/users").len(), 1);
    world.assert_well_behaved();
}

#[tokio::test]
async fn get_suspend_and_reactivate_go_to_the_cloud_and_show_in_the_snapshot_at_once() {
    let world = start(Setup::default()).await;
    let person = active_member(&world.cloud, 0).await;
    let id = person.id.as_str();

    let (status, body) = world.get(id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cloud_user = user(world.cloud.get_json(&world.cloud.user_path(id)).await.1);
    assert_eq!(vec![user(body)], through_1password(vec![cloud_user]));
    assert_eq!(world.calls(Method::GET, &world.user_call(id)).len(), 1);

    // Someone 1Password does not have: its 404, asked once, is the page's 404.
    let nobody = "AAAAAAAAAAAAAAAAAAAAAAAAAA";
    let answer = world.get(nobody).await;
    let message = expect_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(message.contains(nobody), "{message}");
    assert_eq!(world.calls(Method::GET, &world.user_call(nobody)).len(), 1);

    let counts = || async {
        let (_, body) = world.keydesk.get_json("/api/state-counts").await;
        body["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["state"].as_str().unwrap().to_owned(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    let before = counts().await;

    let (status, body) = world.call(id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user(body).state.as_str(), "SUSPENDED");
    assert_eq!(world.cloud_state(id), "SUSPENDED");
    assert_eq!(
        world.listed(&person.email).await.state.as_str(),
        "SUSPENDED"
    );
    let after = counts().await;
    assert_eq!(after["SUSPENDED"], before["SUSPENDED"] + 1);
    assert_eq!(after["ACTIVE"], before["ACTIVE"] - 1);

    let (status, body) = world.call(id, "reactivate").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user(body).state.as_str(), "ACTIVE");
    assert_eq!(world.cloud_state(id), "ACTIVE");
    assert_eq!(world.listed(&person.email).await.state.as_str(), "ACTIVE");
    assert_eq!(counts().await, before);

    // Each went to 1Password once, and each is audited.
    assert_eq!(world.calls(Method::POST, ":suspend").len(), 1);
    assert_eq!(world.calls(Method::POST, ":reactivate").len(), 1);
    for action in ["suspend", "reactivate"] {
        let records = world.audited(action);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].outcome.as_str(), "succeeded");
        assert_eq!(records[0].targets, [id]);
        assert_eq!(records[0].actor_email, DEV_USER);
    }
    // 1Password's answer was all the snapshot needed: no change brings a reading of the whole
    // directory (one call per 1000 people), not even once things settle (which took 2 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.calls(Method::GET, LIST_CALL).len(), 1);
    world.assert_well_behaved();
}

// ---- The token ----

#[tokio::test]
async fn one_token_serves_every_call() {
    let world = start(Setup::default()).await;
    let people = members(&world.cloud, "user.isActive()").await;
    for person in &people[..5] {
        assert_eq!(world.get(person.id.as_str()).await.0, StatusCode::OK);
    }
    let (status, _) = world.call(people[0].id.as_str(), "suspend").await;
    assert_eq!(status, StatusCode::OK);

    let tokens = world.token_calls();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let used: HashSet<String> = world
        .proxy
        .requests()
        .iter()
        .filter(|s| !is_oauth(s))
        .map(|s| bearer(s).to_owned())
        .collect();
    assert_eq!(used.len(), 1, "{used:?}");
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_call_tried_once_more() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world
        .proxy
        .inject(Fault::Unauthorized, Match::MethodAndPath(Method::GET, path));

    let (status, body) = world.get(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let gets = world.calls(Method::GET, path);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].fault.as_deref(), Some("Unauthorized"));
    assert!(gets[1].forwarded && gets[1].fault.is_none());
    assert_ne!(bearer(&gets[0]), bearer(&gets[1]), "a new token");
    assert_eq!(world.token_calls().len(), 2);
    world.assert_well_behaved();
}

#[tokio::test]
async fn two_refusals_in_a_row_are_a_clear_error_and_change_nothing() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    world
        .proxy
        .inject_times(Fault::Unauthorized, Match::PathContains(":suspend"), 2);

    let answer = world.call(&id, "suspend").await;
    let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert_eq!(
        message,
        "1Password answered 401 Unauthorized: the access token has expired"
    );
    assert_eq!(world.cloud_state(&id), "ACTIVE");
    let posts = world.calls(Method::POST, ":suspend");
    assert_eq!(posts.len(), 2, "renewed once, tried once more: {posts:?}");
    assert!(posts.iter().all(|s| !s.forwarded));
    assert_eq!(world.token_calls().len(), 2);
    let records = world.audited("suspend");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome.as_str(), "failed");
    assert!(records[0].reason.contains("401"), "{records:?}");
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_busy_token_endpoint_is_busy_not_wrong_credentials() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world
        .proxy
        .inject(Fault::Unauthorized, Match::MethodAndPath(Method::GET, path));
    world
        .proxy
        .inject_times(Fault::too_many(1), Match::PathContains("/oauth2/token"), 3);

    let (status, headers, body) = world
        .keydesk
        .send_full(
            world
                .keydesk
                .client
                .get(world.keydesk.url(&world.keydesk.user_path(&id))),
        )
        .await;
    let message = expect_error(
        &(status, body),
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    assert_eq!(
        message,
        "1Password is busy (429 Too Many Requests: too many requests); try again in 1 s"
    );
    assert_eq!(retry_after(&headers), Some("1"));
    let faults: Vec<_> = world
        .token_calls()
        .iter()
        .map(|s| s.fault.clone())
        .collect();
    let busy = Some("Status(429)".to_owned());
    assert_eq!(faults, [None, busy.clone(), busy.clone(), busy]);
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_token_is_renewed_before_it_runs_out() {
    let world = start(Setup {
        token_lifetime: "2s",
        ..Setup::default()
    })
    .await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    assert_eq!(world.get(&id).await.0, StatusCode::OK);
    let first = world.calls(Method::GET, &world.user_call(&id))[0].clone();

    tokio::time::sleep(Duration::from_secs(3)).await;
    // The old token is dead on the cloud...
    let (status, _) = world
        .cloud
        .send(
            world
                .cloud
                .client
                .get(world.cloud.url(&world.user_call(&id)))
                .bearer_auth(bearer(&first)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // ...and the connector did not wait to be told.
    let (status, body) = world.get(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gets = world.calls(Method::GET, &world.user_call(&id));
    assert_eq!(gets.len(), 2, "no refused call first: {gets:?}");
    assert_ne!(bearer(&gets[0]), bearer(&gets[1]));
    assert_eq!(world.token_calls().len(), 2);
    world.assert_well_behaved();
}

#[tokio::test]
async fn shutting_down_revokes_the_token() {
    let setup = Setup::default();
    let (cloud, proxy) = start_cloud(&setup).await;
    let keydesk = TestApp::builder()
        .settings(
            &upstream_settings(&cloud, &proxy.url(), &setup),
            &[("client-secret", OAUTH_SECRET)],
        )
        .start()
        .await;
    let directory = keydesk.directory();
    snapshot_loaded(&keydesk).await;
    let world = World {
        cloud,
        proxy,
        keydesk,
    };
    let token = bearer(&world.calls(Method::GET, LIST_CALL)[0]).to_owned();

    directory.shutdown().await;
    let revokes = world.calls(Method::POST, "/oauth2/revoke");
    assert_eq!(revokes.len(), 1, "{:?}", world.proxy.requests());
    assert_eq!(revokes[0].body, format!("token={token}"));
    assert!(revokes[0].forwarded);
    let (status, _) = world
        .cloud
        .send(
            world
                .cloud
                .client
                .get(world.cloud.url(&world.cloud.users_path()))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the revoked token is refused"
    );
    world.assert_well_behaved();
}

// ---- A busy or failing 1Password ----

#[tokio::test]
async fn too_many_requests_is_waited_out_as_retry_after_says() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world
        .proxy
        .inject(Fault::too_many(1), Match::MethodAndPath(Method::GET, path));

    let started = Instant::now();
    let (status, body) = world.get(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let faults: Vec<_> = world
        .calls(Method::GET, path)
        .iter()
        .map(|s| s.fault.clone())
        .collect();
    assert_eq!(faults, [Some("Status(429)".to_owned()), None]);
    world.assert_well_behaved();
}

#[tokio::test]
async fn unavailable_is_tried_again_even_for_a_suspend() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world.proxy.inject(
        Fault::unavailable(None),
        Match::MethodAndPath(Method::GET, path),
    );
    world.proxy.inject(
        Fault::unavailable(Some("1")),
        Match::PathContains(":suspend"),
    );

    assert_eq!(world.get(&id).await.0, StatusCode::OK);
    assert_eq!(world.calls(Method::GET, path).len(), 2);

    // A 503 is a definite "not done": sending the suspend again is safe.
    let (status, body) = world.call(&id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.cloud_state(&id), "SUSPENDED");
    let posts = world.calls(Method::POST, ":suspend");
    let faults: Vec<_> = posts
        .iter()
        .map(|s| (s.fault.clone(), s.forwarded))
        .collect();
    assert_eq!(
        faults,
        [(Some("Status(503)".to_owned()), false), (None, true)]
    );
    assert_eq!(world.cloud_did("suspend", &id), 1);
    assert_eq!(world.audited("suspend")[0].outcome.as_str(), "succeeded");
    world.assert_well_behaved();
}

#[tokio::test]
async fn busy_beyond_max_attempts_is_a_503_that_passes_retry_after_on() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    world
        .proxy
        .inject_times(Fault::too_many(1), Match::PathContains(":suspend"), 3);

    let started = Instant::now();
    let (status, headers, body) = world
        .keydesk
        .send_full(
            world.keydesk.client.post(
                world
                    .keydesk
                    .url(&format!("{}:suspend", world.keydesk.user_path(&id))),
            ),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_secs(2), "waited twice");
    let message = expect_error(
        &(status, body),
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    assert_eq!(
        message,
        "1Password is busy (429 Too Many Requests: too many requests); try again in 1 s"
    );
    assert_eq!(retry_after(&headers), Some("1"));
    assert_eq!(
        world.calls(Method::POST, ":suspend").len(),
        3,
        "max_attempts = 3"
    );
    assert_eq!(world.cloud_state(&id), "ACTIVE");
    let records = world.audited("suspend");
    assert_eq!(records[0].outcome.as_str(), "failed");
    assert!(records[0].reason.contains("429"), "{records:?}");
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_retry_after_longer_than_max_retry_wait_fails_at_once() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world
        .proxy
        .inject(Fault::too_many(10), Match::MethodAndPath(Method::GET, path));

    let started = Instant::now();
    let (status, headers, body) = world
        .keydesk
        .send_full(
            world
                .keydesk
                .client
                .get(world.keydesk.url(&world.keydesk.user_path(&id))),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let message = expect_error(
        &(status, body),
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    );
    assert!(
        message.contains("429") && message.contains("10 s"),
        "{message}"
    );
    assert_eq!(retry_after(&headers), Some("10"));
    assert_eq!(world.calls(Method::GET, path).len(), 1);
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_server_error_on_suspend_reaches_the_page_and_changes_nothing() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    world
        .proxy
        .inject(Fault::server_error(), Match::PathContains(":suspend"));

    let answer = world.call(&id, "suspend").await;
    let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert_eq!(
        message,
        "1Password answered 500 Internal Server Error: internal error"
    );
    assert_eq!(world.cloud_state(&id), "ACTIVE");
    assert_eq!(
        world.calls(Method::POST, ":suspend").len(),
        1,
        "never sent blindly again"
    );
    let records = world.audited("suspend");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome.as_str(), "failed");
    assert!(records[0].reason.contains("500"), "{records:?}");
    world.assert_well_behaved();
}

// ---- Slow and broken connections ----

#[tokio::test]
async fn a_get_slower_than_request_timeout_is_tried_again() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world.proxy.inject(
        Fault::Latency(Duration::from_secs(3)),
        Match::MethodAndPath(Method::GET, path),
    );

    let started = Instant::now();
    let (status, body) = world.get(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    let faults: Vec<_> = world
        .calls(Method::GET, path)
        .iter()
        .map(|s| s.fault.clone())
        .collect();
    assert_eq!(faults, [Some("Latency(3s)".to_owned()), None]);
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_call_that_never_answers_in_time_is_a_timeout_error() {
    let world = start(
        Setup::default()
            .set("request_timeout", "\"1s\"")
            .set("max_attempts", "2"),
    )
    .await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world.proxy.inject_times(
        Fault::Latency(Duration::from_secs(2)),
        Match::MethodAndPath(Method::GET, path),
        2,
    );

    let answer = world.get(&id).await;
    let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert!(message.contains("did not answer in time"), "{message}");
    assert_eq!(
        world.calls(Method::GET, path).len(),
        2,
        "a GET is tried again"
    );
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_suspend_that_times_out_is_checked_then_sent_again() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    world.proxy.inject(
        Fault::Latency(Duration::from_secs(3)),
        Match::PathContains(":suspend"),
    );

    let (status, body) = world.call(&id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.cloud_state(&id), "SUSPENDED");
    let path = world.user_call(&id);
    let sequence: Vec<(Method, bool)> = world
        .proxy
        .requests()
        .iter()
        .filter(|s| s.path_and_query.starts_with(&path))
        .map(|s| (s.method.clone(), s.path_and_query.ends_with(":suspend")))
        .collect();
    assert_eq!(
        sequence,
        [
            (Method::POST, true),
            (Method::GET, false),
            (Method::POST, true)
        ],
        "read before sending again"
    );
    // The first one still lands, late: :suspend is idempotent, so nothing changes.
    eventually(
        "the late suspend lands",
        Duration::from_secs(3),
        async || {
            world.calls(Method::POST, ":suspend")[0]
                .forwarded
                .then_some(())
        },
    )
    .await;
    assert_eq!(world.cloud_state(&id), "SUSPENDED");
    assert_eq!(world.audited("suspend")[0].outcome.as_str(), "succeeded");
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_dropped_get_is_tried_again() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let path = leak(world.user_call(&id));
    world
        .proxy
        .inject(Fault::Drop, Match::MethodAndPath(Method::GET, path));

    let (status, body) = world.get(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let faults: Vec<_> = world
        .calls(Method::GET, path)
        .iter()
        .map(|s| s.fault.clone())
        .collect();
    assert_eq!(faults, [Some("Drop".to_owned()), None]);
    world.assert_well_behaved();
}

/// The methods whose lost answers are checked, each with who it applies to and what it leads to.
const CHANGES: [(&str, &str, &str); 2] = [
    ("suspend", "user.isActive()", "SUSPENDED"),
    ("reactivate", "user.isSuspended()", "ACTIVE"),
];

/// One person for each of [`CHANGES`], chosen before anything changes.
async fn subjects(cloud: &TestApp) -> Vec<(&'static str, User, &'static str)> {
    let mut subjects = Vec::new();
    for (method, filter, after) in CHANGES {
        subjects.push((method, members(cloud, filter).await.swap_remove(0), after));
    }
    subjects
}

#[tokio::test]
async fn a_change_dropped_before_it_arrived_is_checked_then_sent_once_more() {
    let world = start(Setup::default()).await;
    for (method, person, after) in subjects(&world.cloud).await {
        let id = person.id.to_string();
        let suffix = leak(format!(":{method}"));
        world.proxy.inject(Fault::Drop, Match::PathContains(suffix));

        let (status, body) = world.call(&id, method).await;
        assert_eq!(status, StatusCode::OK, "{method}: {body}");
        assert_eq!(user(body).state.as_str(), after);
        assert_eq!(world.cloud_state(&id), after);
        let sequence = world.calls_about(&id);
        assert_eq!(
            sequence,
            [
                (Method::POST, Some("Drop".to_owned()), false),
                (Method::GET, None, true),
                (Method::POST, None, true),
            ],
            "{method}: read the user, then send again"
        );
        assert_eq!(
            world.cloud_did(method, &id),
            1,
            "{method} happened exactly once"
        );
        let records = world.audited(method);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].outcome.as_str(), "succeeded");
    }
    world.assert_well_behaved();
}

#[tokio::test]
async fn a_change_whose_answer_was_lost_is_seen_and_not_sent_again() {
    let world = start(Setup::default()).await;
    for (method, person, after) in subjects(&world.cloud).await {
        let id = person.id.to_string();
        let suffix = leak(format!(":{method}"));
        world
            .proxy
            .inject(Fault::DropAfterForward, Match::PathContains(suffix));

        let (status, body) = world.call(&id, method).await;
        assert_eq!(status, StatusCode::OK, "{method}: {body}");
        assert_eq!(user(body).state.as_str(), after);
        assert_eq!(world.cloud_state(&id), after);
        let sequence = world.calls_about(&id);
        assert_eq!(
            sequence,
            [
                (Method::POST, Some("DropAfterForward".to_owned()), true),
                (Method::GET, None, true),
            ],
            "{method}: seen done, not sent again"
        );
        assert_eq!(world.cloud_did(method, &id), 1);
        assert_eq!(world.audited(method)[0].outcome.as_str(), "succeeded");
        assert_eq!(world.listed(&person.email).await.state.as_str(), after);
    }
    world.assert_well_behaved();
}

// ---- 1Password out of reach ----

#[tokio::test]
async fn down_at_start_up_keydesk_starts_says_so_and_recovers_by_itself() {
    let setup = Setup::default().set("refresh_interval", "\"3s\"");
    let (cloud, proxy) = start_cloud(&setup).await;
    proxy.inject_times(Fault::Drop, Match::Any, 100_000);
    let keydesk = start_keydesk(&cloud, &proxy.url(), &setup).await;

    let (status, body) = keydesk.get_json("/healthz").await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    let message = eventually(
        "the first reading fails",
        Duration::from_secs(5),
        async || {
            let answer = keydesk.list(&[]).await;
            let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
            message.contains("cannot read").then_some(message)
        },
    )
    .await;
    assert_eq!(
        message,
        "the directory is unreachable: Keydesk cannot read the directory from 1Password yet \
         (1Password: the connection broke before it answered); it keeps trying"
    );
    let answer = keydesk.get_json("/api/state-counts").await;
    expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");

    proxy.clear_faults();
    let page = eventually(
        "the directory is read",
        Duration::from_secs(8),
        async || {
            let (status, body) = keydesk.list(&[]).await;
            (status == StatusCode::OK).then_some(body)
        },
    )
    .await;
    let page: ListUsersResponse = serde_json::from_value(page).unwrap();
    assert_eq!(page.snapshot_error, None);
    assert!(page.snapshot_time.is_some());
    assert!(!page.results.is_empty());
}

#[tokio::test]
async fn a_closed_port_is_unreachable_not_fatal() {
    let (cloud, _proxy) = start_cloud(&Setup::default()).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let keydesk = start_keydesk(&cloud, &closed, &Setup::default()).await;
    assert_eq!(keydesk.get_json("/healthz").await.0, StatusCode::OK);
    let message = eventually(
        "the first reading fails",
        Duration::from_secs(5),
        async || {
            let answer = keydesk.list(&[]).await;
            let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
            message.contains("cannot read").then_some(message)
        },
    )
    .await;
    assert!(message.contains("could not be reached"), "{message}");
}

#[tokio::test]
async fn a_failing_refresh_keeps_serving_the_snapshot_and_says_why() {
    let world = start(Setup::default().set("refresh_interval", "\"1s\"")).await;
    let before = world.keydesk.list_page(&[]).await;
    world.proxy.inject_times(
        Fault::server_error(),
        Match::PathContains(LIST_CALL),
        100_000,
    );

    let stale = eventually("a refresh fails", Duration::from_secs(5), async || {
        let page = world.keydesk.list_page(&[]).await;
        page.snapshot_error.is_some().then_some(page)
    })
    .await;
    let error = stale.snapshot_error.clone().unwrap();
    assert_eq!(
        error,
        "1Password answered 500 Internal Server Error: internal error"
    );
    assert_eq!(stale.results, before.results);
    assert_eq!(
        stale.snapshot_time, before.snapshot_time,
        "still the old reading"
    );
    // Single users still come from 1Password itself.
    let id = before.results[0].id.to_string();
    assert_eq!(world.get(&id).await.0, StatusCode::OK);

    world.proxy.clear_faults();
    eventually(
        "a refresh succeeds again",
        Duration::from_secs(5),
        async || {
            let page = world.keydesk.list_page(&[]).await;
            page.snapshot_error.is_none().then_some(())
        },
    )
    .await;
}

// ---- Recovery, through `op` ----

/// `op user recovery begin` as Keydesk runs it, for `ids`.
fn begin_args(ids: &[&str]) -> Vec<String> {
    let mut args = vec!["user", "recovery", "begin"];
    args.extend(ids);
    args.extend(["--format", "json", "--account", "keydesk"]);
    args.into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn begin_recovery_runs_op_once_for_everyone() {
    let world = start(Setup::default()).await;
    let people = members(&world.cloud, "user.isActive()").await;
    let (a, b) = (&people[0], &people[1]);

    let (status, body) = world.keydesk.begin_recovery(&[&a.email, &b.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("failures").is_none(), "nobody failed: {body}");
    let began: Vec<(String, String)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().into(),
                u["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    let (ida, idb) = (a.id.to_string(), b.id.to_string());
    assert_eq!(
        began,
        [
            (ida.clone(), "RECOVERY_STARTED".into()),
            (idb.clone(), "RECOVERY_STARTED".into())
        ]
    );
    assert_eq!(world.cloud_state(&ida), "RECOVERY_STARTED");
    assert_eq!(world.cloud_state(&idb), "RECOVERY_STARTED");
    assert_eq!(world.op_begins(), [begin_args(&[&ida, &idb])]);
    assert_eq!(
        world.listed(&a.email).await.state.as_str(),
        "RECOVERY_STARTED"
    );
    let records = world.audited("begin_recovery");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome.as_str(), "succeeded");
    assert_eq!(records[0].targets, [ida.clone(), idb]);

    // Sending the email again is beginning again, for one.
    let (status, body) = world.call(&ida, "resendRecovery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.op_begins().last().unwrap(), &begin_args(&[&ida]));
    assert_eq!(
        world.audited("resend_recovery")[0].outcome.as_str(),
        "succeeded"
    );
    // What `op` said was enough for the snapshot: the whole directory is not read again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.calls(Method::GET, LIST_CALL).len(), 1);
}

#[tokio::test]
async fn begin_recovery_checks_everyone_first_and_refuses_all_for_one() {
    let world = start(Setup::default()).await;
    let active = active_member(&world.cloud, 0).await;
    let suspended = members(&world.cloud, "user.isSuspended()")
        .await
        .swap_remove(0);

    let answer = world
        .keydesk
        .begin_recovery(&[&active.email, &suspended.email])
        .await;
    let message = expect_error(&answer, StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert!(
        message.contains(&suspended.email) && message.contains("is Suspended"),
        "{message}"
    );
    assert_eq!(world.cloud_state(active.id.as_str()), "ACTIVE");
    assert_eq!(world.cloud_state(suspended.id.as_str()), "SUSPENDED");
    assert!(world.op_begins().is_empty(), "op was not run");
    let records = world.audited("begin_recovery");
    assert_eq!(records.len(), 1);
    // A state that does not allow it: refused by a rule, so denied.
    assert_eq!(records[0].outcome.as_str(), "denied");
    assert_eq!(
        records[0].targets,
        [active.email.as_str(), suspended.email.as_str()]
    );
}

#[tokio::test]
async fn begin_recovery_reports_each_person_op_failed_for() {
    let world = start(Setup::default()).await;
    let people = members(&world.cloud, "user.isActive()").await;
    let (a, b) = (&people[0], &people[1]);
    let (ida, idb) = (a.id.to_string(), b.id.to_string());
    // Suspended behind Keydesk's back: the snapshot still says ACTIVE, 1Password will refuse.
    let (status, _) = world
        .cloud
        .post(&format!("{}:suspend", world.cloud.user_path(&ida)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(world.listed(&a.email).await.state.as_str(), "ACTIVE");

    let (status, body) = world.keydesk.begin_recovery(&[&a.email, &b.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response: keydesk_api::BeginRecoveryResponse = serde_json::from_value(body).unwrap();
    let began: Vec<String> = response.users.iter().map(|u| u.id.to_string()).collect();
    assert_eq!(began, [idb.as_str()]);
    assert_eq!(response.failures.len(), 1, "{response:?}");
    let failure = &response.failures[0];
    assert_eq!(failure.id.as_str(), ida);
    assert!(failure.user.contains(&a.email), "{failure:?}");
    assert!(
        failure.message.starts_with("op could not begin recovery: "),
        "{failure:?}"
    );
    assert!(
        failure.message.contains("is Suspended"),
        "op's reason is passed on: {failure:?}"
    );

    assert_eq!(world.cloud_state(&ida), "SUSPENDED");
    assert_eq!(world.cloud_state(&idb), "RECOVERY_STARTED");
    assert_eq!(world.op_begins(), [begin_args(&[&ida, &idb])]);
    let records = world.audited("begin_recovery");
    let outcomes: Vec<(&str, &[String])> = records
        .iter()
        .map(|r| (r.outcome.as_str(), r.targets.as_slice()))
        .collect();
    assert_eq!(
        outcomes,
        [("succeeded", &[idb][..]), ("failed", &[ida][..])],
        "{records:?}"
    );
    assert_eq!(records[1].reason, failure.message);
}

#[tokio::test]
async fn when_op_breaks_the_outcome_is_reported_unknown() {
    let setup = Setup::default();
    let (cloud, proxy) = start_cloud(&setup).await;
    let person = active_member(&cloud, 0).await;
    let cases = [
        ("crash", "op failed: internal error"),
        ("garbage", "op's output could not be read"),
        ("hang", "op did not finish within 2s"),
    ];
    for (fail, why) in cases {
        let setup = Setup {
            op_timeout: "2s",
            ..Setup::default()
        }
        .op_env("OP_STANDIN_FAIL", fail);
        let keydesk = start_keydesk(&cloud, &proxy.url(), &setup).await;
        snapshot_loaded(&keydesk).await;

        let answer = keydesk.begin_recovery(&[&person.email]).await;
        let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
        assert!(
            message.contains("not known whether recovery began"),
            "{fail}: {message}"
        );
        assert!(message.contains(why), "{fail}: {message}");
        assert!(message.contains("admin console"), "{fail}: {message}");
        assert_eq!(cloud.row(person.id.as_str()).0, "ACTIVE", "{fail}");
        let begins = World::op_runs_of(&keydesk, "user recovery begin");
        assert_eq!(begins.len(), 1, "run once, never again: {begins:?}");
        // Whether it happened is not known, so the attempt stays open until Keydesk reads the
        // person, soon after, and records what it found.
        let settled = eventually(
            "the attempt is settled",
            Duration::from_secs(15),
            async || {
                let records = keydesk.audit_records();
                let attempt = records.iter().find(|r| r.outcome == "attempted")?;
                assert_eq!(attempt.targets, [person.id.to_string()], "{fail}");
                let seq = attempt.seq;
                records.into_iter().find(|r| r.settles == Some(seq))
            },
        )
        .await;
        assert_eq!(settled.outcome, "failed", "{fail}: {settled:?}");
        assert_eq!(
            settled.reason,
            "outcome found afterwards, 1Password's answer having never come: they are ACTIVE",
            "{fail}"
        );
        assert_eq!(keydesk.audit_records().len(), 2, "{fail}");
    }
}

#[tokio::test]
async fn an_op_older_than_2_32_keeps_keydesk_from_starting() {
    let (cloud, proxy) = start_cloud(&Setup::default()).await;
    let setup = Setup::default().op_env("OP_STANDIN_VERSION", "2.31.0");
    let (_dir, config) = config_with_settings(
        &upstream_settings(&cloud, &proxy.url(), &setup),
        &[("client-secret", OAUTH_SECRET)],
    );
    let err = keydesk_server::app(&config).expect_err("refused");
    let err = format!("{err:#}");
    assert!(err.contains("2.31.0") && err.contains("2.32.0"), "{err}");
}

#[tokio::test]
async fn completing_a_recovery_points_to_the_admin_console() {
    let world = start(Setup::default()).await;
    let accepted = world.first_accepted().await;
    let id = accepted.id.to_string();

    let answer = world.keydesk.complete(&id).await;
    let message = expect_error(&answer, StatusCode::CONFLICT, "FAILED_PRECONDITION");
    assert!(
        message.contains("admin console") && message.contains(ADMIN_CONSOLE),
        "{message}"
    );
    assert!(message.contains(&accepted.email), "{message}");
    assert_eq!(world.cloud_state(&id), "RECOVERY_ACCEPTED");
    let records = world.audited("complete_recovery");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].outcome.as_str(), records[0].reason.as_str()),
        ("denied", message.as_str())
    );
}

#[tokio::test]
async fn the_checks_are_confirmed_and_recorded_before_the_admin_console_opens() {
    let world = start(Setup::default()).await;
    let accepted = world.first_accepted().await;
    let id = accepted.id.to_string();
    let path = format!("/api/users/{id}/confirm-identity");
    let half = json!({ "checked": [crate::common::checklist()[0]] });
    expect_error(
        &world.keydesk.post_json(&path, &half).await,
        StatusCode::CONFLICT,
        "FAILED_PRECONDITION",
    );
    let all = json!({ "reason": "called them back", "checked": crate::common::checklist() });
    let (status, body) = world.keydesk.post_json(&path, &all).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["state"], "RECOVERY_ACCEPTED",
        "the console completes it, not Keydesk"
    );
    let records = world.audited("confirm_identity");
    let confirmed = records.last().unwrap();
    assert_eq!(confirmed.outcome.as_str(), "succeeded");
    assert_eq!(confirmed.checked, crate::common::checklist());
    assert_eq!(confirmed.change_reason.as_deref(), Some("called them back"));
    assert_eq!(world.cloud_state(&id), "RECOVERY_ACCEPTED");
}

#[tokio::test]
async fn a_scheduled_suspension_is_made_in_1password_at_its_time() {
    let world = start(Setup::default()).await;
    let active = world
        .keydesk
        .list_page(&[("state", "ACTIVE"), ("q", "zoe")])
        .await
        .results
        .swap_remove(0);
    let id = active.id.to_string();
    let due = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    let body = json!({
        "user_id": id, "action": "suspend", "reason": "last day",
        "due_time": humantime::format_rfc3339_seconds(due).to_string(),
    });
    let (status, body) = world.keydesk.post_json("/api/scheduled", &body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.cloud_state(&id), "ACTIVE");
    let made = world.keydesk.scheduler.tick(due).await.unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(world.cloud_state(&id), "SUSPENDED");
    let records = world.audited("suspend");
    let record = records.last().unwrap();
    assert_eq!(
        (record.actor_email.as_str(), record.outcome.as_str()),
        ("scheduler", "succeeded")
    );
    assert_eq!(record.change_reason.as_deref(), Some("last day"));
}

#[tokio::test]
async fn the_page_learns_it_is_upstream_and_that_1password_sends_the_emails() {
    let world = start(Setup::default()).await;
    // Once Keydesk has asked op who is signed in, as it does at start.
    let config = eventually("op is checked", Duration::from_secs(10), async || {
        let (status, config) = world.keydesk.get_json("/api/config").await;
        assert_eq!(status, StatusCode::OK);
        (config["recovery"]["available"] == true).then_some(config)
    })
    .await;
    assert_eq!(
        config,
        json!({
            "account_id": world.cloud.account(),
            "directory": "upstream",
            "admin_console_url": ADMIN_CONSOLE,
            "changes": {
                "require_reason": false,
                "require_ticket": false,
                "checklist": crate::common::checklist(),
                "four_eyes": true,
            },
            "recovery": {"available": true},
            "state_changes": {"available": true},
        })
    );
    let answer = world.keydesk.get_json("/api/outbox").await;
    let message = expect_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(message.contains("1Password"), "{message}");
}

// ---- Configuration ----

#[tokio::test]
async fn a_base_url_outside_1passwords_regions_needs_the_override() {
    let (cloud, proxy) = start_cloud(&Setup::default()).await;
    let setup = Setup::default().set("allow_custom_base_url", "false");
    let (_dir, config) = config_with_settings(
        &upstream_settings(&cloud, &proxy.url(), &setup),
        &[("client-secret", OAUTH_SECRET)],
    );
    let err = format!("{:#}", keydesk_server::app(&config).expect_err("refused"));
    assert!(
        err.contains("allow_custom_base_url") && err.contains(&proxy.url()),
        "{err}"
    );
    assert!(proxy.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_client_secret_goes_to_the_token_endpoint_only() {
    let world = start(Setup::default()).await;
    let person = active_member(&world.cloud, 0).await;
    let id = person.id.as_str();
    let mut answers = Vec::new();
    for path in ["/api/config", "/api/session", "/api/state-counts"] {
        answers.push(world.keydesk.get_json(path).await.1);
    }
    answers.push(world.get(id).await.1);
    answers.push(world.call(id, "suspend").await.1);
    answers.push(world.keydesk.list(&[("q", &person.email)]).await.1);
    answers.push(world.keydesk.get_json("/api/audit").await.1);
    for answer in &answers {
        assert!(!answer.to_string().contains(OAUTH_SECRET), "{answer}");
    }
    world.assert_well_behaved();

    // A wrong secret: the message says where to look, and does not repeat it.
    let wrong = "not-the-secret-at-all";
    let keydesk = start_keydesk(
        &world.cloud,
        &world.proxy.url(),
        &Setup {
            secret: wrong,
            ..Setup::default()
        },
    )
    .await;
    let message = eventually("the token is refused", Duration::from_secs(5), async || {
        let answer = keydesk.list(&[]).await;
        let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
        message.contains("token").then_some(message)
    })
    .await;
    assert!(
        message.contains("401") && message.contains("client ID and secret"),
        "{message}"
    );
    assert!(!message.contains(wrong), "{message}");

    // Nor is it written anywhere Keydesk keeps things.
    for app in [&world.keydesk, &keydesk] {
        for entry in std::fs::read_dir(&app.config.data_dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for secret in [OAUTH_SECRET, wrong] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the secret",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn with_audit_db_locked_nothing_is_asked_of_1password() {
    let world = start(Setup::default()).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    let audit_db = world.keydesk.config.data_dir.join("audit.db");
    let holder = crate::common::process::LockHolder::hold(&audit_db);
    let (status, body) = world.call(&id, "suspend").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "The audit trail cannot be written: audit.db is locked by another process"
        ) && message.ends_with("Nothing was changed."),
        "{message}"
    );
    assert!(
        world.calls(Method::POST, ":suspend").is_empty(),
        "1Password was asked"
    );
    assert_eq!(world.cloud_state(&id), "ACTIVE");
    drop(holder);
    assert_eq!(world.call(&id, "suspend").await.0, StatusCode::OK);
    let outcomes = world.audited("suspend");
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].outcome, "succeeded");
}

/// The snapshot is a cache of 1Password: when it cannot be written (here another process holds
/// it; at 100,000 people a reading being written held it for seconds), the change 1Password made
/// is still the answer, and the audit says it succeeded.
#[tokio::test]
async fn with_the_snapshot_locked_a_change_1password_made_is_still_answered_as_made() {
    let world = start(Setup::default()).await;
    let person = active_member(&world.cloud, 0).await;
    let id = person.id.to_string();
    let snapshot =
        (world.keydesk.config.data_dir).join(format!("upstream-{}.db", world.cloud.account()));
    let holder = crate::common::process::LockHolder::hold(&snapshot);
    let (status, body) = world.call(&id, "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(user(body).state.as_str(), "SUSPENDED");
    assert_eq!(world.cloud_state(&id), "SUSPENDED");
    assert_eq!(world.audited("suspend")[0].outcome, "succeeded");
    drop(holder);
    // Once the file is free, the next change's answer goes in as before.
    let (status, _) = world.call(&id, "reactivate").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(world.listed(&person.email).await.state.as_str(), "ACTIVE");
}

/// A reading whose first page was read before a change and written after it holds the person as
/// they were: 1Password's answer to the change must stay.
#[tokio::test]
async fn a_reading_older_than_a_change_does_not_undo_it() {
    let world = start(
        Setup {
            cloud_users: Some(1500),
            ..Setup::default()
        }
        .set("refresh_interval", "\"2s\""),
    )
    .await;
    let page_call = "page_token=";
    let first_page: ListUsersResponse = serde_json::from_value(
        world
            .cloud
            .get_json(&format!("{}?max_page_size=1000", world.cloud.users_path()))
            .await
            .1,
    )
    .unwrap();
    let person = (first_page.results.iter())
        .find(|u| u.state.as_str() == "ACTIVE" && u.role == Some(Role::Member))
        .unwrap()
        .clone();
    let pages_before = world.calls(Method::GET, page_call).len();
    // The next reading's second page waits at the proxy, its first already read.
    world.proxy.inject(
        Fault::Latency(Duration::from_secs(3)),
        Match::PathContains(page_call),
    );
    eventually(
        "the next reading's second page",
        Duration::from_secs(10),
        async || (world.calls(Method::GET, page_call).len() > pages_before).then_some(()),
    )
    .await;
    let read_before = world.keydesk.list_page(&[]).await.snapshot_time;
    let (status, body) = world.call(person.id.as_str(), "suspend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(
        "that reading written",
        Duration::from_secs(10),
        async || (world.keydesk.list_page(&[]).await.snapshot_time != read_before).then_some(()),
    )
    .await;
    assert_eq!(
        world.listed(&person.email).await.state.as_str(),
        "SUSPENDED"
    );
}

#[tokio::test]
async fn a_suspend_whose_answer_never_comes_is_settled_by_reading_the_person() {
    let world = start(Setup::default().set("max_attempts", "1")).await;
    let id = active_member(&world.cloud, 0).await.id.to_string();
    // The suspend reaches 1Password, and its answer is lost: whether it happened is not known.
    world
        .proxy
        .inject(Fault::DropAfterForward, Match::PathContains(":suspend"));
    let (status, body) = world.call(&id, "suspend").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("not known yet"), "{message}");
    assert_eq!(world.cloud_state(&id), "SUSPENDED", "it did happen");
    // Open until Keydesk reads her (after its next reading of the directory), then settled:
    // the trail never says she was not suspended.
    let settled = eventually(
        "the suspend is settled",
        Duration::from_secs(15),
        async || world.audited("suspend").pop(),
    )
    .await;
    assert_eq!(settled.outcome, "succeeded", "{settled:?}");
    assert_eq!(
        settled.reason,
        "outcome found afterwards, 1Password's answer having never come: they are SUSPENDED"
    );
}

#[tokio::test]
async fn an_attempt_left_open_by_a_crash_is_settled_at_the_next_start() {
    let setup = Setup::default();
    let (cloud, proxy) = start_cloud(&setup).await;
    let done = active_member(&cloud, 0).await.id.to_string();
    let not_done = active_member(&cloud, 1).await.id.to_string();
    // What a Keydesk killed mid-call leaves: two suspends recorded as attempted, never settled;
    // one of them reached 1Password.
    assert_eq!(
        cloud
            .post(&format!("{}:suspend", cloud.user_path(&done)))
            .await
            .0,
        StatusCode::OK
    );
    let (dir, config) = crate::common::config_with_settings(
        &upstream_settings(&cloud, &proxy.url(), &setup),
        &[("client-secret", OAUTH_SECRET)],
    );
    let audit = keydesk_server::audit::AuditLog::open(
        &config.data_dir.join("audit.db"),
        Duration::from_secs(1),
        true,
    )
    .unwrap();
    for id in [&done, &not_done] {
        let attempt = keydesk_server::audit::Attempt::new(
            "amara.okafor@example.com".into(),
            vec!["keydesk-admins".into()],
            keydesk_api::AuditAction::Suspend,
            "before-the-crash".into(),
            "127.0.0.1".into(),
        );
        let entry = attempt.entry(
            vec![id.clone()],
            keydesk_api::AuditOutcome::Attempted,
            String::new(),
        );
        audit.record(entry).await.unwrap();
    }
    drop(audit);

    let keydesk = crate::common::TestApp::in_dir(dir, config).await;
    let world = World {
        cloud,
        proxy,
        keydesk,
    };
    let outcomes = eventually("both are settled", Duration::from_secs(15), async || {
        let outcomes = world.audited("suspend");
        (outcomes.len() == 2).then_some(outcomes)
    })
    .await;
    let by_target = |id: &str| outcomes.iter().find(|r| r.targets == [id]).unwrap().clone();
    assert_eq!(by_target(&done).outcome, "succeeded");
    assert_eq!(
        by_target(&done).reason,
        "outcome found after restart: they are SUSPENDED"
    );
    assert_eq!(by_target(&not_done).outcome, "failed");
    assert_eq!(
        by_target(&not_done).reason,
        "outcome found after restart: they are ACTIVE"
    );
}
