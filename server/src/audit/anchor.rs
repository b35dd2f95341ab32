//! Anchors: the chain's head (its newest record's number and hash, and where the chain starts)
//! written outside Keydesk's files, to the system log and optionally an append-only file, at
//! start, every minute the head moved (and hourly regardless), after pruning and at shutdown.
//!
//! The chain alone cannot show that its newest records were deleted: what is left still
//! verifies. An anchor can, once it is somewhere the person deleting cannot reach (a SIEM fed by
//! syslog, a file on another host or with `chattr +a`): `verify-audit --anchors` ([`check`])
//! names the records missing after the newest anchored head, and anchored records altered since.

use std::{
    io::Write as _,
    path::PathBuf,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{AuditLog, AuditSettings, retention};

/// What precedes an anchor in a syslog message, so that lines copied from the system log can be
/// read back.
pub const SYSLOG_PREFIX: &str = "keydesk audit head ";

/// One anchor, as a JSON line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// When it was written.
    pub time: String,
    /// The newest record.
    pub seq: i64,
    pub hash: String,
    /// The first record kept, once retention pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Why it was written: start, minute, hour, pruned, shutdown.
    pub why: String,
}

/// The head of the trail in `conn`, if it has any record.
pub fn head(conn: &Connection, why: &str, now: SystemTime) -> rusqlite::Result<Option<Anchor>> {
    let start = retention::start(conn)?.map(|start| start.seq);
    conn.query_row(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        [],
        |row| {
            Ok(Anchor {
                time: humantime::format_rfc3339_millis(now).to_string(),
                seq: row.get(0)?,
                hash: row.get(1)?,
                start,
                why: why.to_owned(),
            })
        },
    )
    .optional()
}

/// Where anchors go. Writing never fails a request: a sink that cannot be written is logged.
pub struct Sink {
    file: Option<PathBuf>,
    syslog_socket: PathBuf,
    syslog: Mutex<Option<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>>,
    warned_no_syslog: AtomicBool,
    /// The last head written, and when: unchanged heads are written hourly only.
    last: Mutex<Option<(i64, String, Instant)>>,
}

impl Sink {
    pub fn new(settings: &AuditSettings) -> Sink {
        Sink {
            file: settings.anchor_file.clone(),
            syslog_socket: settings.syslog_socket.clone(),
            syslog: Mutex::new(None),
            warned_no_syslog: AtomicBool::new(false),
            last: Mutex::new(None),
        }
    }

    /// Write the trail's head now (blocking: a small file append and a datagram).
    pub fn write(&self, anchor: &Anchor) {
        let json = serde_json::to_string(anchor).expect("plain data serialises");
        self.to_syslog(&json);
        if let Some(file) = &self.file
            && let Err(err) = append_line(file, &json)
        {
            tracing::error!(file = %file.display(), error = %err, "could not write the audit anchor");
        }
        *self.last.lock().expect("not poisoned") =
            Some((anchor.seq, anchor.hash.clone(), Instant::now()));
    }

    fn to_syslog(&self, json: &str) {
        let mut logger = self.syslog.lock().expect("not poisoned");
        if logger.is_none() {
            let formatter = syslog::Formatter3164 {
                facility: syslog::Facility::LOG_AUTH,
                hostname: None,
                process: "keydesk".into(),
                pid: std::process::id(),
            };
            match syslog::unix_custom(formatter, &self.syslog_socket) {
                Ok(connected) => *logger = Some(connected),
                Err(err) => {
                    if !self.warned_no_syslog.swap(true, Ordering::Relaxed) {
                        tracing::warn!(socket = %self.syslog_socket.display(), error = %err, "no system log to write the audit chain's head to; going on without it (this is said once)");
                    }
                    return;
                }
            }
        }
        let sent = logger
            .as_mut()
            .map(|l| l.notice(format!("{SYSLOG_PREFIX}{json}")));
        if let Some(Err(err)) = sent {
            tracing::warn!(error = %err, "could not write the audit anchor to the system log");
            // Connect again next time: syslog may have restarted.
            *logger = None;
        }
    }

