//! The `op` stand-in (tests/fixtures/op), tested against a real Keydesk playing the account: its
//! sessions end as 1Password says op's do, it reads the password on standard input, it reports
//! the CLI's states, and it refuses what op refuses.

use std::{
    io::Write as _,
    process::{Command, Stdio},
    time::Duration,
};

use crate::common::{TestApp, plain_members as members};
use serde_json::Value;

/// The account password the stand-in accepts.
pub const PASSWORD: &str = "correct horse battery staple";

fn state(app: &TestApp, id: &str) -> String {
    app.row(id).0
}

#[derive(Debug)]
struct OpRun {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A stand-in acting on `app`, with its account added (the password known), a log, and no
/// session until [`Op::signed_in`].
struct Op {
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
    ahead: std::cell::Cell<u64>,
}

impl Op {
    fn new(app: &TestApp) -> Op {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("password"), PASSWORD).unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let env = vec![
            ("OP_STANDIN_KEYDESK", app.url("")),
            ("OP_STANDIN_ACCOUNT", app.account().to_owned()),
            ("OP_STANDIN_STATE", path("")),
            ("OP_STANDIN_LOG", path("op.log")),
        ];
        Op {
            dir,
            env,
            ahead: std::cell::Cell::new(0),
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> Op {
        self.env.retain(|(n, _)| *n != name);
        self.env.push((name, value.to_owned()));
        self
    }

    /// Signed in with the password, the session in `OP_SESSION_keydesk` as a shell would set it.
    async fn signed_in(self) -> Op {
        let token = self.sign_in(PASSWORD).await;
        self.with("OP_SESSION_keydesk", &token)
    }

    async fn sign_in(&self, password: &str) -> String {
        let run = self
            .run_with_input(&["signin", "--account", "keydesk", "--raw"], password)
            .await;
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        run.stdout.trim().to_owned()
    }

    /// Move the stand-in's clock forward.
    fn advance(&self, by: Duration) {
        self.ahead.set(self.ahead.get() + by.as_secs());
        std::fs::write(self.dir.path().join("clock"), self.ahead.get().to_string()).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op"));
        command.args(args).env_clear().env("PATH", "/usr/bin:/bin");
        command.envs(self.env.iter().map(|(n, v)| (n, v)));
        command
    }

    async fn run(&self, args: &[&str]) -> OpRun {
        self.run_with_input(args, "").await
    }

    /// Run it to the end with `input` on standard input, off the runtime's threads: it calls
    /// the server on this runtime.
    async fn run_with_input(&self, args: &[&str], input: &str) -> OpRun {
        let mut command = self.command(args);
        let input = format!("{input}\n");
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("running op");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        OpRun {
            code: output.status.code().expect("an exit status"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

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

const WHOAMI: [&str; 3] = ["whoami", "--format", "json"];

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
async fn signing_in_reads_the_password_on_standard_input() {
    let app = TestApp::start().await;
    let op = Op::new(&app);
    let wrong = op
        .run_with_input(&["signin", "--raw"], "not the password")
        .await;
    assert_eq!((wrong.code, wrong.stdout.as_str()), (1, ""), "{wrong:?}");
    assert_eq!(
        error_lines(&wrong.stderr),
        ["Unauthorized: the account password is wrong"]
    );
    let nothing = op.run(&["signin", "--raw"]).await;
    assert_eq!(nothing.code, 1, "{nothing:?}");
    let other = op
        .run_with_input(&["signin", "--account", "other", "--raw"], PASSWORD)
        .await;
    assert_eq!(
        error_lines(&other.stderr),
        ["no account found for filter \"other\""]
    );

    let token = op.sign_in(PASSWORD).await;
    assert!(token.len() >= 40, "{token}");
    // The session, in the flag or in OP_SESSION_<shorthand>; not in another variable.
    let flag = op
        .run(&["whoami", "--format", "json", "--session", &token])
        .await;
    assert_eq!(flag.code, 0, "{flag:?}");
    let me: Value = serde_json::from_str(&flag.stdout).unwrap();
    assert_eq!(me["user_type"], "HUMAN");
    assert_eq!(me["email"], "keydesk-recovery@example.com");
    let elsewhere = Op::new(&app).with("OP_SESSION_other", &token);
    let run = elsewhere.run(&WHOAMI).await;
    assert!(
        error_lines(&run.stderr)[0].starts_with("You are not currently signed in"),
        "{run:?}"
    );
    // Without an account added (no password known), there is nothing to sign in to.
    std::fs::remove_file(op.dir.path().join("password")).unwrap();
    let run = op.run_with_input(&["signin", "--raw"], PASSWORD).await;
    assert!(
        error_lines(&run.stderr)[0].starts_with("No accounts configured"),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_session_ends_after_30_idle_minutes_and_use_keeps_it() {
    let app = TestApp::start().await;
    let op = Op::new(&app).signed_in().await;
    op.advance(Duration::from_secs(29 * 60));
    assert_eq!(op.run(&WHOAMI).await.code, 0, "used within 30 minutes");
    op.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        op.run(&WHOAMI).await.code,
        0,
        "58 minutes on, used on the way"
    );
    op.advance(Duration::from_secs(31 * 60));
    let run = op.run(&WHOAMI).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        error_lines(&run.stderr),
        ["session expired, sign in to create a new session"]
    );
    let log = op.log();
    let sessions: Vec<&str> = log.iter().map(|l| l["session"].as_str().unwrap()).collect();
    assert_eq!(sessions[1..], ["HUMAN", "HUMAN", "expired"]);
}

#[tokio::test]
async fn a_session_used_without_pause_still_ends_after_12_hours() {
    let app = TestApp::start().await;
    let op = Op::new(&app).signed_in().await;
    for _ in 0..35 {
        op.advance(Duration::from_secs(20 * 60));
        assert_eq!(op.run(&WHOAMI).await.code, 0);
    }
    op.advance(Duration::from_secs(20 * 60));
    let run = op.run(&WHOAMI).await;
    assert_eq!(
        error_lines(&run.stderr),
        ["session expired, sign in to create a new session"]
    );
    let fresh = op.with("OP_SESSION_keydesk", "").signed_in().await;
    assert_eq!(fresh.run(&WHOAMI).await.code, 0, "a new sign-in works");
}

#[tokio::test]
async fn users_are_listed_and_read_with_the_clis_states() {
    let app = TestApp::start().await;
    let op = Op::new(&app).signed_in().await;
    let run = op.run(&["user", "list", "--format", "json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let listed: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let everyone = app.list_all(&[]).await;
    assert_eq!(listed.len(), everyone.len());
    let accepted = everyone
        .iter()
        .find(|u| u.state == keydesk_api::UserState::RecoveryAccepted)
        .expect("the demo has someone in recovery");
    let shown = listed
        .iter()
        .find(|u| u["id"] == accepted.id.as_str())
        .unwrap();
    let keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["email", "id", "name", "state", "type"]);
    assert_eq!(shown["state"], "RECOVERY_ACCEPTED");

    for name in [
        accepted.id.as_str(),
        accepted.email.as_str(),
        &accepted.display_name,
    ] {
        let run = op.run(&["user", "get", name, "--format", "json"]).await;
        assert_eq!(run.code, 0, "{run:?}");
        let user: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(user["state"], "RECOVERY_ACCEPTED");
        assert_eq!(user["last_auth_at"], "0001-01-01T00:00:00Z");
        assert_eq!(user["created_at"], accepted.create_time);
    }
    let run = op
        .run(&["user", "get", "nobody@example.com", "--format", "json"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test]
async fn recovery_begins_in_op_json_for_a_persons_session_only() {
    let app = TestApp::start().await;
    let active = members(&app, "user.isActive()").await;
    let before = app.tables();
    let service = Op::new(&app).with("OP_SERVICE_ACCOUNT_TOKEN", "ops_test-token");
    assert_eq!(service.run(&WHOAMI).await.code, 0, "it may read");
    let run = service.run(&begin(&[&active[0].email])).await;
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{run:?}");
    assert!(error_lines(&run.stderr)[0].starts_with("a service account cannot"));
    let run = Op::new(&app).run(&begin(&[&active[0].email])).await;
    assert!(error_lines(&run.stderr)[0].starts_with("You are not currently signed in"));
    assert_eq!(app.tables(), before, "nothing began");

    let op = Op::new(&app).signed_in().await;
    let second = active[1].id.to_string();
    let run = op.run(&begin(&[&active[0].email, &second])).await;
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    let printed: Vec<Value> = serde_json::from_str(&run.stdout).expect("a JSON array");
    assert_eq!(printed.len(), 2, "{printed:?}");
    for (shown, user) in printed.iter().zip(&active) {
        assert_eq!(shown["id"], user.id.to_string());
        assert_eq!(shown["state"], "RECOVERY_STARTED");
        assert_eq!(state(&app, user.id.as_str()), "RECOVERY_STARTED");
    }
}

#[tokio::test]
async fn recovery_failures_are_reported_per_person_and_eleven_are_refused() {
    let app = TestApp::start().await;
    let active = members(&app, "user.isActive()").await;
    let suspended = &members(&app, "user.isSuspended()").await[0];
    let op = Op::new(&app).signed_in().await;
    let nobody = "nobody@example.com";
    let run = op
        .run(&begin(&[&active[0].email, &suspended.email, nobody]))
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    let printed: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(printed.len(), 1);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with(&format!("\"{}\": ", suspended.email)));
    assert!(errors[1].starts_with(&format!("\"{nobody}\": ")));
    assert_eq!(state(&app, suspended.id.as_str()), "SUSPENDED");

    let before = app.tables();
    let emails: Vec<&str> = active[1..12].iter().map(|u| u.email.as_str()).collect();
    let run = op.run(&begin(&emails)).await;
    assert_eq!(
        error_lines(&run.stderr),
        ["accepts at most 10 arg(s), received 11"]
    );
    assert_eq!(app.tables(), before);
}

#[tokio::test]
async fn op_stand_in_checks_its_flags_and_fails_on_request() {
    let app = TestApp::start().await;
    let email = &members(&app, "user.isActive()").await[0].email;
    let op = Op::new(&app).signed_in().await;
    let run = op.run(&["user", "recovery", "begin", email]).await;
    assert_eq!(
        (run.code, error_lines(&run.stderr)),
        (2, vec!["--format json required by the stand-in".to_owned()])
    );
    let run = op.run(&["whoami", "--format=json", "--force"]).await;
    assert_eq!(error_lines(&run.stderr), ["unknown flag: --force"]);

    let before = app.tables();
    let crash = op.with("OP_STANDIN_FAIL", "crash");
    let run = crash.run(&begin(&[email])).await;
    assert_eq!(
        (run.code, error_lines(&run.stderr)),
        (1, vec!["internal error".to_owned()])
    );
    let garbage = crash.with("OP_STANDIN_FAIL", "garbage");
    let run = garbage.run(&begin(&[email])).await;
    assert_eq!((run.code, run.stdout.as_str()), (0, "not json\n"));
    assert_eq!(app.tables(), before);
}
