//! The 1Password CLI, for what the Users API cannot do or say: beginning recovery (`op user
//! recovery begin <user>… --format json`) and the recovery and transfer states (`op user list`,
//! `op user get`), run with only the environment the configuration gives it and the session
//! [`session`] keeps.
//!
//! `op` prints, as JSON, the people it began recovery for, and one `[ERROR] <date> <time>
//! "<user>": <reason>` line on stderr for each person it could not; it exits 1 if any failed.
//! The command is never run twice for one request: beginning recovery sends each person an
//! email, so a lost answer is reported as unknown, not tried again. The one exception is a
//! command op refused because its session had ended: it did nothing, and runs once more after
//! signing in again.

mod output;
pub mod session;

use std::{process::Stdio, time::Duration};

use keydesk_api::{Availability, UserId};
use tokio::{io::AsyncWriteExt as _, process::Command};

pub use self::output::{OpUser, Outcome, Whoami};
use self::session::Session;
use super::settings::OpSettings;

/// The first `op` that has `user recovery begin`.
pub const MINIMUM_VERSION: (u32, u32, u32) = (2, 32, 0);

pub struct Op {
    settings: OpSettings,
    session: Session,
    /// Called when whether recovery can begin changes, for open pages to hear of it.
    readiness_changed: Box<dyn Fn() + Send + Sync>,
}

impl Op {
    /// Check, at start-up, that `op` runs, is new enough, and is configured sensibly.
    pub fn start(settings: OpSettings) -> anyhow::Result<Op> {
        settings.check()?;
        let op = Op {
            settings,
            session: Session::default(),
            readiness_changed: Box::new(|| {}),
        };
        let text = op
            .version()
            .map_err(|err| anyhow::anyhow!("running {} --version: {err}", op.path()))?;
        let version = output::parse_version(&text).ok_or_else(|| {
            anyhow::anyhow!(
                "{} --version printed {:?}, not a version",
                op.path(),
                text.trim()
            )
        })?;
        if version < MINIMUM_VERSION {
            let (major, minor, patch) = MINIMUM_VERSION;
            anyhow::bail!(
                "{} is version {}, and beginning recovery needs op {major}.{minor}.{patch} or later",
                op.path(),
                text.trim()
            );
        }
        tracing::info!(op = %op.path(), version = %text.trim(), "found the 1Password CLI");
        Ok(op)
    }

    /// Call `changed` whenever recovery becomes available or unavailable.
    pub fn on_readiness_change(mut self, changed: impl Fn() + Send + Sync + 'static) -> Self {
        self.readiness_changed = Box::new(changed);
        self
    }

    /// Whether recovery can begin now, as last seen.
    pub fn readiness(&self) -> Availability {
        self.session.readiness()
    }

