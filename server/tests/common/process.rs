//! The real `keydesk-server` binary as a process (to kill it with SIGKILL), a stream of changes
//! against it, and the invariant every fault must leave intact: each person's state is what
//! replaying the audit trail's succeeded changes from the demo's first states gives.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use keydesk_api::{AuditRecord, ListUsersResponse, OutboxResponse, UserState};
use rand::{Rng, seq::IndexedRandom};
use reqwest::StatusCode;
use serde_json::json;

/// Changes as fast as the server takes them: no rate limits, a short lock timeout.
pub const SETTINGS: &str = "[rate_limit]\nactions_per_minute = 0\nrecovery_links_per_minute = 0\n\n[storage]\nlock_timeout = \"500ms\"\n";

pub struct Process {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Where it serves `/metrics`, when started with `KEYDESK_METRICS_LISTEN`.
    pub metrics_url: Option<String>,
}

impl Process {
    /// Start the binary over `dir` (its `data` directory and its `keydesk.toml`) and wait until
    /// it says where it listens.
    pub fn start(dir: &Path) -> Process {
        Self::start_with(dir, SETTINGS, &[], None)
    }

    /// [`Process::start`], with its log (stderr, at `info`) written to `log`.
    pub fn start_logging(dir: &Path, log: &Path) -> Process {
        Self::start_with(dir, SETTINGS, &[], Some(log))
    }

    /// Start the binary over `dir` with `settings` as its `keydesk.toml` (`{dir}` standing for
    /// `dir`), `env` added to its environment, and its log written to `log` if given.
    pub fn start_with(
        dir: &Path,
        settings: &str,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Process {
        let here = dir.to_str().expect("a UTF-8 temporary directory");
        std::fs::write(dir.join("keydesk.toml"), settings.replace("{dir}", here)).unwrap();
        let stderr = log.map_or_else(Stdio::null, |log| {
            std::fs::File::create(log).unwrap().into()
        });
        let mut child = Command::new(env!("CARGO_BIN_EXE_keydesk-server"))
            .env("KEYDESK_LISTEN", "127.0.0.1:0")
            .env("KEYDESK_DATA_DIR", dir.join("data"))
            .env("KEYDESK_DIST", dir.join("dist"))
            .env("KEYDESK_CONFIG", dir.join("keydesk.toml"))
            .env("RUST_LOG", "keydesk_server=info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting keydesk-server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut metrics_url = None;
        while !line.starts_with("Keydesk is running at ") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "keydesk-server stopped"
            );
            if let Some(url) = line.trim().strip_prefix("Keydesk serves metrics at ") {
                metrics_url = Some(url.to_owned());
            }
        }
        // Keep reading what it prints, so that it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("Keydesk is running at ")
            .unwrap_or_else(|| panic!("keydesk-server said {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Process {
            child,
            url,
            data_dir: dir.join("data"),
            metrics_url,
        }
    }

    /// Its process id, to read `/proc/{pid}`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens.
    pub fn address(&self) -> std::net::SocketAddr {
        let (_, address) = self.url.split_once("://").expect("a URL");
        address.parse().expect("an address and port")
    }

    /// SIGHUP, as `systemctl reload` sends.
    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-s", "HUP", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as systemd stops a service.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// How it exited, if it did within `bound`.
    pub fn exit_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + bound;
        while std::time::Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, as systemd stops it, and wait for it to finish: it must exit cleanly.
    pub fn stop(mut self) {
        self.terminate();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "keydesk-server ended with {status}");
    }
}

/// [`Process::start`], with more sections in its `keydesk.toml`.
pub fn start_adding(dir: &Path, settings: &str) -> Process {
    Process::start_with(dir, &format!("{SETTINGS}\n{settings}"), &[], None)
}

