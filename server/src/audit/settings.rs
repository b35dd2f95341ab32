//! `[audit]` in the configuration file: how long records are kept, and where the chain's head is
//! written outside Keydesk's own files.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

/// The shortest `keep`: pruning runs by whole days, and "400s" written for "400d" would
/// otherwise empty the trail at the next start.
const SHORTEST_KEEP: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Records older than this are pruned (at start and hourly); absent, they are kept forever.
    #[serde(with = "humantime_serde")]
    pub keep: Option<Duration>,
    /// An append-only file that gets one JSON line per anchor (the chain's head), beside the
    /// system log: `keydesk-server verify-audit --anchors FILE` reads it.
    pub anchor_file: Option<PathBuf>,
    /// The system log's socket; when it is missing Keydesk says so once and goes on.
    pub syslog_socket: PathBuf,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            keep: None,
            anchor_file: None,
            syslog_socket: PathBuf::from("/dev/log"),
        }
    }
}

impl AuditSettings {
    /// Every problem with the section, in words an operator can act on.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(keep) = self.keep {
            anyhow::ensure!(
                keep >= SHORTEST_KEEP,
                "[audit] keep = \"{}\" is shorter than a day: records are pruned by whole days; \
                 write for example keep = \"400d\", or leave keep out to keep every record",
                humantime::format_duration(keep)
            );
        }
        if let Some(file) = &self.anchor_file {
            anyhow::ensure!(
                file.is_absolute(),
                "[audit] anchor_file = {:?} is not an absolute path: write where the file lives, \
                 for example \"/var/log/keydesk/anchors\"",
                file.display().to_string()
            );
        }
        Ok(())
    }
}
