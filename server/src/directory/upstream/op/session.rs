//! The recovery user's `op` session, kept alive and renewed without an operator, and whether
//! recovery can be begun now.
//!
//! 1Password: "Sessions expire after 30 minutes of inactivity, after which you'll need to sign in
//! again". With `password_file`, Keydesk signs in by itself (`op signin --raw`, the password on
//! standard input: never in an argument, the environment or a log), keeps the token in memory
//! only, hands it to each command as `OP_SESSION_<account>`, and signs in again when op says the
//! session has ended. Without it, the session is the operator's (`pass_env`), and when it ends
//! recovery is unavailable until they sign in again. Either way `op whoami` runs every
//! `keepalive` while signed in, so a quiet helpdesk does not find the session gone.

use std::{
    path::Path,
    sync::{Mutex, Weak},
};

use keydesk_api::Availability;

use super::{Op, output};

/// The session and what is known of it.
#[derive(Default)]
pub(super) struct Session {
    /// The token `op signin` printed; in memory only.
    token: Mutex<Option<String>>,
    /// Whether recovery can begin now, and why not; `None` until first checked.
    readiness: Mutex<Option<Availability>>,
    /// Held while signing in, so that commands failing together sign in once.
    signing_in: tokio::sync::Mutex<()>,
    /// Why the last sign-in with the password file failed, until one succeeds.
    sign_in_failure: Mutex<Option<String>>,
}

impl Session {
    pub fn token(&self) -> Option<String> {
        self.token.lock().expect("not poisoned").clone()
    }

    pub fn readiness(&self) -> Availability {
        self.readiness
            .lock()
            .expect("not poisoned")
            .clone()
            .unwrap_or_else(|| Availability::no("Keydesk is checking whether op is signed in"))
    }

    /// Note what is now known; says whether it changed (for the page to hear of it).
    pub fn set_readiness(&self, now: Availability) -> bool {
        let mut readiness = self.readiness.lock().expect("not poisoned");
        if readiness.as_ref() == Some(&now) {
            return false;
        }
        match now.refusal() {
            Some(why) => tracing::warn!(why, "recovery is unavailable"),
            None => tracing::info!("op is signed in: recovery is available"),
        }
        *readiness = Some(now);
        true
    }

    pub fn is_ready(&self) -> bool {
        self.readiness
            .lock()
            .expect("not poisoned")
            .as_ref()
            .is_some_and(|r| r.available)
    }
}

impl Op {
    /// Sign in with the password file, unless someone did since `stale` (the token a command
    /// failed with) was current.
    pub(super) async fn sign_in(&self, stale: Option<&str>) -> Result<(), String> {
        let Some(path) = &self.settings.password_file else {
            return Err("no password_file is configured".into());
        };
        let _one_at_a_time = self.session.signing_in.lock().await;
        if self.session.token().as_deref() != stale {
            return Ok(());
        }
        let password = read_password(path)?;
        let output = self.run(&["signin", "--raw"], None, Some(password)).await?;
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || token.is_empty() {
            let said = output::said(&String::from_utf8_lossy(&output.stderr));
            let why = format!("op could not sign in with the password file (op said: {said})");
            *self.session.sign_in_failure.lock().expect("not poisoned") = Some(why.clone());
            self.note(Availability::no(why.clone()));
            return Err(why);
        }
        *self.session.sign_in_failure.lock().expect("not poisoned") = None;
        *self.session.token.lock().expect("not poisoned") = Some(token);
        tracing::info!("signed op in with the password file");
        self.note(Availability::yes());
        Ok(())
    }

    /// Ask `op whoami` who is signed in (signing in again if the session ended and a password
    /// file allows), and note whether recovery can begin.
    pub async fn check(&self) -> Availability {
        let availability = match self.whoami().await {
            Ok(who) if who.is_service_account() => Availability::no(
                "op is signed in as a service account, and service accounts cannot begin \
                 recoveries: sign op in as a person who may recover accounts (README: \
                 \"Recovery upstream\")",
            ),
            Ok(_) => Availability::yes(),
            Err(said) => Availability::no(self.not_signed_in(&said)),
        };
        self.note(availability.clone());
        availability
    }

    /// Why recovery is unavailable when op has no session, and what would help: the password
    /// file's failure when signing in with it failed.
    pub(super) fn not_signed_in(&self, said: &str) -> String {
        if let Some(why) = self
            .session
            .sign_in_failure
            .lock()
            .expect("not poisoned")
            .clone()
        {
            return why;
        }
        let help = match self.settings.password_file {
            Some(_) => "Keydesk signs in again with the password file by itself",
            None => {
                "sign op in again and restart Keydesk with the new session, or set \
                 [directory.upstream.op] password_file (README: \"Recovery upstream\")"
            }
        };
        format!("op is not signed in ({said}); {help}")
    }

    pub(super) fn note(&self, availability: Availability) {
        if self.session.set_readiness(availability) {
            (self.readiness_changed)();
        }
    }
}

/// The account password, from its file: the file is read at each sign-in, never kept.
fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("the password file {} cannot be read: {err}", path.display()))?;
    let password = text.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(format!("the password file {} is empty", path.display()));
    }
    Ok(password)
}

/// Keep the session alive: `op whoami` every `keepalive` while signed in (the first at once, to
/// know before anyone tries); while not signed in, sign in again each time if a password file
/// allows. Ends when the directory lets go of `op`.
pub async fn keep_alive(op: Weak<Op>) {
    let mut first = true;
    loop {
        let Some(this) = op.upgrade() else {
            return;
        };
        if first || this.session.is_ready() {
            this.check().await;
        } else if this.settings.password_file.is_some() {
            let stale = this.session.token();
            if this.sign_in(stale.as_deref()).await.is_ok() {
                this.check().await;
            }
        }
        first = false;
        let wait = this.settings.keepalive;
        drop(this);
        tokio::time::sleep(wait).await;
    }
}
