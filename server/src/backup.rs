//! `keydesk-server backup DIR` and `keydesk-server restore DIR`.
//!
//! A backup is a consistent copy of each SQLite file Keydesk keeps, taken while it runs with
//! SQLite's online backup API in one step (one read transaction: a change and its record are in
//! the copy together or not at all), and `manifest.json`: what was copied, when, each file's
//! SHA-256 and the audit chain's head in it. Restore brings it back only into an empty data
//! directory, and checks every file against the manifest, `PRAGMA integrity_check` and the
//! chain before it puts it in place.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, bail, ensure};
use data_encoding::HEXLOWER;
use rusqlite::{Connection, backup::StepResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Config, audit, settings::Settings};

const MANIFEST: &str = "manifest.json";

/// Every SQLite file Keydesk keeps, by name, and what it holds. The upstream snapshot
/// (`upstream-<account>.db`) is not one of them: Keydesk deletes it and reads it again from
/// 1Password at each start.
const DATABASES: [(&str, &str); 2] = [
    (
        "keydesk.db",
        "the embedded directory, its audit trail and scheduled changes",
    ),
    (
        "audit.db",
        "the audit trail and scheduled changes beside a 1Password account",
    ),
];

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The Keydesk that wrote it.
    keydesk: String,
    /// When the copies were finished.
    time: String,
    data_dir: PathBuf,
    files: Vec<Copied>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Copied {
    name: String,
    bytes: u64,
    sha256: String,
    /// The audit trail in this file, if it holds one.
    audit: Option<Trail>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Trail {
    records: i64,
    /// The newest record and its hash.
    head_seq: i64,
    head_hash: String,
    /// The first record kept, once retention pruned.
    start: Option<i64>,
}

/// Copy every database in the data directory into `dir` (new or empty) while Keydesk runs.
pub fn backup(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let settings = Settings::load(config.settings_file.as_deref())?;
    let found: Vec<_> = DATABASES
        .iter()
        .filter(|(name, _)| config.data_dir.join(name).is_file())
        .collect();
    ensure!(
        !found.is_empty(),
        "there is no Keydesk database in {} (neither keydesk.db nor audit.db): is --data-dir \
         (KEYDESK_DATA_DIR) where Keydesk keeps its data?",
        config.data_dir.display()
    );
    empty_dir(
        dir,
        "back up into a new or empty directory, so that no two backups mix",
    )?;
    owner_only(dir)?;
    let mut files = Vec::new();
    for (name, holds) in found {
        let copied = copy_online(
            &config.data_dir.join(name),
            &dir.join(name),
            settings.storage.lock_timeout,
        )
        .with_context(|| format!("backing up {name}"))?;
        println!(
            "backed up {name} ({holds}): {} bytes, integrity ok{}",
            copied.bytes,
            copied.audit.as_ref().map(said).unwrap_or_default()
        );
        files.push(copied);
    }
    for entry in std::fs::read_dir(&config.data_dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("upstream-") && name.ends_with(".db") {
            println!("not copied: {name} (Keydesk reads it again from 1Password at each start)");
        }
    }
    let manifest = Manifest {
        keydesk: env!("CARGO_PKG_VERSION").to_owned(),
        time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        data_dir: config.data_dir.clone(),
        files,
    };
    let partial = dir.join(format!("{MANIFEST}.partial"));
    std::fs::write(&partial, serde_json::to_vec_pretty(&manifest)?)?;
    owner_only(&partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, dir.join(MANIFEST))?;
    std::fs::File::open(dir)?.sync_all()?;
    println!("wrote {}", dir.join(MANIFEST).display());
    Ok(())
}

/// Bring the backup in `dir` back into the (empty) data directory.
pub fn restore(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let manifest: Manifest = std::fs::read(dir.join(MANIFEST))
        .map_err(anyhow::Error::from)
        .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
        .with_context(|| {
            format!(
                "{} is not a finished Keydesk backup: its {MANIFEST} cannot be read",
                dir.display()
            )
        })?;
    let data_dir = &config.data_dir;
    empty_dir(
        data_dir,
        "restore only brings a backup into an empty data directory, so that nothing is \
         overwritten: stop Keydesk, move the directory's contents aside, and restore again",
    )?;
    let restored = manifest
        .files
        .iter()
        .try_for_each(|copied| restore_one(copied, dir, data_dir, &manifest.time));
    if let Err(err) = restored {
        // The directory was empty: leave it so, rather than half restored.
        for (name, _) in DATABASES {
            for suffix in ["", ".partial", "-wal", "-shm", ".partial-journal"] {
                let _ = std::fs::remove_file(data_dir.join(format!("{name}{suffix}")));
            }
        }
        return Err(err);
    }
    println!(
        "restored the backup of {} into {}: Keydesk can start on it",
        manifest.time,
        data_dir.display()
    );
    Ok(())
}

fn restore_one(copied: &Copied, from: &Path, to: &Path, time: &str) -> anyhow::Result<()> {
    let name = copied.name.as_str();
    ensure!(
        DATABASES.iter().any(|(known, _)| *known == name),
        "the manifest names {name:?}, which is not a database Keydesk keeps"
    );
    let source = from.join(name);
    let sha256 = sha256_of(&source).with_context(|| format!("reading {}", source.display()))?;
    ensure!(
        sha256 == copied.sha256,
        "{name} in the backup does not match its manifest (SHA-256 {sha256}, the manifest says \
         {}): it was changed or damaged after the backup of {time}",
        copied.sha256
    );
    let partial = to.join(format!("{name}.partial"));
    std::fs::copy(&source, &partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    let conn = Connection::open(&partial)?;
    let trail = check(&conn).with_context(|| format!("checking {name} from the backup"))?;
    drop(conn);
    ensure!(
        trail == copied.audit,
        "{name}'s audit trail is not the one the manifest describes ({trail:?}, the manifest \
         says {:?})",
        copied.audit
    );
    std::fs::rename(&partial, to.join(name))?;
    std::fs::File::open(to)?.sync_all()?;
    println!(
        "restored {name}: {} bytes, integrity ok{}",
        copied.bytes,
        trail.as_ref().map(said).unwrap_or_default()
    );
    Ok(())
}

/// A backup holds password hashes and the audit trail: for Keydesk's own user only (files
/// 0600, the directory 0700), and restored files keep that.
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if path.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// `dir`, created if missing, must hold nothing.
fn empty_dir(dir: &Path, why: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if !names.is_empty() {
        names.sort();
        bail!(
            "{} is not empty (it holds {}): {why}",
            dir.display(),
            names.join(", ")
        );
    }
    Ok(())
}

/// Copy `source` into `target` with the online backup API, as one read transaction.
fn copy_online(source: &Path, target: &Path, lock_timeout: Duration) -> anyhow::Result<Copied> {
    let from = Connection::open(source)?;
    from.busy_timeout(lock_timeout)?;
    let partial = target.with_extension("db.partial");
    let mut to = Connection::open(&partial)?;
    owner_only(&partial)?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        let started = Instant::now();
        // All pages in one step: a step that stopped halfway would let writes in between.
        while backup.step(-1)? != StepResult::Done {
            ensure!(
                started.elapsed() < lock_timeout,
                "{} stayed locked for {} s",
                source.display(),
                lock_timeout.as_secs_f32()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // One self-contained file, without a write-ahead log beside it.
    to.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    let audit = check(&to)?;
    drop(to);
    std::fs::File::open(&partial)?.sync_all()?;
    let copied = Copied {
        name: crate::storage::file_name(target),
        bytes: std::fs::metadata(&partial)?.len(),
        sha256: sha256_of(&partial)?,
        audit,
    };
    std::fs::rename(&partial, target)?;
    Ok(copied)
}

/// The file is sound, and its audit trail, if it has one, verifies: what the trail is.
fn check(conn: &Connection) -> anyhow::Result<Option<Trail>> {
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    ensure!(
        integrity == "ok",
        "PRAGMA integrity_check says: {integrity}"
    );
    let has_audit: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
        [],
        |row| row.get(0),
    )?;
    if !has_audit {
        return Ok(None);
    }
    audit::chain::prepare(conn)?;
    let (records, broken) = audit::chain::verify(conn)?;
    if let Some(seq) = broken {
        bail!(
            "the audit chain is broken at record {seq}: it, or a record before it, was altered or removed"
        );
    }
    Ok(
        audit::anchor::head(conn, "backup", SystemTime::now())?.map(|head| Trail {
            records,
            head_seq: head.seq,
            head_hash: head.hash,
            start: head.start,
        }),
    )
}

fn said(trail: &Trail) -> String {
    format!(
        "; audit chain intact: {} records, the newest record {} with hash {}{}",
        trail.records,
        trail.head_seq,
        trail.head_hash,
        trail
            .start
            .map(|seq| format!(" (pruned by retention before record {seq})"))
            .unwrap_or_default()
    )
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(HEXLOWER.encode(&hasher.finalize()))
}
