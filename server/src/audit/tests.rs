//! The trail as a whole: the chain, queries, locks, unsettled attempts.

use super::*;

use keydesk_api::AuditQuery;

use super::people::Named;

/// A succeeded suspension of `target` by the demo's administrator, for tests.
pub(crate) fn sample_entry(target: &str) -> Entry {
    Entry {
        actor_email: "amara.okafor@example.com".into(),
        actor_groups: vec!["keydesk-admins".into()],
        action: AuditAction::Suspend,
        targets: vec![target.into()],
        outcome: AuditOutcome::Succeeded,
        reason: String::new(),
        request_id: "r1".into(),
        client_address: "127.0.0.1".into(),
        count: 1,
        settles: None,
        note: Note::default(),
    }
}

fn entry(action: AuditAction) -> Entry {
    Attempt::new(
        "amara.okafor@example.com".into(),
        vec!["keydesk-admins".into()],
        action,
        "r1".into(),
        "127.0.0.1".into(),
    )
    .entry(
        vec!["ZBSTFQCWDIORFX5C56NHLY6MQV".into()],
        AuditOutcome::Succeeded,
        String::new(),
    )
}

fn open(path: &Path) -> AuditLog {
    AuditLog::open(path, Duration::from_millis(200), false).unwrap()
}

#[tokio::test]
async fn a_tampered_record_breaks_the_chain_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let log = open(&path);
    use AuditAction::*;
    for action in [Suspend, Reactivate, BeginRecovery, Suspend] {
        log.record(entry(action)).await.unwrap();
    }
    assert_eq!(
        log.verify().await.unwrap(),
        AuditVerification {
            records: 4,
            first_broken: None
        }
    );

    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 3", [])
        .unwrap();
    assert_eq!(log.verify().await.unwrap().first_broken, Some(3));

    conn.execute("UPDATE audit SET outcome = 'succeeded' WHERE seq = 3", [])
        .unwrap();
    conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    assert_eq!(log.verify().await.unwrap().first_broken, Some(2));
}

#[tokio::test]
async fn queries_filter_and_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("audit.db"));
    for n in 0..7 {
        let mut e = entry(if n % 2 == 0 {
            AuditAction::Suspend
        } else {
            AuditAction::Reactivate
        });
        e.targets = vec![format!("T{n}")];
        log.record(e).await.unwrap();
    }
    let query = |action: &str, token: Option<String>| AuditQuery {
        action: Some(action.into()),
        max_page_size: Some("2".into()),
        page_token: token,
        ..AuditQuery::default()
    };
    let (first, token) = log
        .query(query("suspend", None), Named::default(), false)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 5]);
    let (second, token) = log
        .query(query("suspend", token), Named::default(), false)
        .await
        .unwrap();
    assert_eq!(second.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(token, None);
    let by_target = AuditQuery {
        target: Some("T4".into()),
        ..AuditQuery::default()
    };
    let (found, _) = log.query(by_target, Named::default(), false).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].seq, 5);
    let bad = AuditQuery {
        since: Some("yesterday".into()),
        ..AuditQuery::default()
    };
    assert!(log.query(bad, Named::default(), false).await.is_err());
}

#[tokio::test]
async fn a_locked_file_makes_the_trail_unwritable_until_it_is_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let log = open(&path);
    log.record(entry(AuditAction::Suspend)).await.unwrap();
    assert!(log.unwritable().await.is_none());

    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE;").unwrap();
    let err = log.record(entry(AuditAction::Suspend)).await.unwrap_err();
    assert!(
        err.to_string().starts_with(
            "the audit trail cannot be written: audit.db is locked by another process"
        ),
        "{err}"
    );
    assert!(matches!(
        log.unwritable().await,
        Some(StorageError::Locked { .. })
    ));
    holder.execute_batch("ROLLBACK;").unwrap();
    assert!(log.unwritable().await.is_none());
    log.record(entry(AuditAction::Suspend)).await.unwrap();
    assert_eq!(log.verify().await.unwrap().records, 2);
}

#[tokio::test]
async fn attempts_are_unsettled_until_a_record_settles_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("audit.db"));
    let attempt = |n: &str| Entry {
        outcome: AuditOutcome::Attempted,
        targets: vec![n.to_owned()],
        ..entry(AuditAction::Suspend)
    };
    let first = log.record(attempt("A")).await.unwrap();
    let second = log.record(attempt("B")).await.unwrap();
    log.record(Entry {
        settles: Some(first.seq),
        ..entry(AuditAction::Suspend)
    })
    .await
    .unwrap();
    let open: Vec<i64> = log
        .unsettled()
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(open, [second.seq]);
}
