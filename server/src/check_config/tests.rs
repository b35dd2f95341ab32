use std::{io::Write as _, path::PathBuf};

use clap::Parser as _;

use super::{Report, check};
use crate::Config;

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    config: Config,
}

/// Check `text` as the configuration file, with the flags given.
async fn checked(text: &str, flags: &[&str]) -> Report {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let path = file.path().display().to_string();
    let mut args = vec!["keydesk-server", "--config", path.as_str()];
    args.extend(flags);
    let config = Flags::try_parse_from(args).unwrap().config;
    check(&config, false).await
}

fn said(report: &Report) -> String {
    report
        .problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn secret_file(mode: u32) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "a-secret-of-some-length\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

#[tokio::test]
async fn every_problem_at_once_with_its_line_and_what_to_write() {
    let report = checked(
        "[auth]\n\
         mood = \"proxy\"\n\
         [auth.proxy]\n\
         trusted_proxies = [\"0.0.0.0/0\"]\n\
         [rate_limit]\n\
         actions_per_minit = 5\n\
         [server]\n\
         max_connections = \"many\"\n\
         [colours]\n\
         red = 1\n",
        &[],
    )
    .await;
    let text = said(&report);
    assert_eq!(report.problems.len(), 5, "{text}");
    let lines: Vec<_> = report.problems.iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        [Some(2), Some(4), Some(6), Some(8), Some(9)],
        "{text}"
    );
    assert!(text.contains("auth.mood: unknown field `mood`"), "{text}");
    assert!(text.contains("did you mean `mode`?"), "{text}");
    assert!(
        text.contains("did you mean `actions_per_minute`?"),
        "{text}"
    );
    assert!(text.contains("server.max_connections"), "{text}");
    assert!(text.contains("remove it, or use one of"), "{text}");
    assert!(text.contains("0.0.0.0/0, which is every address"), "{text}");
    assert!(report.effective.is_some());
}

#[tokio::test]
async fn not_toml_is_one_problem_at_its_line() {
    let report = checked("[auth]\nmode = \"proxy\n", &[]).await;
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].line, Some(2), "{}", said(&report));
    assert!(report.effective.is_none());
}

#[tokio::test]
async fn serve_refusals_are_problems_too() {
    // Development sign-in off loopback, and proxy mode where no group has a role.
    let report = checked("", &["--listen", "0.0.0.0:8080"]).await;
    assert!(said(&report).contains("loopback"), "{}", said(&report));
    let report = checked(
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\n[roles]\nowner = []\nadministrator = []\n\
         helpdesk = []\nviewer = []\n",
        &[],
    )
    .await;
    let text = said(&report);
    assert!(
        text.contains("line 4: no SSO group is mapped to any role"),
        "{text}"
    );
    let report = checked("[changes]\nticket_pattern = \"(\"\n", &[]).await;
    assert!(
        said(&report).contains("ticket_pattern"),
        "{}",
        said(&report)
    );
}

#[tokio::test]
async fn a_secret_file_must_exist_and_be_ours_alone() {
    let upstream = |path: &str| {
        format!(
            "[directory]\nbackend = \"upstream\"\n[directory.upstream]\n\
             account_id = \"KEYDESKDEMOACCOUNTABCDEFGH\"\nclient_id = \"c\"\n\
             client_secret_file = {path:?}\n"
        )
    };
    let (_dir, open) = secret_file(0o644);
    let report = checked(&upstream(&open.display().to_string()), &[]).await;
    let text = said(&report);
    assert!(text.contains("line 6: the secret file"), "{text}");
    assert!(text.contains("readable by every user"), "{text}");
    assert!(text.contains("chmod 600"), "{text}");
    let (_dir, closed) = secret_file(0o600);
    let report = checked(&upstream(&closed.display().to_string()), &[]).await;
    assert!(report.problems.is_empty(), "{}", said(&report));
    let report = checked(&upstream("/nonexistent/secret"), &[]).await;
    assert!(
        said(&report).contains("cannot be read"),
        "{}",
        said(&report)
    );
    let custom = upstream(&closed.display().to_string()).replace(
        "client_id",
        "base_url = \"https://1password.example.net\"\nclient_id",
    );
    let report = checked(&custom, &[]).await;
    let text = said(&report);
    assert!(
        text.contains("line 5: [directory.upstream] base_url"),
        "{text}"
    );
}

#[tokio::test]
async fn an_op_too_old_for_recovery_is_named() {
    let (_dir, secret) = secret_file(0o600);
    let op = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op");
    let report = checked(
        &format!(
            "[directory]\nbackend = \"upstream\"\n[directory.upstream]\n\
             account_id = \"KEYDESKDEMOACCOUNTABCDEFGH\"\nclient_id = \"c\"\n\
             client_secret_file = {:?}\n[directory.upstream.op]\npath = {op:?}\n\
             env = {{ OP_STANDIN_VERSION = \"2.31.1\", PATH = \"/usr/bin:/bin\" }}\n",
            secret.display().to_string()
        ),
        &[],
    )
    .await;
    let text = said(&report);
    assert!(text.contains("line 8:"), "{text}");
    assert!(text.contains("2.31.1"), "{text}");
    assert!(text.contains("2.32.0 or later"), "{text}");
}

#[tokio::test]
async fn the_effective_settings_hide_every_secret() {
    let report = checked(
        "[[oauth.clients]]\nclient_id = \"robot\"\n\
         secret_sha256 = \"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"\n\
         [directory.upstream]\naccount_id = \"KEYDESKDEMOACCOUNTABCDEFGH\"\nclient_id = \"c\"\n\
         [directory.upstream.op]\nenv = { OP_SESSION_example = \"session-value-1234\" }\n",
        &["--smtp-url", "smtps://ops:hunter2@mail.example.com"],
    )
    .await;
    let shown = report.effective.expect("it reads");
    for secret in ["5e884898", "session-value-1234", "hunter2"] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
    assert!(
        shown.contains("OP_SESSION_example = \"(redacted)\""),
        "{shown}"
    );
    assert!(
        shown.contains("smtps://ops:(redacted)@mail.example.com"),
        "{shown}"
    );
    assert!(shown.contains("actions_per_minute = 60"), "{shown}");
    assert!(shown.contains("four_eyes = true"), "{shown}");
}

#[tokio::test]
async fn an_audit_kept_less_than_a_day_is_a_problem_at_its_section() {
    let report = checked("[rate_limit]\n\n[audit]\nkeep = \"400s\"\n", &[]).await;
    let text = said(&report);
    assert_eq!(report.problems.len(), 1, "{text}");
    assert!(
        text.starts_with("line 3: [audit] keep = \"6m 40s\" is shorter than a day"),
        "{text}"
    );
    let report = checked("[audit]\nkeep = \"400d\"\n", &[]).await;
    assert!(report.problems.is_empty(), "{}", said(&report));
    let effective = report.effective.unwrap();
    // humantime writes 400 days in calendar units.
    assert!(
        effective.contains("[audit]\nkeep = \"1year 1month 4days 7h 26m 24s\"\n"),
        "{effective}"
    );
}
