//! Beginning recovery through the 1Password CLI, since the Users API cannot: `op user recovery
//! begin <user>… --format json`, run with only the environment the configuration gives it.
//!
//! `op` prints, as JSON, the people it began recovery for, and one `[ERROR] <date> <time>
//! "<user>": <reason>` line on stderr for each person it could not; it exits 1 if any failed.
//! The command is never run twice for one request: beginning recovery sends each person an
//! email, so a lost answer is reported as unknown, not tried again.

use std::{collections::HashMap, process::Stdio, time::Duration};

use keydesk_api::{UserId, UserState};
use serde::Deserialize;
use tokio::process::Command;

use super::settings::OpSettings;

/// The first `op` that has `user recovery begin`.
pub const MINIMUM_VERSION: (u32, u32, u32) = (2, 32, 0);

pub struct Op {
    settings: OpSettings,
}

/// One person in `op`'s JSON output (the shape of `op user get --format json`).
#[derive(Debug, Deserialize)]
pub struct OpUser {
    pub id: String,
    #[serde(default)]
    pub state: Option<String>,
}

/// `op whoami --format json`: the account, and the user or service account signed in.
#[derive(Debug, Deserialize)]
pub struct Whoami {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// `SERVICE_ACCOUNT` for a service account; a person otherwise.
    #[serde(default)]
    pub user_type: Option<String>,
}

/// What one `op user recovery begin` call did, per person (by ID).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Recovery began, with the state `op` reported.
    pub began: HashMap<UserId, UserState>,
    /// `op` said why it could not.
    pub failed: HashMap<UserId, String>,
    /// Said of everyone `op` mentioned neither way (it crashed, timed out, printed nonsense).
    pub unknown: Option<String>,
}

impl Op {
    /// Check, at start-up, that `op` runs and is new enough.
    pub fn start(settings: OpSettings) -> anyhow::Result<Op> {
        let op = Op { settings };
        let text = op
            .version()
            .map_err(|err| anyhow::anyhow!("running {} --version: {err}", op.path()))?;
        let version = parse_version(&text).ok_or_else(|| {
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

    /// `op --version`, waited for synchronously: it runs once, while Keydesk starts.
    fn version(&self) -> Result<String, String> {
        let mut child = self
            .command(std::process::Command::new(&self.settings.path))
            .arg("--version")
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

    /// `op` with only the configured environment.
    fn command(&self, mut command: std::process::Command) -> std::process::Command {
        command
            .env_clear()
            .envs(&self.settings.env)
            .stdin(Stdio::null());
        for name in &self.settings.pass_env {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
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
        let output = match self.run(&args).await {
            Ok(output) => output,
            Err(why) => {
                return Outcome {
                    unknown: Some(why),
                    ..Outcome::default()
                };
            }
        };
        read_outcome(
            ids,
            &String::from_utf8_lossy(&output.stdout),
            &String::from_utf8_lossy(&output.stderr),
            output.status.success(),
        )
    }

    /// Who `op` is signed in as (`op whoami --format json`), or what `op` said instead.
    pub async fn whoami(&self) -> Result<Whoami, String> {
        let output = self.run(&["whoami", "--format", "json"]).await?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(said.trim().to_owned());
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("op whoami printed something other than its JSON: {err}"))
    }

    async fn run(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let mut command =
            Command::from(self.command(std::process::Command::new(&self.settings.path)));
        command.args(args).kill_on_drop(true);
        let timeout: Duration = self.settings.timeout;
        match tokio::time::timeout(timeout, command.output()).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(err)) => Err(format!("op could not be run: {err}")),
            Err(_) => Err(format!(
                "op did not finish within {}",
                humantime::format_duration(timeout)
            )),
        }
    }
}

/// `2.32.0`, `2.32.1-beta.01` → (2, 32, 1).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let core = text.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Match `op`'s output to the people asked for.
fn read_outcome(ids: &[UserId], stdout: &str, stderr: &str, success: bool) -> Outcome {
    let mut outcome = Outcome::default();
    let stdout = stdout.trim();
    let listed: Result<Vec<OpUser>, _> = if stdout.is_empty() {
        Ok(Vec::new())
    } else {
        serde_json::from_str(stdout)
    };
    match listed {
        Ok(users) => {
            for user in users {
                if let Some(id) = ids.iter().find(|id| id.as_str() == user.id) {
                    let state = user
                        .state
                        .as_deref()
                        .map_or(UserState::RecoveryStarted, UserState::parse);
                    outcome.began.insert(id.clone(), state);
                }
            }
        }
        Err(err) => {
            outcome.unknown = Some(format!("op's output could not be read ({err})"));
        }
    }
    for line in stderr.lines() {
        let Some(rest) = line.trim().strip_prefix("[ERROR]") else {
            continue;
        };
        // `[ERROR] 2026/11/22 20:00:00 "<user>": <reason>`
        let Some((_, quoted)) = rest.split_once('"') else {
            continue;
        };
        let Some((name, reason)) = quoted.split_once("\":") else {
            continue;
        };
        if let Some(id) = ids.iter().find(|id| id.as_str() == name) {
            outcome.failed.insert(id.clone(), reason.trim().to_owned());
        }
    }
    let accounted = outcome.began.len() + outcome.failed.len();
    if outcome.unknown.is_none() && accounted < ids.len() {
        let said: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        outcome.unknown = Some(if success {
            "op did not mention them".to_owned()
        } else if said.is_empty() {
            "op failed without saying why".to_owned()
        } else {
            format!("op failed: {}", said.join(" "))
        });
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: char) -> UserId {
        UserId::parse(&n.to_string().repeat(26)).unwrap()
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.32.0\n"), Some((2, 32, 0)));
        assert_eq!(parse_version("2.32.1-beta.01"), Some((2, 32, 1)));
        assert_eq!(parse_version("2.4"), Some((2, 4, 0)));
        assert!(parse_version("2.31.9").unwrap() < MINIMUM_VERSION);
        assert_eq!(parse_version("op"), None);
    }

    #[test]
    fn outcomes_per_person() {
        let ids = [id('A'), id('B'), id('C')];
        let stdout = format!(r#"[{{"id":"{}","state":"RECOVERY_STARTED"}}]"#, ids[0]);
        let stderr = format!(
            "[ERROR] 2026/11/22 20:00:00 \"{}\": the user is suspended\n",
            ids[1]
        );
        let outcome = read_outcome(&ids, &stdout, &stderr, false);
        assert_eq!(outcome.began[&ids[0]], UserState::RecoveryStarted);
        assert_eq!(outcome.failed[&ids[1]], "the user is suspended");
        assert!(outcome.unknown.unwrap().contains("the user is suspended"));

        let garbage = read_outcome(&ids, "not json", "", true);
        assert!(garbage.began.is_empty());
        assert!(garbage.unknown.unwrap().contains("could not be read"));
    }
}