    /// `op --version`, waited for synchronously: it runs once, while Keydesk starts.
    fn version(&self) -> Result<String, String> {
        let mut child = self
            .command(std::process::Command::new(&self.settings.path), None)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| err.to_string())?;
        let deadline = std::time::Instant::now() + self.settings.timeout;
        loop {
            if child.try_wait().map_err(|err| err.to_string())?.is_some() {
                let output = child.wait_with_output().map_err(|err| err.to_string())?;
                return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err("it did not answer in time".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `op` with only the configured environment, and the session Keydesk holds.
    fn command(
        &self,
        mut command: std::process::Command,
        token: Option<&str>,
    ) -> std::process::Command {
        command.env_clear().envs(&self.settings.env);
        for name in &self.settings.pass_env {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        if let (Some(token), Some(variable)) = (token, self.settings.session_variable()) {
            command.env(variable, token);
        }
        command
    }

    fn path(&self) -> String {
        self.settings.path.display().to_string()
    }

    /// Begin recovery for up to ten people, by ID.
    pub async fn begin_recovery(&self, ids: &[UserId]) -> Outcome {
        let mut args = vec!["user", "recovery", "begin"];
        args.extend(ids.iter().map(UserId::as_str));
        args.extend(["--format", "json"]);
        let output = match self.run_signed(&args).await {
            Ok(output) => output,
            Err(why) => {
                return Outcome {
                    unknown: Some(why),
                    ..Outcome::default()
                };
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && output::session_ended(&stderr) {
            // Refused before anything was done: nobody was emailed.
            let why = self.not_signed_in(&output::said(&stderr));
            return Outcome {
                failed: ids.iter().map(|id| (id.clone(), why.clone())).collect(),
                ..Outcome::default()
            };
        }
        output::read_outcome(
            ids,
            &String::from_utf8_lossy(&output.stdout),
            &String::from_utf8_lossy(&output.stderr),
            output.status.success(),
        )
    }

    /// Who `op` is signed in as (`op whoami --format json`), or what `op` said instead.
    pub async fn whoami(&self) -> Result<Whoami, String> {
        self.json(&["whoami", "--format", "json"]).await
    }

    /// Everyone, with the CLI's states: one run, whatever the size of the account.
    pub async fn list_users(&self) -> Result<Vec<OpUser>, String> {
        self.json(&["user", "list", "--format", "json"]).await
    }

    /// One person, with the CLI's state and when they last signed in.
    pub async fn get_user(&self, id: &UserId) -> Result<OpUser, String> {
        self.json(&["user", "get", id.as_str(), "--format", "json"])
            .await
    }

    /// A command whose answer is JSON: the answer, or what op said instead.
    async fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, String> {
        let output = self.run_signed(args).await?;
        if !output.status.success() {
            return Err(output::said(&String::from_utf8_lossy(&output.stderr)));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("op printed something other than its JSON: {err}"))
    }

    /// Run a command that needs a session. When op says the session has ended, sign in again
    /// (with a password file) and run it once more; recovery is unavailable until then.
    async fn run_signed(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let mut signed_in_again = false;
        loop {
            let token = self.session.token();
            let output = self.run(args, token.as_deref(), None).await?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.success() || !output::session_ended(&stderr) {
                return Ok(output);
            }
            let said = output::said(&stderr);
            if !signed_in_again && self.settings.password_file.is_some() {
                tracing::info!(said, "op's session has ended; signing in again");
                if self.sign_in(token.as_deref()).await.is_ok() {
                    signed_in_again = true;
                    continue;
                }
                return Ok(output);
            }
            self.note(Availability::no(self.not_signed_in(&said)));
            return Ok(output);
        }
    }

    /// One run of `op`, with `input` on standard input (the password, for `signin`).
    async fn run(
        &self,
        args: &[&str],
        token: Option<&str>,
        input: Option<String>,
    ) -> Result<std::process::Output, String> {
        let mut command =
            Command::from(self.command(std::process::Command::new(&self.settings.path), token));
        command.args(args);
        if let Some(account) = &self.settings.account {
            command.args(["--account", account]);
        }
        command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        crate::metrics::op_run(args.iter().take(2).copied().collect::<Vec<_>>().join(" "));
        let timeout: Duration = self.settings.timeout;
        let run = async {
            let mut child = command.spawn()?;
            if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
                let mut bytes = input.into_bytes();
                bytes.push(b'\n');
                let written = stdin.write_all(&bytes).await;
                bytes.fill(0);
                // Closed: op reads to the end of the line, or of its input.
                drop(stdin);
                written?;
            }
            child.wait_with_output().await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => Err(format!("op could not be run: {err}")),
            Err(_) => Err(format!(
                "op did not finish within {}",
                humantime::format_duration(timeout)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_op_is_older_than_the_minimum() {
        assert!(output::parse_version("2.31.9").unwrap() < MINIMUM_VERSION);
        assert!(output::parse_version("2.32.0").unwrap() >= MINIMUM_VERSION);
    }
}
