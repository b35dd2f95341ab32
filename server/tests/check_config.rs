//! `keydesk-server check-config`, the real binary: every problem of a bad file at once with its
//! line, and `--online` against the stand-in 1Password (an embedded Keydesk serving the Users API
//! with OAuth) and the `op` stand-in, whose `op whoami` says who it is signed in as.

use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Output};

use crate::common::{OAUTH_SECRET, TestApp, oauth_client};

const OP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op");
const CLIENT_ID: &str = "keydesk-upstream";
const PASSWORD: &str = crate::op_standin::PASSWORD;

/// Run `check-config` with `text` as the configuration file, in `dir`.
async fn check_config(dir: &Path, text: &str, online: bool) -> (bool, String) {
    let path = dir.join("keydesk.toml");
    std::fs::write(&path, text).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keydesk-server"));
    command
        .arg("check-config")
        .env("KEYDESK_CONFIG", &path)
        .env("KEYDESK_DATA_DIR", dir.join("data"))
        .env_remove("KEYDESK_UPSTREAM_CLIENT_SECRET")
        .env_remove("KEYDESK_LISTEN");
    if online {
        command.arg("--online");
    }
    let Output { status, stdout, .. } = command.output().await.unwrap();
    (status.success(), String::from_utf8(stdout).unwrap())
}

/// A secret file as an operator should leave it: readable by Keydesk alone.
fn secret_file(dir: &Path, secret: &str) -> String {
    let path = dir.join("client-secret");
    std::fs::write(&path, secret).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// An upstream configuration reading `cloud`, with `op` signed in as `op` says: its keys
/// (`password_file = …`) and its environment. The `op` stand-in keeps its state in `dir` and
/// knows the account password [`PASSWORD`].
fn upstream(cloud: &TestApp, dir: &Path, secret_file: &str, op: &str, op_env: &str) -> String {
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    format!(
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\n\n\
         [directory]\nbackend = \"upstream\"\n\n[directory.upstream]\n\
         base_url = {:?}\nallow_custom_base_url = true\naccount_id = {:?}\n\
         client_id = {CLIENT_ID:?}\nclient_secret_file = {secret_file:?}\n\n\
         [directory.upstream.op]\npath = {OP:?}\npass_env = [\"PATH\"]\naccount = \"keydesk\"\n\
         {op}\nenv = {{ OP_STANDIN_STATE = {:?}, OP_STANDIN_KEYDESK = {:?}, \
         OP_STANDIN_ACCOUNT = {:?}{op_env} }}\n",
        cloud.url(""),
        cloud.account(),
        dir.display().to_string(),
        cloud.url(""),
        cloud.account(),
    )
}

/// `password_file` holding `password`, readable by Keydesk alone.
fn password_file(dir: &Path, password: &str) -> String {
    let path = dir.join("op-password");
    std::fs::write(&path, password).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!("password_file = {:?}", path.display().to_string())
}

async fn cloud() -> TestApp {
    TestApp::builder()
        .settings(&oauth_client(CLIENT_ID, None), &[])
        .start()
        .await
}

#[tokio::test]
async fn a_bad_file_gets_every_problem_with_its_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = check_config(
        dir.path(),
        "[auth]\nmode = \"proxy\"\n[auth.proxy]\ntrusted_proxies = [\"::/0\"]\n\
         secret_heder = \"X-Proxy-Secret\"\n[roles]\nadminstrator = [\"it\"]\n",
        false,
    )
    .await;
    assert!(!ok, "{said}");
    assert!(said.contains(": 3 problems"), "{said}");
    assert!(
        said.contains("line 4: trusted_proxies includes ::/0"),
        "{said}"
    );
    assert!(said.contains("line 5: auth.proxy.secret_heder"), "{said}");
    assert!(said.contains("did you mean `secret_header`?"), "{said}");
    assert!(said.contains("line 7: roles.adminstrator"), "{said}");
    assert!(said.contains("did you mean `administrator`?"), "{said}");
}

#[tokio::test]
async fn online_with_a_signed_in_person_reads_a_page_and_says_recovery_can_work() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path(), OAUTH_SECRET);
    let op = password_file(dir.path(), PASSWORD);
    let text = upstream(&cloud, dir.path(), &secret, &op, "");
    let (ok, said) = check_config(dir.path(), &text, true).await;
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!(
            "1Password answered: the first page of account {} lists",
            cloud.account()
        )),
        "{said}"
    );
    assert!(
        said.contains(
            "op is signed in as keydesk-recovery@example.com on https://example.1password.com \
             (signed in with the password file)"
        ),
        "{said}"
    );
    assert!(said.contains("configuration OK"), "{said}");
    // The effective settings are shown, and no secret is.
    assert!(said.contains("backend = \"upstream\""), "{said}");
    assert!(
        !said.contains(PASSWORD) && !said.contains(OAUTH_SECRET),
        "{said}"
    );
}

#[tokio::test]
async fn online_says_why_recovery_will_not_work() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path(), OAUTH_SECRET);
    let service = ", OP_SERVICE_ACCOUNT_TOKEN = \"ops_x\"";
    let text = upstream(&cloud, dir.path(), &secret, "", service);
    let (ok, said) = check_config(dir.path(), &text, true).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("recovery will not work: op is signed in as a service account"),
        "{said}"
    );
    let text = upstream(&cloud, dir.path(), &secret, "", "");
    let (ok, said) = check_config(dir.path(), &text, true).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains(
            "recovery will not work: op is not signed in (You are not currently signed in."
        ),
        "{said}"
    );
    assert!(said.contains("set password_file"), "{said}");
    // A wrong password says so, and never shows.
    let wrong = "not the recovery user's password";
    let op = password_file(dir.path(), wrong);
    let text = upstream(&cloud, dir.path(), &secret, &op, "");
    let (ok, said) = check_config(dir.path(), &text, true).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains(
            "op could not sign in with the password file (op said: Unauthorized: the account \
             password is wrong)"
        ),
        "{said}"
    );
    assert!(!said.contains(wrong), "{said}");
}

#[tokio::test]
async fn online_names_a_client_1password_refuses_and_a_secret_others_can_read() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path(), "not-the-secret");
    let op = password_file(dir.path(), PASSWORD);
    let text = upstream(&cloud, dir.path(), &secret, &op, "");
    let (ok, said) = check_config(dir.path(), &text, true).await;
    assert!(!ok, "{said}");
    assert!(
        said.contains("1Password did not list the account's users"),
        "{said}"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, said) = check_config(dir.path(), &text, false).await;
    assert!(!ok, "{said}");
    assert!(said.contains("is readable by every user"), "{said}");
}
