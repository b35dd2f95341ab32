//! Anchors against trails that were trimmed, altered or re-chained.

use super::*;
use crate::audit::{
    chain::{self, Entry},
    tests::sample_entry as entry,
};
use keydesk_api::{AuditAction, AuditOutcome};

fn trail(records: usize) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    chain::prepare(&conn).unwrap();
    for n in 0..records {
        chain::append(&conn, entry(&format!("T{n}")), SystemTime::now()).unwrap();
    }
    conn
}

fn anchored(conn: &Connection) -> Anchor {
    head(conn, "minute", SystemTime::now()).unwrap().unwrap()
}

#[test]
fn an_intact_trail_matches_its_anchors() {
    let conn = trail(5);
    let first = anchored(&conn);
    chain::append(&conn, entry("T5"), SystemTime::now()).unwrap();
    let second = anchored(&conn);
    assert_eq!((first.seq, second.seq), (5, 6));
    assert!(check(&conn, &[first, second]).unwrap().is_empty());
}

#[test]
fn deleted_newest_records_are_named() {
    let conn = trail(9);
    let anchor = anchored(&conn);
    conn.execute_batch("DELETE FROM audit WHERE seq >= 7;")
        .unwrap();
    assert_eq!(
        chain::verify(&conn).unwrap(),
        (6, None),
        "the chain alone sees nothing"
    );
    assert_eq!(
        check(&conn, std::slice::from_ref(&anchor)).unwrap(),
        [format!(
            "records 7 to 9 are missing: the newest anchored head, written at {}, was record 9 \
             with hash {}",
            anchor.time, anchor.hash
        )]
    );
    conn.execute_batch("DELETE FROM audit;").unwrap();
    assert!(check(&conn, &[anchor]).unwrap()[0].starts_with("records 1 to 9 are missing"));
}

#[test]
fn a_re_chained_record_is_named_altered() {
    let conn = trail(4);
    let anchor = anchored(&conn);
    // Altered and hashed again, as someone who knows the chain's rule would: the chain verifies.
    let mut record = conn
        .query_row(
            &format!("SELECT {} FROM audit WHERE seq = 4", chain::COLUMNS),
            [],
            chain::row_to_record,
        )
        .unwrap();
    let previous: String = conn
        .query_row("SELECT hash FROM audit WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    record.outcome = AuditOutcome::Denied;
    let forged = chain::chain_hash(&previous, &record);
    conn.execute(
        "UPDATE audit SET outcome = 'denied', hash = ?1 WHERE seq = 4",
        [&forged],
    )
    .unwrap();
    assert_eq!(chain::verify(&conn).unwrap(), (4, None));
    let problems = check(&conn, std::slice::from_ref(&anchor)).unwrap();
    assert_eq!(
        problems,
        [format!(
            "record 4 was altered: the anchor written at {} says its hash was {}, the trail's \
             is {forged}",
            anchor.time, anchor.hash
        )]
    );
}

#[test]
fn a_start_moved_with_a_forged_prune_record_is_caught_by_the_anchors() {
    let conn = trail(6);
    let anchor = anchored(&conn);
    // Records 1 to 3 deleted, the start moved, and a prune record forged to announce it: the
    // file alone cannot tell.
    let hash3 = retention::forge_start(&conn, 4);
    chain::append(
        &conn,
        Entry {
            action: AuditAction::PruneAudit,
            targets: Vec::new(),
            reason: format!("the chain now starts at record 4, after hash {hash3}"),
            ..entry("")
        },
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(chain::verify(&conn).unwrap(), (4, None));
    let problems = check(&conn, &[anchor]).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("the trail starts at record 4, but when the newest anchor was written"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("records 1 to 3 were removed"),
        "{}",
        problems[0]
    );
}

#[test]
fn anchors_are_read_from_json_lines_and_from_syslog_lines() {
    let anchor = Anchor {
        time: "2026-11-28T21:00:00.000Z".into(),
        seq: 45,
        hash: "ab".repeat(32),
        start: Some(41),
        why: "shutdown".into(),
    };
    let json = serde_json::to_string(&anchor).unwrap();
    let text = format!(
        "{json}\n\nNov 28 21:00:00 host keydesk[812]: {SYSLOG_PREFIX}{json}\n\
         <13>Nov 28 21:00:00 keydesk[812]: {SYSLOG_PREFIX}{json}\nsomething else\n{{\"seq\": 1}}\n"
    );
    let (anchors, other) = read(&text);
    assert_eq!(anchors, [anchor.clone(), anchor.clone(), anchor]);
    assert_eq!(other, 2);
}

#[test]
fn the_sink_appends_json_lines_and_sends_to_the_system_log() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    let settings = AuditSettings {
        anchor_file: Some(dir.path().join("anchors/keydesk")),
        syslog_socket: socket_path,
        ..AuditSettings::default()
    };
    let sink = Sink::new(&settings);
    let conn = trail(3);
    let anchor = anchored(&conn);
    sink.write(&anchor);
    sink.write(&anchor);
    let text = std::fs::read_to_string(dir.path().join("anchors/keydesk")).unwrap();
    assert_eq!(read(&text), (vec![anchor.clone(), anchor.clone()], 0));
    let mut datagram = [0u8; 2048];
    let n = socket.recv(&mut datagram).unwrap();
    let message = String::from_utf8_lossy(&datagram[..n]).into_owned();
    assert!(message.contains("keydesk["), "{message}");
    assert_eq!(read(&message), (vec![anchor.clone()], 0), "{message}");
    assert!(!sink.due(&anchor), "written a moment ago");
    chain::append(&conn, entry("T3"), SystemTime::now()).unwrap();
    assert!(sink.due(&anchored(&conn)), "the head moved");

    // No system log: said once, and the file still gets its line.
    let quiet = Sink::new(&AuditSettings {
        syslog_socket: dir.path().join("nothing-here"),
        ..settings
    });
    quiet.write(&anchor);
    let text = std::fs::read_to_string(dir.path().join("anchors/keydesk")).unwrap();
    assert_eq!(read(&text).0.len(), 3);
}
