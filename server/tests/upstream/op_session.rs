//! Keeping `op` signed in without an operator: the password file signs it in (the password on
//! standard input, never in an argument, the environment or a log), `op whoami` keeps a quiet
//! session from ending, an ended one is signed in again and the command run once more, and when
//! none of that can work, the page and `/healthz` say why before anyone tries. The stand-in's
//! clock is moved forward; nothing sleeps for half an hour.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{
    OP_PASSWORD, Setup, World, begin_args, eventually, members, read_op_log, settings_dir, start,
    start_cloud, upstream_settings,
};
use crate::common::{expect_error, process::Process};

impl World {
    /// Move the `op` stand-in's clock forward by `minutes` from where it is.
    fn advance_op_clock(&self, minutes: u64) {
        let path = settings_dir(&self.keydesk).join("clock");
        let now: u64 = std::fs::read_to_string(&path)
            .map(|text| text.trim().parse().unwrap())
            .unwrap_or(0);
        std::fs::write(path, (now + minutes * 60).to_string()).unwrap();
    }

    /// What the stand-in logged of each run: its command and whether its session worked.
    fn op_sessions(&self) -> Vec<(String, String)> {
        read_op_log(&self.keydesk)
            .iter()
            .map(|run| {
                let argv: Vec<&str> = run["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                let command = argv
                    .iter()
                    .take_while(|a| !a.starts_with('-') && a.chars().all(char::is_lowercase))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                (command, run["session"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    async fn config(&self) -> Value {
        self.keydesk.get_json("/api/config").await.1
    }
}

#[tokio::test]
async fn an_ended_session_is_signed_in_again_and_the_recovery_goes_through() {
    let world = start(Setup::default()).await;
    let person = &members(&world.cloud, "user.isActive()").await[0];
    let id = person.id.to_string();
    eventually("signed in", Duration::from_secs(10), async || {
        (world.config().await["recovery"]["available"] == true).then_some(())
    })
    .await;
    // A quiet hour: 1Password ended the session after 30 minutes.
    world.advance_op_clock(61);

    let (status, body) = world.keydesk.begin_recovery(&[&person.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(world.cloud_state(&id), "RECOVERY_STARTED");
    // Refused for its session, signed in, then run once more: one begin that did anything.
    let runs = world.op_sessions();
    let tail: Vec<(&str, &str)> = runs[runs.len() - 3..]
        .iter()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("user recovery begin", "expired"),
            ("signin", "none"),
            ("user recovery begin", "HUMAN"),
        ]
    );
    assert_eq!(world.op_begins(), [begin_args(&[&id]), begin_args(&[&id])]);
    let records = world.audited("begin_recovery");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "succeeded");
    // The password went in on standard input only: in no argument, no variable.
    let log = std::fs::read_to_string(settings_dir(&world.keydesk).join("op.log")).unwrap();
    assert!(
        !log.contains(OP_PASSWORD),
        "the password reached op's arguments or environment"
    );
}

#[tokio::test]
async fn a_quiet_session_is_kept_alive_with_op_whoami() {
    let world = start(
        Setup::default()
            .op_keepalive("1s")
            .set("refresh_interval", "\"1h\""),
    )
    .await;
    let person = &members(&world.cloud, "user.isActive()").await[0];
    let whoamis = || world.op_runs("whoami").len();
    for _ in 0..3 {
        // Twenty minutes pass; Keydesk's next whoami keeps the session.
        world.advance_op_clock(20);
        let before = whoamis();
        eventually("a whoami", Duration::from_secs(10), async || {
            (whoamis() > before).then_some(())
        })
        .await;
    }
    let (status, body) = world.keydesk.begin_recovery(&[&person.email]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signins = world.op_runs("signin").len();
    assert_eq!(signins, 1, "one hour on, still the first session");
    assert!(
        world
            .op_sessions()
            .iter()
            .all(|(_, session)| session != "expired"),
        "{:?}",
        world.op_sessions()
    );
}

#[tokio::test]
async fn without_a_password_file_recovery_is_unavailable_before_anyone_tries() {
    let world = start(Setup {
        op_password: None,
        ..Setup::default()
    })
    .await;
    let config = eventually("checked", Duration::from_secs(10), async || {
        let config = world.config().await;
        config["recovery"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not signed in"))
            .then_some(config)
    })
    .await;
    assert_eq!(config["recovery"]["available"], false);
    let why = config["recovery"]["reason"].as_str().unwrap();
    assert!(
        why.starts_with(
            "op is not signed in (You are not currently signed in. Please run `op signin --help` \
             for instructions); sign op in again"
        ),
        "{why}"
    );
    assert!(why.contains("password_file"), "{why}");
    // The rest works: healthy, and saying what does not.
    let (status, health) = world.keydesk.get_json("/healthz").await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &"ok".into()));
    assert_eq!(
        health["degraded"][0],
        format!("Recovery is unavailable: {why}")
    );
    // Keepalive runs only while signed in: nothing more is tried until someone asks.
    let whoamis = world.op_runs("whoami").len();
    let person = &members(&world.cloud, "user.isActive()").await[0];
    let answer = world.keydesk.begin_recovery(&[&person.email]).await;
    let message = expect_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert!(message.contains("op is not signed in"), "{message}");
    assert_eq!(world.cloud_state(person.id.as_str()), "ACTIVE");
    assert_eq!(world.audited("begin_recovery")[0].outcome, "failed");
    assert_eq!(world.op_runs("whoami").len(), whoamis);
}

#[tokio::test]
async fn a_wrong_password_says_so_and_is_never_logged() {
    let wrong = "not-the-recovery-users-password";
    let setup = Setup {
        op_password: Some(wrong),
        ..Setup::default()
    };
    let (cloud, proxy) = start_cloud(&setup).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("client-secret", crate::common::OAUTH_SECRET),
        ("password", OP_PASSWORD),
        ("op-password", wrong),
    ] {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let log = dir.path().join("keydesk.log");
    let settings = upstream_settings(&cloud, &proxy.url(), &setup);
    let keydesk = Process::start_with(dir.path(), &settings, &[], Some(&log));
    let client = reqwest::Client::new();
    let config: Value = eventually("checked", Duration::from_secs(15), async || {
        let config: Value = client
            .get(format!("{}/api/config", keydesk.url))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (config["recovery"]["available"] == false
            && config["recovery"]["reason"]
                .as_str()?
                .contains("could not sign in"))
        .then_some(config)
    })
    .await;
    assert_eq!(
        config["recovery"]["reason"],
        "op could not sign in with the password file (op said: Unauthorized: the account \
         password is wrong)"
    );
    keydesk.stop();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("recovery is unavailable"), "{written}");
    let op_log = std::fs::read_to_string(dir.path().join("op.log")).unwrap();
    for text in [&written, &op_log] {
        assert!(!text.contains(wrong), "the password was written somewhere");
    }
}