    /// Whether a periodic anchor is due: the head moved, or an hour passed.
    fn due(&self, anchor: &Anchor) -> bool {
        match &*self.last.lock().expect("not poisoned") {
            None => true,
            Some((seq, hash, at)) => {
                *seq != anchor.seq
                    || *hash != anchor.hash
                    || at.elapsed() >= Duration::from_secs(3600)
            }
        }
    }
}

fn append_line(file: &std::path::Path, json: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)?;
    // One write of a whole line: O_APPEND keeps concurrent lines whole.
    out.write_all(format!("{json}\n").as_bytes())?;
    out.sync_data()
}

/// Anchor the trail's head now, for `why`.
pub async fn anchor(log: &AuditLog, sink: &Sink, why: &'static str) {
    match log
        .read(move |conn| head(conn, why, SystemTime::now()))
        .await
    {
        Ok(Some(anchor)) => sink.write(&anchor),
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err, "could not read the audit chain's head to anchor it")
        }
    }
}

/// Every minute, anchor the head if it moved (hourly if not), until the log is dropped.
pub async fn every_minute(log: Weak<AuditLog>, sink: Arc<Sink>) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let Some(log) = log.upgrade() else {
            return;
        };
        match log
            .read(|conn| head(conn, "minute", SystemTime::now()))
            .await
        {
            Ok(Some(anchor)) if sink.due(&anchor) => sink.write(&anchor),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not read the audit chain's head"),
        }
    }
}

/// Read anchors from a file of JSON lines or of lines copied from the system log; other lines
/// are counted, not read.
pub fn read(text: &str) -> (Vec<Anchor>, usize) {
    let mut anchors = Vec::new();
    let mut other = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let json = line
            .split_once(SYSLOG_PREFIX)
            .map_or(line, |(_, json)| json);
        match serde_json::from_str::<Anchor>(json.trim()) {
            Ok(anchor) => anchors.push(anchor),
            Err(_) => other += 1,
        }
    }
    (anchors, other)
}

/// What the trail in `conn` lacks or changed, against `anchors`: each problem as a sentence.
pub fn check(conn: &Connection, anchors: &[Anchor]) -> rusqlite::Result<Vec<String>> {
    let mut problems = Vec::new();
    let Some(newest) = anchors.iter().max_by_key(|a| (a.seq, a.time.clone())) else {
        return Ok(problems);
    };
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
    if newest.seq > last {
        let which = if newest.seq == last + 1 {
            format!("record {} is missing", newest.seq)
        } else {
            format!("records {} to {} are missing", last + 1, newest.seq)
        };
        problems.push(format!(
            "{which}: the newest anchored head, written at {}, was record {} with hash {}",
            newest.time, newest.seq, newest.hash
        ));
    }
    let start = retention::start(conn)?.map_or(1, |start| start.seq);
    let anchored_start = newest.start.unwrap_or(1);
    if start > anchored_start {
        problems.push(format!(
            "the trail starts at record {start}, but when the newest anchor was written (at {}) \
             it started at record {anchored_start}: records {anchored_start} to {} were removed \
             since, and no anchor says Keydesk's retention removed them",
            newest.time,
            start - 1
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut statement = conn.prepare("SELECT hash FROM audit WHERE seq = ?1")?;
    for anchor in anchors {
        if !seen.insert((anchor.seq, anchor.hash.clone())) {
            continue;
        }
        let hash: Option<String> = statement
            .query_row([anchor.seq], |row| row.get(0))
            .optional()?;
        if let Some(hash) = hash
            && hash != anchor.hash
        {
            problems.push(format!(
                "record {} was altered: the anchor written at {} says its hash was {}, the \
                 trail's is {hash}",
                anchor.seq, anchor.time, anchor.hash
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests;
