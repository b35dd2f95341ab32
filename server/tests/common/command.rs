//! The real binary's subcommands (`backup`, `restore`, `verify-audit`), as an operator runs them.

use std::{path::Path, process::Command};

/// Run a `keydesk-server` subcommand over `dir` (its `data` and its `keydesk.toml`, if any):
/// (exit code, stdout, stderr).
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keydesk-server"));
    command
        .args(args)
        .env("KEYDESK_DATA_DIR", dir.join("data"))
        .env_remove("KEYDESK_CONFIG")
        .env("RUST_LOG", "keydesk_server=warn");
    if dir.join("keydesk.toml").exists() {
        command.env("KEYDESK_CONFIG", dir.join("keydesk.toml"));
    }
    let output = command.output().expect("running keydesk-server");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
