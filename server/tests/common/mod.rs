//! A real Keydesk on a free loopback port, over a fresh SQLite file, in one line:
//! `TestApp::start().await` (the demo directory), or with a builder:
//! `TestApp::builder().settings(toml, files).generated_users(n).config(|c| …).start().await`.
//!
//! Every JSON answer goes through [`TestApp::send`], which checks what must hold of any answer:
//! it is `application/json`, an error has the one error shape with `code` equal to the HTTP
//! status, and nothing is ever a 500.

pub mod certs;
pub mod command;
pub mod fault_proxy;
pub mod process;

use std::{net::SocketAddr, time::Duration};

use keydesk_api::{AccountId, AuditRecord, ListUsersResponse, OutboxMessage, OutboxResponse, User};
use keydesk_server::{Config, config::DEMO_ACCOUNT_ID, directory::embedded::generate_directory};
use reqwest::{
    RequestBuilder, StatusCode,
    header::{CONTENT_TYPE, HeaderMap},
};
use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use tempfile::TempDir;

/// The checks completing a recovery asks for when the configuration names none.
pub fn checklist() -> Vec<String> {
    keydesk_server::changes::RecoveryRules::default().checklist
}

/// Settings for the tests where one development identity begins and completes a recovery; four
/// eyes, which need two people, are tested in `changes.rs`.
pub const ONE_PAIR_OF_EYES: &str = "[recovery]\nfour_eyes = false\n";

/// What the test page's `index.html` holds, to tell it apart from any other answer.
pub const INDEX_HTML: &str = "<!doctype html><title>Keydesk test page</title>";

/// The built record pages (`dist/records/index.html`: the audit, the scheduled changes, the
/// Outbox).
pub const RECORDS_HTML: &str = "<!doctype html><title>Keydesk records test page</title>";

/// The built recovery page (`dist/recover/index.html`), with an inline loader as Trunk writes.
pub const RECOVER_HTML: &str = "<!doctype html><title>Keydesk recovery test page</title>\
    <script type=module>import init from '/recover/recover-0123456789abcdef.js';</script>";

/// Plain MEMBERs of `app` matching `filter` (`user.isActive()`, `user.isSuspended()`), not the
/// development identity the tests act as: people any test may change.
pub async fn plain_members(app: &TestApp, filter: &str) -> Vec<User> {
    let members: Vec<User> = app
        .list_all(&[("filter", filter), ("max_page_size", "1000")])
        .await
        .into_iter()
        .filter(|u| {
            u.role == Some(keydesk_api::Role::Member)
                && u.user_type == Some(keydesk_api::UserType::Member)
        })
        .filter(|u| u.email != DEV_USER)
        .collect();
    assert!(members.len() >= 3, "the demo has plain members {filter}");
    members
}

/// Who the tests act as: the configuration's default development user, an ADMINISTRATOR in the demo.
pub const DEV_USER: &str = "amara.okafor@example.com";

/// Where recovery links point. The server listens on port 0, so its own address would not do.
pub const PUBLIC_URL: &str = "https://keydesk.test";

pub struct TestApp {
    pub config: Config,
    pub client: reqwest::Client,
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    audit: std::sync::Arc<keydesk_server::audit::AuditLog>,
    directory: std::sync::Arc<dyn keydesk_server::directory::Directory>,
    /// Its scheduled changes, to make what is due at a time the test chooses.
    pub scheduler: std::sync::Arc<keydesk_server::schedule::Scheduler>,
    // Deleted when the app is dropped; moved along on restart.
    dir: TempDir,
}

/// How a [`TestApp`] starts: the demo directory unless `generated_users`, development sign-in
/// unless `settings`, and any [`Config`] change.
#[derive(Default)]
#[must_use]
pub struct TestAppBuilder<'a> {
    settings: Option<(String, Vec<(String, String)>)>,
    generated_users: Option<u32>,
    configure: Vec<Configure<'a>>,
}

type Configure<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

impl<'a> TestAppBuilder<'a> {
    /// Read `settings` as the configuration file, with `files` (name, contents) written beside
    /// it (see [`config_with_settings`]).
    pub fn settings(mut self, settings: &str, files: &[(&str, &str)]) -> Self {
        let files = files
            .iter()
            .map(|(name, contents)| (name.to_string(), contents.to_string()))
            .collect();
        self.settings = Some((settings.to_owned(), files));
        self
    }

    /// A freshly generated directory of `count` users instead of the demo.
    pub fn generated_users(mut self, count: u32) -> Self {
        self.generated_users = Some(count);
        self
    }

    /// Change the configuration before the server starts.
    pub fn config(mut self, configure: impl FnOnce(&mut Config) + 'a) -> Self {
        self.configure.push(Box::new(configure));
        self
    }

