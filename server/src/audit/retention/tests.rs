//! Retention with the clock moved, never waited for.

use super::*;
use crate::audit::tests::sample_entry as entry;

const KEEP: Duration = Duration::from_secs(400 * DAY);

fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY)
}

/// A trail of five records from 500 days before `now` (a day apart) and three from 10 days
/// before.
fn trail(now: SystemTime) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    chain::prepare(&conn).unwrap();
    for n in 0..5 {
        chain::append(&conn, entry(&format!("OLD{n}")), now - days(500 - n)).unwrap();
    }
    for n in 0..3 {
        chain::append(&conn, entry(&format!("NEW{n}")), now - days(10 - n)).unwrap();
    }
    conn
}

fn seqs(conn: &Connection) -> Vec<i64> {
    let mut statement = conn.prepare("SELECT seq FROM audit ORDER BY seq").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn pruning_keeps_a_chain_that_verifies_as_the_clock_moves() {
    let now = SystemTime::now();
    let conn = trail(now);
    let pruned = prune(&conn, KEEP, now)
        .unwrap()
        .expect("five records are old");
    assert_eq!((pruned.first, pruned.last, pruned.start.seq), (1, 5, 6));
    assert_eq!(pruned.record.seq, 9);
    assert_eq!(pruned.record.action, AuditAction::PruneAudit);
    assert!(
        pruned
            .record
            .reason
            .starts_with("records 1 to 5 were older than "),
        "{}",
        pruned.record.reason
    );
    assert_eq!(seqs(&conn), [6, 7, 8, 9]);
    assert_eq!(chain::verify(&conn).unwrap(), (4, None));
    assert!(
        prune(&conn, KEEP, now).unwrap().is_none(),
        "nothing is older yet"
    );

    // 400 days on, the three recent records are old too; the prune record is not.
    let later = now + KEEP;
    let pruned = prune(&conn, KEEP, later)
        .unwrap()
        .expect("three more are old");
    assert_eq!((pruned.first, pruned.last, pruned.start.seq), (6, 8, 9));
    assert_eq!(seqs(&conn), [9, 10]);
    assert_eq!(chain::verify(&conn).unwrap(), (2, None));
    assert_eq!(
        describe(start(&conn).unwrap().as_ref()),
        format!(
            "the chain starts at record 9: records 1 to 8 were pruned by retention at {} \
             (they were older than {})",
            humantime::format_rfc3339_millis(later),
            pruned.start.cutoff
        )
    );
    // The chain goes on from the kept records.
    chain::append(&conn, entry("AFTER"), later).unwrap();
    assert_eq!(chain::verify(&conn).unwrap(), (3, None));
}

#[test]
fn the_newest_record_is_never_pruned() {
    let now = SystemTime::now();
    let conn = trail(now);
    let pruned = prune(&conn, KEEP, now + days(1000)).unwrap().unwrap();
    assert_eq!((pruned.first, pruned.last), (1, 7));
    assert_eq!(seqs(&conn), [8, 9]);
    assert_eq!(chain::verify(&conn).unwrap(), (2, None));
    // Only the prune record and the one before it are left: still the same two.
    let again = prune(&conn, KEEP, now + days(2000)).unwrap().unwrap();
    assert_eq!((again.first, again.last), (8, 8));
    assert_eq!(seqs(&conn), [9, 10]);
}

#[test]
fn a_record_newer_than_the_cutoff_keeps_every_record_after_it() {
    // A clock set back once: an old time after a recent one is not pruned out of the middle.
    let now = SystemTime::now();
    let conn = trail(now);
    chain::append(&conn, entry("SKEWED"), now - days(900)).unwrap();
    let pruned = prune(&conn, KEEP, now).unwrap().unwrap();
    assert_eq!(pruned.last, 5);
    assert_eq!(seqs(&conn), [6, 7, 8, 9, 10]);
    assert_eq!(chain::verify(&conn).unwrap(), (5, None));
}

#[test]
fn tampering_after_pruning_is_still_detected() {
    let now = SystemTime::now();
    let conn = trail(now);
    prune(&conn, KEEP, now).unwrap().unwrap();
    conn.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 7", [])
        .unwrap();
    assert_eq!(chain::verify(&conn).unwrap().1, Some(7));
    conn.execute("UPDATE audit SET outcome = 'succeeded' WHERE seq = 7", [])
        .unwrap();
    assert_eq!(chain::verify(&conn).unwrap().1, None);
    // The first kept record is checked against the kept start, too.
    conn.execute("UPDATE audit SET targets = '[\"X\"]' WHERE seq = 6", [])
        .unwrap();
    assert_eq!(chain::verify(&conn).unwrap().1, Some(6));
}

#[test]
fn the_start_cannot_be_moved_silently() {
    let now = SystemTime::now();
    let conn = trail(now);
    prune(&conn, KEEP, now).unwrap().unwrap();
    // Someone with the file deletes two more records and moves the start past them, with the
    // right hash: no prune record says so.
    forge_start(&conn, 8);
    assert_eq!(chain::verify(&conn).unwrap(), (2, Some(8)));
}

#[test]
fn a_start_made_up_where_nothing_was_pruned_is_detected() {
    let now = SystemTime::now();
    let conn = trail(now);
    forge_start(&conn, 4);
    assert_eq!(chain::verify(&conn).unwrap(), (5, Some(4)));
    // Without a start at all, the first record left does not follow from the genesis.
    conn.execute_batch("DELETE FROM audit_start;").unwrap();
    assert_eq!(chain::verify(&conn).unwrap().1, Some(1));
}

#[test]
fn a_keep_shorter_than_a_day_is_refused() {
    let settings: crate::settings::Settings = toml::from_str("[audit]\nkeep = \"400s\"\n").unwrap();
    let err = settings.audit.check().unwrap_err().to_string();
    assert!(
        err.starts_with("[audit] keep = \"6m 40s\" is shorter than a day"),
        "{err}"
    );
    let settings: crate::settings::Settings = toml::from_str("[audit]\nkeep = \"400d\"\n").unwrap();
    assert_eq!(settings.audit.keep, Some(KEEP));
    settings.audit.check().unwrap();
    let absent = crate::settings::Settings::default();
    assert_eq!(absent.audit.keep, None);
}