/// The demo's states before any change: start once over `dir`, read, stop.
pub fn first_states(dir: &Path) -> BTreeMap<String, String> {
    let process = Process::start(dir);
    let first = states(&process.data_dir.join("keydesk.db"));
    process.kill();
    first
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a stream of changes saw: how many changes of each kind answered how.
#[derive(Debug, Default)]
pub struct Tally {
    pub answers: BTreeMap<(String, u16), u32>,
}

impl Tally {
    pub fn count(&self, status: u16) -> u32 {
        self.answers
            .iter()
            .filter(|((_, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Keep changing people at random (begin, accept, complete, suspend, reactivate), from
/// `workers` clients at once, for `how_long` or until the server goes away. Every answer must be
/// a success, a refusal for the state, or a 503: never a 500.
pub async fn churn(url: String, workers: usize, how_long: Duration) -> Tally {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let until = tokio::time::Instant::now() + how_long;
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(one_worker(client.clone(), url.clone(), until)))
        .collect();
    let mut total = Tally::default();
    for handle in handles {
        for (key, n) in handle.await.expect("a worker panicked").answers {
            *total.answers.entry(key).or_default() += n;
        }
    }
    total
}

async fn one_worker(client: reqwest::Client, url: String, until: tokio::time::Instant) -> Tally {
    let users = users_url(&url);
    let mut tally = Tally::default();
    while tokio::time::Instant::now() < until {
        let state = [
            "ACTIVE",
            "SUSPENDED",
            "RECOVERY_STARTED",
            "RECOVERY_ACCEPTED",
        ][rand::rng().random_range(0..4)];
        let Ok(page) = client
            .get(&users)
            .query(&[("state", state), ("max_page_size", "100")])
            .send()
            .await
        else {
            return tally; // the server is gone
        };
        let Ok(page) = page.json::<ListUsersResponse>().await else {
            return tally;
        };
        let Some(person) = page.results.choose(&mut rand::rng()).cloned() else {
            continue;
        };
        // Never the development identity: nobody recovers their own account.
        if person.email == super::DEV_USER {
            continue;
        }
        let path = |method: &str| format!("{users}/{}:{method}", person.id);
        let (what, request) = match person.state {
            UserState::Active if rand::rng().random_bool(0.5) => {
                ("suspend", client.post(path("suspend")))
            }
            UserState::Active => (
                "begin_recovery",
                client
                    .post(format!("{users}:beginRecovery"))
                    .json(&json!({ "users": [person.id] })),
            ),
            UserState::Suspended => ("reactivate", client.post(path("reactivate"))),
            UserState::RecoveryAccepted => ("complete", client.post(path("completeRecovery"))),
            UserState::RecoveryStarted => {
                let Some(token) = link_for(&client, &url, &person.email).await else {
                    continue;
                };
                (
                    "accept",
                    client.post(format!("{url}/api/recovery:accept")).json(&json!({
                        "token": token, "email": person.email, "password": "a new and long password"
                    })),
                )
            }
            _ => continue,
        };
        let Ok(answer) = request.send().await else {
            return tally;
        };
        let status = answer.status();
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{what}: {}",
            answer.text().await.unwrap_or_default()
        );
        *tally
            .answers
            .entry((what.to_owned(), status.as_u16()))
            .or_default() += 1;
    }
    tally
}

/// The token of the newest unsent link emailed to `email`.
async fn link_for(client: &reqwest::Client, url: &str, email: &str) -> Option<String> {
    let outbox: OutboxResponse = client
        .get(format!("{url}/api/outbox"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let link = outbox.messages.into_iter().find(|m| m.to == email)?.link?;
    Some(link.split_once('#')?.1.to_owned())
}

fn demo_account() -> keydesk_api::AccountId {
    keydesk_api::AccountId::parse(keydesk_server::config::DEMO_ACCOUNT_ID).unwrap()
}

/// The demo account's users on the server at `url`.
pub fn users_url(url: &str) -> String {
    format!("{url}{}", keydesk_api::users_path(&demo_account()))
}

/// Send a request whose answer must be JSON of type `T`.
pub async fn fetch<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}

/// Every person's state, by ID, as the directory's file holds them.
pub fn states(db: &Path) -> BTreeMap<String, String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn.prepare("SELECT id, state FROM users").unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every audit record in the directory's file, oldest first.
pub fn records(db: &Path) -> Vec<AuditRecord> {
    let conn = rusqlite::Connection::open(db).unwrap();
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

/// The invariant: starting from `first` (the states before any change), replaying every
/// succeeded change in the trail gives exactly the states the directory holds. Also checks the
/// files are intact and the chain verifies. Returns how many changes were replayed.
pub fn check_invariant(db: &Path, first: &BTreeMap<String, String>) -> usize {
    let (expected, replayed) = replay(db, first);
    let differences = differences(&states(db), &expected);
    assert!(differences.is_empty(), "{differences:#?}");
    replayed
}

/// Every person's state as replaying the trail in `trail` from `first` gives them (each record's
/// [`AuditRecord::resulting_state`]: a change that succeeded, or one seen in 1Password), after
/// checking the file is intact and its chain verifies; and how many changes were replayed.
pub fn replay(trail: &Path, first: &BTreeMap<String, String>) -> (BTreeMap<String, String>, usize) {
    let conn = rusqlite::Connection::open(trail).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let (count, broken) = keydesk_server::audit::chain::verify(&conn).unwrap();
    drop(conn);
    let records = records(trail);
    assert_eq!(
        (count, broken),
        (records.len() as i64, None),
        "the chain is broken"
    );
    let mut expected = first.clone();
    let mut replayed = 0;
    for record in &records {
        let Some(state) = record.resulting_state() else {
            continue;
        };
        for target in &record.targets {
            let slot = expected
                .get_mut(target)
                .unwrap_or_else(|| panic!("record {} names {target}, nobody here", record.seq));
            *slot = state.as_str().to_owned();
            replayed += 1;
        }
    }
    (expected, replayed)
}

/// Who is not in the state the trail says.
pub fn differences(
    actual: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
) -> Vec<String> {
    actual
        .iter()
        .filter(|(id, state)| expected.get(*id) != Some(state))
        .map(|(id, state)| format!("{id} is {state}, the trail says {:?}", expected.get(id)))
        .collect()
}

/// Another process (Python's sqlite3) holding the write lock on a database file, as a backup
/// tool or an operator's `sqlite3` would, until dropped.
pub struct LockHolder {
    child: Child,
}

impl LockHolder {
    pub fn hold(db: &Path) -> LockHolder {
        let script = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n\
            c.execute('BEGIN EXCLUSIVE')\n\
            print('locked', flush=True)\n\
            sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        LockHolder { child }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A small filesystem of its own (tmpfs), to fill up; unmounted when dropped. Mounting needs
/// root, as CI and the README's machines run.
pub struct SmallDisk {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs at {} failed: this test needs root, as CI has",
            path.display()
        );
        SmallDisk { path, _dir: dir }
    }

    /// Write zeros until the disk is full; returns the file, to delete for room again.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // Whatever room the last partial block left.
        while file.write_all(&[0u8]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
