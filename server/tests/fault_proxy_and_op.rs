//! The upstream connector's test kit, tested: the fault-injecting proxy in front of a real Keydesk,
//! and the `op` stand-in (tests/fixtures/op) acting on one.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::common::{
    DEV_USER, TestApp,
    fault_proxy::{Fault, FaultProxy, Match},
};
use keydesk_api::{Role, User, UserType};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A test app and a proxy in front of it.
async fn proxied() -> (TestApp, FaultProxy) {
    let app = TestApp::start().await;
    let proxy = FaultProxy::start(app.address()).await;
    (app, proxy)
}

/// Plain MEMBERs in a state, as the list API gives them (the caller, an admin, is not one).
async fn members(app: &TestApp, filter: &str) -> Vec<User> {
    let users = app.list_all(&[("filter", filter)]).await;
    let members: Vec<User> = users
        .into_iter()
        .filter(|u| u.role == Some(Role::Member) && u.user_type == Some(UserType::Member))
        .filter(|u| u.email != DEV_USER)
        .collect();
    assert!(members.len() >= 3, "the demo has plain members {filter}");
    members
}

fn state(app: &TestApp, id: &str) -> String {
    app.row(id).0
}

#[tokio::test]
async fn proxy_forwards_requests_and_records_them() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let path = format!(
        "{}?filter=user.isSuspended()&max_page_size=2",
        app.users_path()
    );

    let direct: Value = client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = client
        .get(format!("{}{path}", proxy.url()))
        .header("user-agent", "Keydesk/test")
        .header("x-request-id", "trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.unwrap(), direct);

    let person = &members(&app, "user.isActive()").await[0];
    let begin = keydesk_api::begin_recovery_path(&app.config.account_id);
    let body = json!({"users": [person.email]}).to_string();
    let response = client
        .post(format!("{}{begin}", proxy.url()))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state(&app, person.id.as_str()), "RECOVERY_STARTED");

    let seen = proxy.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path_and_query, path);
    assert_eq!(seen[0].header("User-Agent"), Some("Keydesk/test"));
    assert_eq!(seen[0].headers["x-request-id"], "trace-1");
    assert!(seen[0].forwarded && seen[0].fault.is_none());
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].path_and_query, begin);
    assert_eq!(seen[1].body, body);
    assert!(seen[1].forwarded && seen[1].fault.is_none());

    // Credentials pass through too; what the server makes of this token is not our business.
    client
        .get(format!("{}{path}", proxy.url()))
        .bearer_auth("opaque")
        .send()
        .await
        .unwrap();
    let seen = proxy.requests();
    assert_eq!(seen[2].header("authorization"), Some("Bearer opaque"));
    assert!(seen[2].forwarded);
}

#[tokio::test]
async fn latency_delays_then_forwards() {
    let (app, proxy) = proxied().await;
    proxy.inject(Fault::Latency(Duration::from_millis(300)), Match::Any);

    let started = Instant::now();
    let response = reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();

    let seen = proxy.requests();
    assert_eq!(seen[0].fault.as_deref(), Some("Latency(300ms)"));
    assert!(seen[0].forwarded);
    assert_eq!(seen[1].fault, None);
}

#[tokio::test]
async fn too_many_carries_retry_after_and_reaches_only_matching_requests() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::too_many(7), Match::PathContains(":suspend"));

    // A list does not match, so it passes and leaves the fault queued.
    let list = client
        .get(format!("{}{}", proxy.url(), app.users_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(proxy.pending_faults(), 1);

    let refused = client.post(&suspend).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "7");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429, "{body}");
    assert_eq!(
        state(&app, &id),
        "ACTIVE",
        "a refused request never reached the server"
    );

    let retried = client.post(&suspend).send().await.unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(state(&app, &id), "SUSPENDED");

    let seen = proxy.requests();
    let faults: Vec<_> = seen
        .iter()
        .map(|s| (s.fault.as_deref(), s.forwarded))
        .collect();
    assert_eq!(
        faults,
        [(None, true), (Some("Status(429)"), false), (None, true)]
    );
}

