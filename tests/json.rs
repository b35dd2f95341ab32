//! The page's JSON reader (src/json.rs) reads the server's answers as serde_json does, in a
//! browser (wasm-bindgen-test).
#![cfg(target_arch = "wasm32")]

use keydesk::json;
use keydesk_api::{
    AuditPage, AuditVerification, BeginRecoveryResponse, LastChange, ListUsersResponse, PageConfig,
    ScheduledList, Session, StateCounts, User,
};
use serde::de::DeserializeOwned;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Both read `text` into the same `T`, or both refuse it.
fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) -> Option<T> {
    let page = json::from_str::<T>(text);
    assert_eq!(page, serde_json::from_str::<T>(text).ok(), "{text}");
    page
}

const USER: &str = r#"{"id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "email": "wendy@example.com",
    "display_name": "Wendy \"W\" Appleseed \u00e9", "state": "ACTIVE",
    "create_time": "2024-01-15T10:30:00Z", "path": "accounts/A/users/IR7VJHJ36JHINBFAD7V2T5MP3E"}"#;

#[wasm_bindgen_test]
fn reads_users_as_serde_json_does() {
    let user = same::<User>(USER).expect("the documented user");
    assert_eq!(user.display_name, "Wendy \"W\" Appleseed é");
    assert_eq!(user.role, None);

    // Every extension, a state Keydesk does not know, nulls, and fields it does not know.
    let full = r#"{"results": [{"id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "email": "a@b.c",
        "display_name": "A", "state": "FROZEN_SOLID", "create_time": "t", "path": "p",
        "type": "GUEST", "role": "OWNER", "update_time": null, "recovery_started_time": "r",
        "two_factor_enabled": true, "signed_in_devices": 3, "later": {"x": [1, 2.5, null, [-3]]}}],
        "next_page_token": "2", "snapshot_time": null}"#;
    let list = same::<ListUsersResponse>(full).expect("a full page");
    assert_eq!(list.results[0].signed_in_devices, Some(3));
    same::<ListUsersResponse>(r#"{"results": []}"#).expect("an empty page");

    // What does not fit is refused by both.
    for wrong in [
        r#"{"results": [{"id": "not an id"}]}"#,
        r#"{"results": null}"#,
        r#"{"next_page_token": "2"}"#,
        r#"{"results": [], "next_page_token": 2}"#,
        r#"{"results": [], "#,
        "",
    ] {
        assert_eq!(same::<ListUsersResponse>(wrong), None);
    }
    let numbers = USER.replace(
        r#""state": "ACTIVE","#,
        r#""state": "ACTIVE", "signed_in_devices": N,"#,
    );
    for wrong in ["-1", "1.5", "4294967296", "true", "\"3\""] {
        assert_eq!(same::<User>(&numbers.replace('N', wrong)), None, "{wrong}");
    }
}

#[wasm_bindgen_test]
fn reads_the_other_answers_as_serde_json_does() {
    let session = r#"{"email": "a@b.c", "groups": ["g"], "roles": [],
        "permissions": ["read_users", "recover", "read_audit"], "development": false}"#;
    same::<Session>(session).expect("a session");
    assert_eq!(same::<Session>(&session.replace("recover", "fly")), None);

    same::<PageConfig>(
        r#"{"account_id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "directory": "upstream",
        "admin_console_url": "https://example.com"}"#,
    )
    .expect("a configuration");
    assert_eq!(
        same::<PageConfig>(r#"{"account_id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "directory": "x"}"#),
        None
    );

    same::<AuditPage>(
        r#"{"records": [{"seq": 42, "time": "t", "actor_email": "a",
        "actor_groups": [], "action": "begin_recovery", "targets": ["x"], "outcome": "denied",
        "reason": "", "request_id": "r", "client_address": "c", "settles": -7, "hash": "h"},
        {"seq": 43, "time": "t", "actor_email": "a", "actor_groups": ["g"], "action": "sign_in",
        "targets": [], "outcome": "succeeded", "reason": "", "request_id": "r",
        "client_address": "c", "count": 3, "hash": "h"}], "sentences": ["s"]}"#,
    )
    .expect("an audit page");
    same::<AuditVerification>(r#"{"records": 9007199254740991, "first_broken": null}"#)
        .expect("a verification");

    same::<StateCounts>(r#"{"counts": [{"state": "ACTIVE", "count": 4}], "active_owners": 1}"#)
        .expect("counts");
    same::<BeginRecoveryResponse>(&format!(
        r#"{{"users": [{USER}], "emailed": ["IR7VJHJ36JHINBFAD7V2T5MP3E"],
        "failures": [{{"id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "user": "W", "message": "m"}}]}}"#
    ))
    .expect("a begun recovery");
}

#[wasm_bindgen_test]
fn reads_why_and_when_as_serde_json_does() {
    same::<PageConfig>(
        r#"{"account_id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "directory": "embedded",
        "changes": {"require_reason": true, "require_ticket": false, "ticket_pattern": "^INC-\\d+$",
        "ticket_url": "https://d/{ticket}", "checklist": ["a", "b"], "four_eyes": true}}"#,
    )
    .expect("a configuration with rules");
    same::<Session>(
        r#"{"email": "a@b.c", "groups": [], "roles": [], "permissions": [],
        "development": true, "recent_tickets": ["INC-1", "INC-2"]}"#,
    )
    .expect("a session with tickets");
    assert_eq!(same::<Option<LastChange>>("null"), Some(None));
    same::<Option<LastChange>>(
        r#"{"action": "suspend", "time": "t", "actor_email": "a", "actor_name": "A",
        "reason": "leave", "ticket": "INC-1"}"#,
    )
    .expect("a last change");
    same::<ScheduledList>(
        r#"{"pending": [{"id": 7, "user_id": "IR7VJHJ36JHINBFAD7V2T5MP3E", "person": "P <p@e>",
        "action": "reactivate", "due_time": "t", "scheduled_by": "a", "scheduled_time": "t",
        "reason": "r", "status": "pending"}], "recent": []}"#,
    )
    .expect("a scheduled list");
    assert_eq!(
        same::<ScheduledList>(r#"{"pending": [{"id": 7}], "recent": []}"#),
        None
    );
}