    pub async fn start(self) -> TestApp {
        let (dir, mut config) = match &self.settings {
            Some((settings, files)) => {
                let files: Vec<(&str, &str)> = files
                    .iter()
                    .map(|(n, c)| (n.as_str(), c.as_str()))
                    .collect();
                config_with_settings(settings, &files)
            }
            None => {
                let dir = new_dir();
                let config = config_for(&dir);
                (dir, config)
            }
        };
        for configure in self.configure {
            configure(&mut config);
        }
        if let Some(count) = self.generated_users {
            generate_directory(&config, count).expect("generating the directory");
        }
        TestApp::serve(dir, config).await
    }
}

impl TestApp {
    /// A server over a new data directory, seeded with the demo users on first open.
    pub async fn start() -> TestApp {
        Self::builder().start().await
    }

    /// Anything else: `TestApp::builder().settings(toml, &[]).generated_users(n).start().await`.
    pub fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder::default()
    }

    /// A server over a data directory a test prepared (see [`config_with_settings`]).
    pub async fn in_dir(dir: TempDir, config: Config) -> TestApp {
        Self::serve(dir, config).await
    }

    /// The directory, to shut it down as `keydesk_server::run` does when the server stops.
    pub fn directory(&self) -> std::sync::Arc<dyn keydesk_server::directory::Directory> {
        self.directory.clone()
    }

    /// Stop this server and build a new app over the same data directory, as a restart does.
    pub async fn restart(self) -> TestApp {
        self.server.abort();
        let _ = self.server.await;
        Self::serve(self.dir, self.config).await
    }

    async fn serve(dir: TempDir, config: Config) -> TestApp {
        let keydesk = keydesk_server::build(&config).expect("building the app");
        Self::serve_built(dir, config, keydesk).await
    }

    /// Served as `keydesk_server::run` serves, with its connection limits and its peer
    /// addresses (the SSO check needs them).
    async fn serve_built(
        dir: TempDir,
        config: Config,
        keydesk: keydesk_server::Keydesk,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("binding a loopback port");
        let address = listener.local_addr().unwrap();
        let audit = keydesk.audit.clone();
        let directory = keydesk.directory.clone();
        let scheduler = keydesk.scheduler.clone();
        let server = tokio::spawn(keydesk.serve(listener, std::future::pending()));
        TestApp {
            scheduler,
            config,
            client: reqwest::Client::new(),
            address,
            server,
            audit,
            directory,
            dir,
        }
    }

    /// Write the counts of repeated refusals now rather than when their minute is over, as
    /// stopping does: after this, [`TestApp::audit_records`] holds every refusal.
    pub async fn close_refusals(&self) {
        self.audit
            .close_refusals(true)
            .await
            .expect("writing the counts");
    }

    /// How many refusals the records stand for, counting repeats.
    pub async fn refusals(&self, matching: impl Fn(&AuditRecord) -> bool) -> u32 {
        self.close_refusals().await;
        self.audit_records()
            .iter()
            .filter(|r| matching(r))
            .map(|r| r.count)
            .sum()
    }

    /// Where the server listens, to put a [`fault_proxy::FaultProxy`] in front of it.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn account(&self) -> &str {
        self.config.account_id.as_str()
    }

    pub fn users_path(&self) -> String {
        keydesk_api::users_path(&self.config.account_id)
    }

    pub fn user_path(&self, id: &str) -> String {
        format!("{}/{id}", self.users_path())
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.get(self.url(path))).await
    }

    /// A POST without a body, as the custom methods are called.
    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.post(self.url(path))).await
    }

    /// A POST with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// `POST …/users/{id}:completeRecovery` with every check of the default checklist ticked.
    pub async fn complete(&self, id: &str) -> (StatusCode, Value) {
        let path = format!("{}:completeRecovery", self.user_path(id));
        self.post_json(&path, &serde_json::json!({ "checked": checklist() }))
            .await
    }

    /// `POST …/users:beginRecovery` for the people named.
    pub async fn begin_recovery(&self, names: &[&str]) -> (StatusCode, Value) {
        let path = keydesk_api::begin_recovery_path(&self.config.account_id);
        self.post_json(&path, &serde_json::json!({ "users": names }))
            .await
    }

    /// `GET /api/outbox`, which must succeed: newest first.
    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        let (status, body) = self.get_json("/api/outbox").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value::<OutboxResponse>(body)
            .expect("an OutboxResponse")
            .messages
    }

    /// The token of the newest recovery link emailed to `email`: the link's fragment.
    pub async fn recovery_token(&self, email: &str) -> String {
        token_in(self.outbox().await, email)
    }

    /// `GET …/users` with query parameters (encoded by reqwest, so `%`, `ë` and spaces travel as
    /// written).
    pub async fn list(&self, params: &[(&str, &str)]) -> (StatusCode, Value) {
        self.send(self.client.get(self.url(&self.users_path())).query(params))
            .await
    }

    /// One page that must succeed.
    pub async fn list_page(&self, params: &[(&str, &str)]) -> ListUsersResponse {
        let (status, body) = self.list(params).await;
        assert_eq!(status, StatusCode::OK, "listing {params:?}: {body}");
        serde_json::from_value(body).expect("a ListUsersResponse")
    }

    /// Every page of a list, in order, following `next_page_token` to the end.
    pub async fn list_all(&self, params: &[(&str, &str)]) -> Vec<User> {
        let mut users = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let mut page_params = params.to_vec();
            if let Some(token) = &token {
                page_params.push(("page_token", token));
            }
            let page = self.list_page(&page_params).await;
            users.extend(page.results);
            token = page.next_page_token;
            if token.is_none() {
                return users;
            }
        }
        panic!("listing {params:?} never reached its last page");
    }

    /// Send a request that must answer JSON, and check the answer is well formed.
    pub async fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let (status, _, body) = self.send_full(request).await;
        (status, body)
    }

    /// [`TestApp::send`], keeping the response's headers.
    pub async fn send_full(&self, request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers.get(CONTENT_TYPE).cloned();
        let text = response.text().await.unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "a 500: {text}");
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{status} without a JSON content type: {text}"
        );
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        if !status.is_success() {
            let error: keydesk_api::ApiError = serde_json::from_value(body.clone())
                .unwrap_or_else(|err| panic!("{status}: not the error shape ({err}): {text}"));
            assert_eq!(error.error.code, status.as_u16(), "{text}");
            assert!(!error.error.message.is_empty(), "{text}");
        }
        (status, headers, body)
    }

    /// The SQLite file itself, to check what the server wrote.
    pub fn db(&self) -> rusqlite::Connection {
        open(&self.config.database_path())
    }

    /// The SQLite file that holds the audit trail: the directory's own (embedded), or
    /// `audit.db` beside an upstream directory.
    pub fn audit_db(&self) -> rusqlite::Connection {
        let settings =
            keydesk_server::settings::Settings::load(self.config.settings_file.as_deref())
                .expect("the test's settings load");
        open(&keydesk_server::audit_path(&self.config, &settings))
    }

    /// Every audit record, oldest first, as the file holds them.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        let conn = self.audit_db();
        let mut statement = conn
            .prepare(&format!(
                "SELECT {} FROM audit ORDER BY seq",
                keydesk_server::audit::chain::COLUMNS
            ))
            .unwrap();
        statement
            .query_map([], keydesk_server::audit::chain::row_to_record)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every row of every table the directory writes: a refused change must leave all of it as
    /// it was.
    pub fn tables(&self) -> Tables {
        Tables {
            users: self.table("users"),
            recovery_links: self.table("recovery_links"),
            credentials: self.table("credentials"),
            outbox: self.table("outbox"),
        }
    }

    /// Every row of a table, every column, in the order written.
    pub fn table(&self, name: &str) -> Vec<Vec<SqlValue>> {
        let conn = self.db();
        let mut statement = conn
            .prepare(&format!("SELECT * FROM {name} ORDER BY rowid"))
            .unwrap();
        let columns = statement.column_count();
        statement
            .query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    pub fn id_of(&self, email: &str) -> String {
        self.db()
            .query_row("SELECT id FROM users WHERE email = ?1", [email], |row| {
                row.get(0)
            })
            .unwrap_or_else(|err| panic!("no user {email} in the database: {err}"))
    }

    /// `(state, update_time)` of a user as the database holds them.
    pub fn row(&self, id: &str) -> (String, String) {
        self.db()
            .query_row(
                "SELECT state, update_time FROM users WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
    }

    /// The IDs of the database's users matching an SQL condition, sorted.
    pub fn ids_where(&self, condition: &str) -> Vec<String> {
        let conn = self.db();
        let mut statement = conn
            .prepare(&format!(
                "SELECT id FROM users WHERE {condition} ORDER BY id"
            ))
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

/// The directory's tables, as [`TestApp::tables`] reads them.
#[derive(Debug, PartialEq)]
pub struct Tables {
    pub users: Vec<Vec<SqlValue>>,
    pub recovery_links: Vec<Vec<SqlValue>>,
    pub credentials: Vec<Vec<SqlValue>>,
    pub outbox: Vec<Vec<SqlValue>>,
}

fn open(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path)
        .unwrap_or_else(|err| panic!("opening {}: {err}", path.display()));
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// The token of the newest recovery link among `messages` (newest first) emailed to `email`: the
/// link's fragment.
pub fn token_in(messages: Vec<OutboxMessage>, email: &str) -> String {
    let message = messages
        .into_iter()
        .find(|m| m.to == email)
        .unwrap_or_else(|| panic!("no email to {email} in the outbox"));
    let link = message.link.expect("the email carries a link");
    let (_, token) = link.split_once('#').expect("the token is in the fragment");
    token.to_owned()
}

/// Check an answer is the expected error, and give back its message for further checks.
pub fn expect_error(
    (status, body): &(StatusCode, Value),
    expected: StatusCode,
    canonical: &str,
) -> String {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(body["error"]["status"], canonical, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// A data directory that does not exist yet (the server must create it) beside a built page.
fn new_dir() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/index.html"), INDEX_HTML).unwrap();
    std::fs::create_dir(dir.path().join("dist/recover")).unwrap();
    std::fs::write(dir.path().join("dist/recover/index.html"), RECOVER_HTML).unwrap();
    std::fs::create_dir(dir.path().join("dist/records")).unwrap();
    std::fs::write(dir.path().join("dist/records/index.html"), RECORDS_HTML).unwrap();
    dir
}

/// A configuration over a new demo directory that reads `settings` as its configuration file.
/// `files` (name, contents) are written beside it first, and `{dir}` in the settings stands for
/// their directory, so the settings can name them (a proxy secret file, say).
pub fn config_with_settings(settings: &str, files: &[(&str, &str)]) -> (TempDir, Config) {
    let dir = new_dir();
    let mut config = config_for(&dir);
    let here = dir.path().to_str().expect("a UTF-8 temporary directory");
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let path = dir.path().join("keydesk.toml");
    std::fs::write(&path, settings.replace("{dir}", here)).unwrap();
    config.settings_file = Some(path);
    (dir, config)
}

fn config_for(dir: &TempDir) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        dist: Some(dir.path().join("dist")),
        account_id: AccountId::parse(DEMO_ACCOUNT_ID).unwrap(),
        settings_file: None,
        dev_user: DEV_USER.to_owned(),
        public_url: Some(PUBLIC_URL.to_owned()),
        recovery_link_ttl: Duration::from_secs(48 * 3600),
        smtp_url: None,
        mail_from: "Keydesk <keydesk@localhost>".to_owned(),
        metrics_listen: None,
        log_format: Default::default(),
    }
}

/// Case and accents folded away, the way a person expects "zoe" to find "Zoë": an oracle for
/// search and sort, written apart from the server's own folding.
pub fn fold(text: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            // Letters Unicode does not decompose; the demo has Łukasz and Ødegård.
            'ł' => "l".to_owned(),
            'ø' => "o".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

// ---- OAuth clients of the Users API (`[oauth]`) ----

/// The secret of every OAuth client the tests configure with [`oauth_client`].
pub const OAUTH_SECRET: &str = "s3cr3t-for-the-tests+/=:";

/// Hex SHA-256, as `[[oauth.clients]] secret_sha256` holds a secret.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(text.as_bytes()))
}

/// One `[[oauth.clients]]` table with [`OAUTH_SECRET`]; `scopes: None` leaves the default (all).
pub fn oauth_client(client_id: &str, scopes: Option<&[&str]>) -> String {
    let scopes = scopes
        .map(|s| format!("scopes = {s:?}\n"))
        .unwrap_or_default();
    format!(
        "[[oauth.clients]]\nclient_id = \"{client_id}\"\nsecret_sha256 = \"{}\"\n{scopes}",
        sha256_hex(OAUTH_SECRET)
    )
}

impl TestApp {
    /// `POST /v1beta1/users/oauth2/{endpoint}` (`token` or `revoke`) with Basic credentials and
    /// a form body: the status, the headers and the raw body (OAuth answers are not Keydesk's
    /// error shape, and a revocation's body is empty).
    pub async fn oauth_post(
        &self,
        endpoint: &str,
        credentials: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = self
            .client
            .post(self.url(&format!("/v1beta1/users/oauth2/{endpoint}")))
            .form(form);
        if let Some((id, secret)) = credentials {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    /// The token endpoint's answer for `client_id` (with [`OAUTH_SECRET`]), which must succeed.
    pub async fn token_answer(&self, client_id: &str) -> Value {
        let (status, _, body) = self
            .oauth_post(
                "token",
                Some((client_id, OAUTH_SECRET)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).expect("a JSON token answer")
    }

    /// A bearer token for `client_id` (with [`OAUTH_SECRET`]), which must be issued.
    pub async fn bearer_token(&self, client_id: &str) -> String {
        let body = self.token_answer(client_id).await;
        body["access_token"].as_str().expect("a token").to_owned()
    }
}