#[tokio::test]
async fn faults_are_taken_in_the_order_queued() {
    let (app, proxy) = proxied().await;
    let url = format!("{}{}", proxy.url(), app.users_path());
    proxy.inject_times(Fault::server_error(), Match::Method(Method::GET), 2);
    proxy.inject(Fault::unavailable(Some("1")), Match::Any);
    proxy.inject(
        Fault::Unauthorized,
        Match::MethodAndPath(Method::GET, "/users"),
    );

    let mut answers = Vec::new();
    for _ in 0..5 {
        let response = reqwest::get(&url).await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        answers.push((response.status().as_u16(), retry_after));
    }
    assert_eq!(
        answers,
        [
            (500, None),
            (500, None),
            (503, Some("1".to_owned())),
            (401, None),
            (200, None)
        ]
    );
    assert_eq!(proxy.pending_faults(), 0);

    proxy.inject_times(Fault::server_error(), Match::Any, 3);
    proxy.clear_faults();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unauthorized_answers_as_an_expired_token_would() {
    let (app, proxy) = proxied().await;
    proxy.inject(Fault::Unauthorized, Match::Any);

    let response = reqwest::get(format!("{}{}", proxy.url(), app.users_path()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{body}");
    assert!(!proxy.requests()[0].forwarded);
}

#[tokio::test]
async fn drop_closes_the_connection_and_forwards_nothing() {
    let (app, proxy) = proxied().await;
    let client = reqwest::Client::new();
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::Drop, Match::Method(Method::POST));

    let err = client.post(&suspend).send().await.expect_err("no answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(state(&app, &id), "ACTIVE");

    // The proxy itself carries on, and the client did not retry behind our back.
    assert_eq!(
        client.post(&suspend).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(state(&app, &id), "SUSPENDED");
    let seen = proxy.requests();
    let faults: Vec<_> = seen
        .iter()
        .map(|s| (s.fault.as_deref(), s.forwarded))
        .collect();
    assert_eq!(faults, [(Some("Drop"), false), (None, true)]);
}

#[tokio::test]
async fn drop_after_forward_changes_the_state_but_the_client_sees_an_error() {
    let (app, proxy) = proxied().await;
    let id = members(&app, "user.isActive()").await[0].id.to_string();
    let suspend = format!("{}{}:suspend", proxy.url(), app.user_path(&id));
    proxy.inject(Fault::DropAfterForward, Match::PathContains(":suspend"));

    let err = reqwest::Client::new()
        .post(&suspend)
        .send()
        .await
        .expect_err("no answer");
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(state(&app, &id), "SUSPENDED", "it happened upstream");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].fault.as_deref(), Some("DropAfterForward"));
    assert!(seen[0].forwarded);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap();
    drop(free);
    let proxy = FaultProxy::start(address).await;

    let response = reqwest::get(format!("{}/v1beta1/accounts", proxy.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(!proxy.requests()[0].forwarded);
}

// The `op` stand-in.

/// What one run of the stand-in gave.
#[derive(Debug)]
struct OpRun {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A stand-in acting on `app`, with a token and a log file.
struct Op {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Op {
    fn new(app: &TestApp) -> Op {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("OP_SERVICE_ACCOUNT_TOKEN", "ops_test-token".to_owned()),
            ("OP_STANDIN_KEYDESK", app.url("")),
            ("OP_STANDIN_ACCOUNT", app.account().to_owned()),
            (
                "OP_STANDIN_LOG",
                dir.path().join("op.log").to_str().unwrap().to_owned(),
            ),
        ];
        Op { dir, env }
    }

    fn with(mut self, name: &'static str, value: &str) -> Op {
        self.env.retain(|(n, _)| *n != name);
        self.env.push((name, value.to_owned()));
        self
    }

    fn without(mut self, name: &'static str) -> Op {
        self.env.retain(|(n, _)| *n != name);
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op"));
        command.args(args);
        for name in [
            "OP_SERVICE_ACCOUNT_TOKEN",
            "OP_STANDIN_FAIL",
            "OP_STANDIN_VERSION",
        ] {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(n, v)| (n, v)));
        command
    }

    /// Run it to the end, off the runtime's threads: it calls the server on this runtime.
    async fn run(&self, args: &[&str]) -> OpRun {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output().expect("running op"))
            .await
            .unwrap();
        OpRun {
            code: output.status.code().expect("an exit status"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Every line of the log: one per run.
    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("op.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn begin<'a>(users: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["user", "recovery", "begin"];
    args.extend(users);
    args.extend(["--format", "json"]);
    args
}

/// `[ERROR] YYYY/MM/DD HH:MM:SS <rest>`: the rest.
fn error_lines(stderr: &str) -> Vec<String> {
    let pattern =
        regex::Regex::new(r"^\[ERROR\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (.+)$").unwrap();
    stderr
        .lines()
        .map(|line| {
            let captures = pattern
                .captures(line)
                .unwrap_or_else(|| panic!("not op's error format: {line}"));
            captures[1].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn op_stand_in_reports_its_version() {
    let app = TestApp::start().await;
    let run = Op::new(&app).run(&["--version"]).await;
    assert_eq!((run.code, run.stdout.as_str()), (0, "2.32.0\n"), "{run:?}");

    let run = Op::new(&app)
        .with("OP_STANDIN_VERSION", "2.31.1")
        .run(&["--version"])
        .await;
    assert_eq!(run.stdout, "2.31.1\n");
}

#[tokio::test]
async fn op_stand_in_begins_recovery_in_op_json() {
    let app = TestApp::start().await;
    let active = members(&app, "user.isActive()").await;
    let (first, second) = (&active[0], &active[1]);
    let op = Op::new(&app);

    // One named by email, one by ID, as op accepts either.
    let second_id = second.id.to_string();
    let args = begin(&[&first.email, &second_id]);
    let run = op.run(&args).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    let printed: Vec<Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    assert_eq!(printed.len(), 2, "{printed:?}");
    for (shown, user) in printed.iter().zip([first, second]) {
        let keys: Vec<_> = shown
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "id",
            "name",
            "email",
            "type",
            "state",
            "created_at",
            "updated_at",
        ];
        expected.sort();
        assert_eq!(keys, expected, "{shown}");
        assert_eq!(shown["id"], user.id.to_string());
        assert_eq!(shown["name"], user.display_name);
        assert_eq!(shown["email"], user.email);
        assert_eq!(shown["type"], "MEMBER");
        assert_eq!(shown["state"], "RECOVERY_STARTED");
        assert_eq!(shown["created_at"], user.create_time);
        assert_eq!(state(&app, user.id.as_str()), "RECOVERY_STARTED");
    }

    let args: Vec<Value> = args.iter().map(|a| json!(a)).collect();
    assert_eq!(op.log(), [json!({"argv": args, "env_has_token": true})]);
}

#[tokio::test]
async fn op_stand_in_reports_failures_per_person() {
    let app = TestApp::start().await;
    let active = members(&app, "user.isActive()").await;
    let suspended = &members(&app, "user.isSuspended()").await[0];
    let nobody = "nobody@example.com";

    let run = Op::new(&app)
        .run(&begin(&[
            &active[0].email,
            &suspended.email,
            nobody,
            &active[1].email,
        ]))
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let printed: Vec<Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    let emails: Vec<_> = printed
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [active[0].email.as_str(), active[1].email.as_str()]);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("\"{}\": ", suspended.email)),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with(&format!("\"{nobody}\": ")),
        "{errors:?}"
    );
    assert!(
        errors.iter().all(|e| !e.ends_with(": ")),
        "each error says why: {errors:?}"
    );

    assert_eq!(state(&app, active[0].id.as_str()), "RECOVERY_STARTED");
    assert_eq!(state(&app, active[1].id.as_str()), "RECOVERY_STARTED");
    assert_eq!(state(&app, suspended.id.as_str()), "SUSPENDED");

    // Nobody began: an empty array, still.
    let run = Op::new(&app).run(&begin(&[nobody])).await;
    assert_eq!((run.code, run.stdout.trim()), (1, "[]"), "{run:?}");
}

#[tokio::test]
async fn op_stand_in_refuses_eleven() {
    let app = TestApp::start().await;
    let active = members(&app, "user.isActive()").await;
    assert!(active.len() >= 11);
    let before = app.tables();
    let emails: Vec<&str> = active[..11].iter().map(|u| u.email.as_str()).collect();

    let run = Op::new(&app).run(&begin(&emails)).await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{run:?}");
    assert_eq!(
        error_lines(&run.stderr),
        ["accepts at most 10 arg(s), received 11"]
    );
    assert_eq!(app.tables(), before);

    let run = Op::new(&app).run(&begin(&[])).await;
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test]
async fn op_stand_in_refuses_without_a_token() {
    let app = TestApp::start().await;
    let before = app.tables();
    let email = &members(&app, "user.isActive()").await[0].email;
    let op = Op::new(&app).without("OP_SERVICE_ACCOUNT_TOKEN");

    let run = op.run(&begin(&[email])).await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{run:?}");
    let errors = error_lines(&run.stderr);
    assert!(
        errors[0].starts_with("You are not currently signed in"),
        "{errors:?}"
    );
    assert_eq!(op.log()[0]["env_has_token"], false);
    assert_eq!(app.tables(), before);
}

#[tokio::test]
async fn op_stand_in_checks_its_flags() {
    let app = TestApp::start().await;
    let email = &members(&app, "user.isActive()").await[0].email;
    let op = Op::new(&app);

    let run = op.run(&["user", "recovery", "begin", email]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        error_lines(&run.stderr),
        ["--format json required by the stand-in"]
    );

    let run = op
        .run(&[
            "user",
            "recovery",
            "begin",
            email,
            "--format=json",
            "--force",
        ])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(error_lines(&run.stderr), ["unknown flag: --force"]);

    let before = app.tables();
    let run = op
        .run(&["user", "recovery", "begin", "--format=json", email])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(app.tables(), before);
}

#[tokio::test]
async fn op_stand_in_fails_on_request() {
    let app = TestApp::start().await;
    let before = app.tables();
    let email = &members(&app, "user.isActive()").await[0].email;

    let run = Op::new(&app)
        .with("OP_STANDIN_FAIL", "crash")
        .run(&begin(&[email]))
        .await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{run:?}");
    assert_eq!(error_lines(&run.stderr), ["internal error"]);

    let run = Op::new(&app)
        .with("OP_STANDIN_FAIL", "garbage")
        .run(&begin(&[email]))
        .await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "not json\n"),
        "{run:?}"
    );
    assert_eq!(app.tables(), before);

    // Kept until the end: the stand-in writes its log there first.
    let op = Op::new(&app).with("OP_STANDIN_FAIL", "hang");
    let mut child = op
        .command(&begin(&[email]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(child.try_wait().unwrap().is_none(), "it hangs");
    child.kill().unwrap();
    child.wait().unwrap();
}
