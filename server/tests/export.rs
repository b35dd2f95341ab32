//! The users CSV export: the view's people, spreadsheet-safe cells, and 100,000 people streamed
//! without the server holding them all.

use crate::common::{TestApp, command, process::Process};
use reqwest::StatusCode;

async fn export(app: &TestApp, params: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
    let response = app
        .client
        .get(app.url("/api/users.csv"))
        .query(params)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn the_export_is_the_views_people_in_its_order_with_formulas_neutralised() {
    let app = TestApp::start().await;
    let zoe = app.id_of("zoe.lefevre@example.com");
    app.db()
        .execute(
            "UPDATE users SET display_name = '=HYPERLINK(\"http://evil.example\",\"Zoë, \"\"the\"\" one\")' WHERE id = ?1",
            [&zoe],
        )
        .unwrap();
    let params = [("state", "ACTIVE"), ("order_by", "email desc")];
    let (status, kind, text) = export(&app, &params).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(kind.as_deref(), Some("text/csv; charset=utf-8"));
    let listed = app.list_all(&params).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "Name",
            "Email",
            "Role",
            "State",
            "Created",
            "ID",
            "update_time"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), listed.len());
    for (row, user) in rows.iter().zip(&listed) {
        assert_eq!(row[1], user.email);
        assert_eq!(row[3], *"Active");
        assert_eq!(row[5], *user.id.as_str());
    }
    let zoes = rows
        .iter()
        .find(|row| row[5] == zoe)
        .expect("Zoë is active");
    assert_eq!(
        &zoes[0], "'=HYPERLINK(\"http://evil.example\",\"Zoë, \"\"the\"\" one\")",
        "the cell is text, not a formula"
    );
    // A search narrows it like the list.
    let (_, _, text) = export(&app, &[("q", "lefèvre")]).await;
    assert_eq!(text.lines().count(), 2, "{text}");
    // Compressed for a client that asks, ending cleanly (the compression layer reads past the
    // end of the stream, which once cut the connection).
    let response = app
        .client
        .get(app.url("/api/users.csv"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(!response.bytes().await.expect("the whole body").is_empty());
    // And a bad parameter is the usual error.
    let (status, _, text) = export(&app, &[("order_by", "shoe size")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

/// A process's resident memory now and at its peak since the last reset, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Measured on the real binary in a process of its own: the test process runs every other
/// test at the same time, so its own peak says nothing about an export.
#[tokio::test]
async fn a_hundred_thousand_people_stream_out_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = command::run(dir.path(), &["generate", "--users", "100000"]);
    assert_eq!(code, 0, "{stderr}");
    let server = Process::start(dir.path());
    let pid = server.pid();
    let client = reqwest::Client::new();
    // The first export fills what any paging through everyone fills (the directory's bounded
    // caches, SQLite's page cache); the second shows what an export itself holds.
    for round in ["first", "second"] {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("resetting the peak");
        let (before, _) = memory(pid);
        let mut response = client
            .get(format!("{}/api/users.csv", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.content_length().is_none(),
            "streamed, not buffered"
        );
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(chunk) = response.chunk().await.unwrap() {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let (_, peak) = memory(pid);
        assert_eq!(lines, 100_001, "a header and everyone");
        let grew = peak.saturating_sub(before);
        println!("{round} export: {bytes} bytes; the peak grew by {grew} bytes");
        // What an export may hold: one page in flight, and what the embedded directory keeps
        // of the pages it read (at most 20,000 people, about 15 MB, which paging churns).
        // Everyone at once would be 100,000 people (about 70 MB) and the file (13 MB).
        if round == "second" {
            assert!(
                grew < 48 << 20,
                "the peak grew by {grew} bytes while exporting {bytes} bytes"
            );
        }
    }
    server.stop();
}
