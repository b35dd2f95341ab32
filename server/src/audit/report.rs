//! `keydesk-server verify-audit [--anchors FILE]`: the chain from where it starts, and, given
//! anchors, what the trail lacks or changed since they were written. Every problem is named;
//! the exit status is 1 if there is any.

use std::path::Path;

use anyhow::Context as _;
use rusqlite::Connection;

use super::{anchor, chain, retention};
use crate::{Config, settings::Settings};

pub fn verify_audit(config: &Config, anchors: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config.settings_file.as_deref())?;
    let path = crate::audit_path(config, &settings);
    anyhow::ensure!(
        path.exists(),
        "there is no audit trail at {}",
        path.display()
    );
    let conn = Connection::open(&path)?;
    conn.busy_timeout(settings.storage.lock_timeout)?;
    chain::prepare(&conn).with_context(|| format!("reading {}", path.display()))?;
    let mut problems = Vec::new();
    let (records, broken) = chain::verify(&conn)?;
    let start = retention::start(&conn)?;
    match broken {
        None => println!(
            "audit chain intact: {records} record{}; {}",
            if records == 1 { "" } else { "s" },
            retention::describe(start.as_ref())
        ),
        Some(seq) if start.as_ref().is_some_and(|s| s.seq == seq) => problems.push(format!(
            "audit chain broken at its start, record {seq}: the trail says the records before it \
             were pruned, but no prune_audit record says so; they were removed by something \
             other than Keydesk's retention"
        )),
        Some(seq) => problems.push(format!(
            "audit chain broken at record {seq}: it, or a record before it, was altered or removed"
        )),
    }
    if let Some(file) = anchors {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the anchors in {}", file.display()))?;
        let (anchors, other) = anchor::read(&text);
        anyhow::ensure!(
            !anchors.is_empty(),
            "{} holds no anchors ({other} lines, none a Keydesk audit head): give the file \
             [audit] anchor_file names, or lines of the system log holding \"{}\"",
            file.display(),
            anchor::SYSLOG_PREFIX.trim_end()
        );
        let found = anchor::check(&conn, &anchors)?;
        if found.is_empty() {
            let newest = anchors.iter().max_by_key(|a| a.seq).expect("not empty");
            println!(
                "anchors: {} read from {} ({other} other lines skipped); the newest, written at \
                 {}, is record {} with hash {}: the trail holds it unchanged, and every anchored \
                 record still in the trail matches",
                anchors.len(),
                file.display(),
                newest.time,
                newest.seq,
                newest.hash
            );
        }
        problems.extend(found);
    }
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
