//! Behind SSO: who is signed in (believed only from the SSO proxy), what each role may do, the
//! rules no role lifts, the rate limit, CSRF, the audit trail and its hash chain, and the security
//! headers, over real HTTP on loopback.
//!
//! The tests connect from 127.0.0.1, so "an address that is not the proxy" is made by trusting
//! only 10.9.8.7/32; no test sends anything beyond loopback.

use std::time::{Duration, SystemTime};

use crate::common::{DEV_USER, TestApp, checklist, config_with_settings, expect_error, token_in};
use keydesk_api::{
    AcceptRecoveryResponse, ApiError, AuditPage, AuditRecord, AuditVerification, OutboxResponse,
};
use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER},
};
use serde_json::{Value, json};

const SECRET_HEADER: &str = "X-Keydesk-Proxy-Secret";
const SECRET: &str = "only-the-proxy-knows-this-0123456789";

/// Someone the SSO proxy vouches for: their email and groups as it forwards them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Person {
    pub email: &'static str,
    pub groups: &'static str,
}

const OWNER: Person = Person {
    email: "wendy.appleseed@example.com",
    groups: "keydesk-owners",
};
pub(crate) const ADMIN: Person = Person {
    email: "amara.okafor@example.com",
    groups: "keydesk-admins",
};
pub(crate) const OTHER_ADMIN: Person = Person {
    email: "jose.alvarez@example.com",
    groups: "keydesk-admins",
};
pub(crate) const HELPDESK: Person = Person {
    email: "priya.raghunathan@example.com",
    groups: "keydesk-helpdesk",
};
const VIEWER: Person = Person {
    email: "taro.yamada@example.com",
    groups: "keydesk-viewers",
};

// Demo people acted on.
const ZOE: &str = "zoe.lefevre@example.com";
const OLIVER: &str = "oliver.smith@example.com";
const NGOZI: &str = "ngozi.adeyemi@example.com";
const NIKOLAI_OWNER: &str = "nikolai.odegard@example.com";
const DMITRI_SUSPENDED: &str = "dmitri.ivanov@example.com";
const ANA_RECOVERY_STARTED: &str = "ana.goncalves@example.com";
const LUKASZ_RECOVERY_ACCEPTED: &str = "lukasz.wisniewski@example.com";

impl Person {
    /// The request as the SSO proxy forwards it for this person, shared secret included.
    pub(crate) fn sign(self, request: RequestBuilder) -> RequestBuilder {
        request
            .header("X-Forwarded-Email", self.email)
            .header("X-Forwarded-Groups", self.groups)
            .header(SECRET_HEADER, SECRET)
    }
}

/// Proxy mode as deployed: identity headers from a proxy on loopback that also sends a shared
/// secret, read from a file. `proxy_keys` go into `[auth.proxy]`; `tables` follow it.
pub(crate) async fn proxy_app(proxy_keys: &str, tables: &str) -> TestApp {
    let settings = format!(
        "[auth]\nmode = \"proxy\"\n\n[auth.proxy]\nsecret_header = \"{SECRET_HEADER}\"\n\
         secret_file = \"{{dir}}/proxy-secret\"\n{proxy_keys}\n\n{tables}\n"
    );
    // With a trailing newline, as `echo` writes it: the server trims it.
    let secret = format!("{SECRET}\n");
    TestApp::builder()
        .settings(&settings, &[("proxy-secret", secret.as_str())])
        .start()
        .await
}

pub(crate) async fn get_as(app: &TestApp, who: Person, path: &str) -> (StatusCode, Value) {
    app.send(who.sign(app.client.get(app.url(path)))).await
}

pub(crate) async fn post_as(app: &TestApp, who: Person, path: &str) -> (StatusCode, Value) {
    app.send(who.sign(app.client.post(app.url(path)))).await
}

pub(crate) async fn begin_as(app: &TestApp, who: Person, names: &[&str]) -> (StatusCode, Value) {
    let path = keydesk_api::begin_recovery_path(&app.config.account_id);
    let request = app
        .client
        .post(app.url(&path))
        .json(&json!({ "users": names }));
    app.send(who.sign(request)).await
}

/// `:completeRecovery` with every check ticked.
pub(crate) async fn complete_as(app: &TestApp, who: Person, email: &str) -> (StatusCode, Value) {
    let path = method_path(app, email, "completeRecovery");
    let request = app.client.post(app.url(&path));
    let request = request.json(&json!({ "checked": checklist() }));
    app.send(who.sign(request)).await
}

pub(crate) fn method_path(app: &TestApp, email: &str, method: &str) -> String {
    format!("{}:{method}", app.user_path(&app.id_of(email)))
}

fn last_record(app: &TestApp) -> AuditRecord {
    app.audit_records().pop().expect("an audit record")
}

/// `(action, outcome, actor)` of a record, to compare in one go.
fn summary(record: &AuditRecord) -> (&str, &str, &str) {
    (
        record.action.as_str(),
        record.outcome.as_str(),
        &record.actor_email,
    )
}

// ---- Identity from the SSO proxy ----

#[tokio::test]
async fn identity_headers_from_an_untrusted_address_are_refused_and_audited() {
    let app = proxy_app(r#"trusted_proxies = ["10.9.8.7/32"]"#, "").await;
    let request = ADMIN
        .sign(app.client.get(app.url("/api/session")))
        .header("X-Forwarded-For", "198.51.100.7");
    let message = expect_error(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert!(
        message.contains("did not come through the SSO proxy"),
        "{message}"
    );
    let record = last_record(&app);
    assert_eq!(record.action, "sign_in");
    assert_eq!(record.outcome.as_str(), "denied");
    assert_eq!(record.reason, message);
    // What the request claimed is kept, marked as not believed; so is the real peer, not the
    // forwarded address the request made up.
    assert_eq!(record.actor_email, format!("unverified: {}", ADMIN.email));
    assert_eq!(record.client_address, "127.0.0.1");

    let before = app.tables();
    let answer = post_as(&app, ADMIN, &method_path(&app, ZOE, "suspend")).await;
    expect_error(&answer, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(
        app.tables() == before,
        "an untrusted request changed the directory"
    );
    // The same refusal from the same address again: counted with the first.
    assert_eq!(app.refusals(|r| r.action == "sign_in").await, 2);
    assert_eq!(summary(&last_record(&app)).0, "sign_in");
}

#[tokio::test]
async fn without_an_email_there_is_no_access() {
    let app = proxy_app("", "").await;
    let signed_without_email = || {
        app.client
            .get(app.url("/api/session"))
            .header("X-Forwarded-Groups", "keydesk-admins")
            .header(SECRET_HEADER, SECRET)
    };
    let cases = [
        (signed_without_email(), "no email"),
        (
            signed_without_email().header("X-Forwarded-Email", " "),
            "no email",
        ),
        (
            signed_without_email().header("X-Forwarded-Email", "amara"),
            "not one email address",
        ),
        (app.client.get(app.url("/api/session")), "shared secret"),
    ];
    for (n, (request, why)) in cases.into_iter().enumerate() {
        let message = expect_error(
            &app.send(request).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert!(message.contains(why), "case {n}: {message}");
        assert_eq!(
            app.refusals(|_| true).await,
            n as u32 + 1,
            "case {n} was not audited"
        );
    }
}

#[tokio::test]
async fn the_proxys_shared_secret_must_come_and_match() {
    let app = proxy_app("", "").await;
    let session = || {
        app.client
            .get(app.url("/api/session"))
            .header("X-Forwarded-Email", ADMIN.email)
            .header("X-Forwarded-Groups", ADMIN.groups)
    };
    for (request, case) in [
        (session(), "missing"),
        (
            session().header(SECRET_HEADER, "only-the-proxy-knows-this"),
            "wrong",
        ),
        (
            session().header(SECRET_HEADER, format!("{SECRET}x")),
            "one character more",
        ),
    ] {
        let message = expect_error(
            &app.send(request).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert!(message.contains("shared secret"), "{case}: {message}");
        assert_eq!(
            summary(&last_record(&app)),
            ("sign_in", "denied", "unverified: amara.okafor@example.com"),
            "{case}"
        );
    }
    let (status, body) = app.send(session().header(SECRET_HEADER, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], ADMIN.email);
}

#[tokio::test]
async fn identity_headers_in_disguise_are_refused_and_audited() {
    let app = proxy_app("", "").await;
    let session = || app.client.get(app.url("/api/session"));
    let cases = [
        // Alone, hoping something behind the proxy turns `_` into `-`.
        session()
            .header("X_Forwarded_Email", ADMIN.email)
            .header(SECRET_HEADER, SECRET),
        session()
            .header("x-forwarded_email", ADMIN.email)
            .header(SECRET_HEADER, SECRET),
        // Beside a real identity, to add a group the proxy never vouched for.
        ADMIN
            .sign(session())
            .header("X_FORWARDED_GROUPS", "keydesk-owners"),
        VIEWER
            .sign(session())
            .header("X-Forwarded_Groups", "keydesk-admins"),
        // Or to smuggle a secret past a proxy that sets the real one.
        ADMIN
            .sign(session())
            .header("X_Keydesk_Proxy_Secret", SECRET),
    ];
    for (n, request) in cases.into_iter().enumerate() {
        let message = expect_error(
            &app.send(request).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert!(message.contains("disguised"), "case {n}: {message}");
        let record = last_record(&app);
        assert_eq!(
            (record.action.as_str(), record.outcome.as_str()),
            ("sign_in", "denied")
        );
        assert_eq!(record.reason, message, "case {n}");
        assert_eq!(app.audit_records().len(), n + 1);
    }
}

#[tokio::test]
async fn an_email_header_sent_twice_is_refused() {
    let app = proxy_app("", "").await;
    let request = ADMIN
        .sign(app.client.get(app.url("/api/session")))
        .header("X-Forwarded-Email", VIEWER.email);
    let message = expect_error(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert!(message.contains("more than once"), "{message}");
    assert_eq!(summary(&last_record(&app)).1, "denied");
}

#[tokio::test]
async fn groups_are_read_from_several_header_lines_and_from_commas() {
    let app = proxy_app("", "").await;
    let request = app
        .client
        .get(app.url("/api/session"))
        .header("X-Forwarded-Email", HELPDESK.email)
        .header("X-Forwarded-Preferred-Username", "priya")
        .header("X-Forwarded-Groups", "keydesk-viewers, staff,")
        .header("X-Forwarded-Groups", "keydesk-helpdesk")
        .header(SECRET_HEADER, SECRET);
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "email": HELPDESK.email,
            "name": "priya",
            "groups": ["keydesk-viewers", "staff", "keydesk-helpdesk"],
            "roles": ["helpdesk", "viewer"],
            "permissions": ["read_users", "recover"],
            "development": false,
        })
    );
}

#[tokio::test]
async fn header_names_and_role_groups_come_from_the_configuration() {
    // Grafana's auth proxy names, and the company's own groups.
    let app = proxy_app(
        "",
        "[auth.proxy.headers]\nemail = \"X-WEBAUTH-USER\"\ngroups = \"X-WEBAUTH-GROUPS\"\n\n\
         [roles]\nadministrator = [\"IT Admins\"]\nhelpdesk = [\"Service Desk\", \"IT Support\"]\n",
    )
    .await;
    let session = |email_header: &str, groups: &str| {
        app.client
            .get(app.url("/api/session"))
            .header(email_header, ADMIN.email)
            .header("X-WEBAUTH-GROUPS", groups)
            .header(SECRET_HEADER, SECRET)
    };
    let (status, body) = app.send(session("X-WEBAUTH-USER", "IT Support")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], ADMIN.email);
    assert_eq!(body["roles"], json!(["helpdesk"]));
    let (status, body) = app.send(session("X-WEBAUTH-USER", "IT Admins")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["administrator"]));

    // The default names mean nothing here, and the default groups grant nothing.
    expect_error(
        &app.send(session("X-Forwarded-Email", "IT Admins")).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    expect_error(
        &app.send(session("X-WEBAUTH-USER", "keydesk-admins")).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    let message = expect_error(
        &app.send(session("X_WEBAUTH_USER", "IT Admins")).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert!(message.contains("disguised"), "{message}");
}

#[tokio::test]
async fn authentiks_pipe_separated_groups_are_read() {
    let app = proxy_app(
        "",
        "[auth.proxy.headers]\nemail = \"X-authentik-email\"\ngroups = \"X-authentik-groups\"\n",
    )
    .await;
    let request = app
        .client
        .get(app.url("/api/session"))
        .header("X-authentik-email", HELPDESK.email)
        .header(
            "X-authentik-groups",
            "all-staff|keydesk-helpdesk|keydesk-viewers",
        )
        .header(SECRET_HEADER, SECRET);
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["groups"],
        json!(["all-staff", "keydesk-helpdesk", "keydesk-viewers"])
    );
    assert_eq!(body["roles"], json!(["helpdesk", "viewer"]));
}

#[tokio::test]
async fn someone_whose_groups_give_no_role_is_refused_by_name() {
    let app = proxy_app("", "").await;
    let outsider = Person {
        email: "mateo.rossi@example.com",
        groups: "marketing, all-staff",
    };
    for answer in [
        get_as(&app, outsider, "/api/session").await,
        get_as(&app, outsider, &app.users_path()).await,
        post_as(&app, outsider, &method_path(&app, ZOE, "suspend")).await,
    ] {
        let message = expect_error(&answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert!(
            message.contains(outsider.email) && message.contains("marketing, all-staff"),
            "{message}"
        );
    }
    assert_eq!(app.refusals(|_| true).await, 3);
    for record in app.audit_records() {
        assert_eq!(summary(&record), ("sign_in", "denied", outsider.email));
        assert_eq!(record.actor_groups, ["marketing", "all-staff"]);
    }
    assert_eq!(app.row(&app.id_of(ZOE)).0, "ACTIVE");
}

#[tokio::test]
async fn the_session_says_who_is_signed_in_and_what_they_may_do() {
    let app = proxy_app("", "").await;
    let (status, body) = get_as(&app, VIEWER, "/api/session").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "email": VIEWER.email,
            "groups": ["keydesk-viewers"],
            "roles": ["viewer"],
            "permissions": ["read_users"],
            "development": false,
        })
    );
    let (_, body) = get_as(&app, OWNER, "/api/session").await;
    assert_eq!(body["roles"], json!(["owner"]));
    assert_eq!(
        body["permissions"],
        json!([
            "read_users",
            "suspend",
            "reactivate",
            "recover",
            "read_audit"
        ])
    );
}

#[tokio::test]
async fn development_mode_signs_in_its_fixed_identity_and_says_so() {
    let app = TestApp::start().await;
    // Whatever a request claims: development sign-in is one fixed person.
    let (status, body) = get_as(&app, VIEWER, "/api/session").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "email": DEV_USER,
            "groups": ["keydesk-admins"],
            "roles": ["administrator"],
            "permissions": ["read_users", "suspend", "reactivate", "recover", "read_audit"],
            "development": true,
        })
    );
}

/// Why `keydesk_server::app` refuses these settings (with this listen address).
fn refusal(settings: &str, files: &[(&str, &str)], listen: &str) -> String {
    let (_dir, mut config) = config_with_settings(settings, files);
    config.listen = listen.parse().unwrap();
    match keydesk_server::app(&config) {
        Ok(_) => panic!("started with {settings:?} on {listen}"),
        Err(err) => format!("{err:#}"),
    }
}

#[test]
fn unsafe_sign_in_settings_refuse_to_start_and_say_why() {
    for listen in ["0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080"] {
        let message = refusal("", &[], listen);
        assert!(
            message.contains("development sign-in") && message.contains("loopback"),
            "{listen}: {message}"
        );
    }
    let message = refusal("[auth]\nmode = \"proxy\"\n", &[], "0.0.0.0:8080");
    assert!(
        message.contains("[auth.proxy]") && message.contains("trusted_proxies"),
        "{message}"
    );
    let with_secret = |file: &str| {
        format!(
            "[auth]\nmode = \"proxy\"\n[auth.proxy]\nsecret_header = \"{SECRET_HEADER}\"\n{file}"
        )
    };
    let message = refusal(&with_secret(""), &[], "127.0.0.1:0");
    assert!(message.contains("secret_file"), "{message}");
    let message = refusal(
        &with_secret("secret_file = \"{dir}/missing\""),
        &[],
        "127.0.0.1:0",
    );
    assert!(message.contains("missing"), "{message}");
    let message = refusal(
        &with_secret("secret_file = \"{dir}/short\""),
        &[("short", "hunter2\n")],
        "127.0.0.1:0",
    );
    assert!(message.contains("at least 16"), "{message}");
    let message = refusal("[auth]\nmood = \"proxy\"\n", &[], "127.0.0.1:0");
    assert!(message.contains("mood"), "{message}");
    // The same file, right, starts.
    let (_dir, config) = config_with_settings(
        &with_secret("secret_file = \"{dir}/secret\""),
        &[("secret", SECRET)],
    );
    assert!(keydesk_server::app(&config).is_ok());
}

// ---- Permissions ----

/// One thing a person may try, and the permission it needs.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    permission: &'static str,
    /// The audit's name for it; `None` for reads, which are not audited.
    action: Option<&'static str>,
}

/// Everything Keydesk does, each on someone in a state where it succeeds.
fn every_call(app: &TestApp) -> Vec<Call> {
    let read = |path: String, permission| Call {
        method: Method::GET,
        path,
        body: None,
        permission,
        action: None,
    };
    let change = |email: &str, method: &'static str, permission| Call {
        method: Method::POST,
        path: method_path(app, email, method),
        body: (method == "completeRecovery").then(|| json!({ "checked": checklist() })),
        permission,
        action: Some(audit_action(method)),
    };
    vec![
        read(app.users_path(), "read_users"),
        read(app.user_path(&app.id_of(ZOE)), "read_users"),
        change(ZOE, "suspend", "suspend"),
        change(DMITRI_SUSPENDED, "reactivate", "reactivate"),
        Call {
            method: Method::POST,
            path: keydesk_api::begin_recovery_path(&app.config.account_id),
            body: Some(json!({ "users": [OLIVER] })),
            permission: "recover",
            action: Some("begin_recovery"),
        },
        change(LUKASZ_RECOVERY_ACCEPTED, "completeRecovery", "recover"),
        change(ANA_RECOVERY_STARTED, "resendRecovery", "recover"),
        read("/api/outbox".into(), "recover"),
        read("/api/audit".into(), "read_audit"),
        read("/api/audit/verify".into(), "read_audit"),
        read("/api/audit/export".into(), "read_audit"),
    ]
}

#[tokio::test]
async fn each_role_may_do_what_it_grants_and_nothing_else() {
    const EVERYTHING: &[&str] = &[
        "read_users",
        "suspend",
        "reactivate",
        "recover",
        "read_audit",
    ];
    for (who, grants) in [
        (OWNER, EVERYTHING),
        (ADMIN, EVERYTHING),
        (HELPDESK, &["read_users", "recover"][..]),
        (VIEWER, &["read_users"][..]),
    ] {
        let app = proxy_app("", "").await;
        for call in every_call(&app) {
            let (tables, records) = (app.tables(), app.audit_records().len());
            let mut request =
                who.sign(app.client.request(call.method.clone(), app.url(&call.path)));
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            let context = format!("{who:?} {} {}", call.method, call.path);
            let allowed = grants.contains(&call.permission);
            if allowed {
                assert_eq!(status, StatusCode::OK, "{context}: {text}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{context}: {text}");
                let error: ApiError = serde_json::from_str(&text).expect("the error shape");
                let missing = format!("'{}' permission", call.permission);
                assert!(error.error.message.contains(&missing), "{context}: {text}");
            }
            let Some(action) = call.action else {
                assert_eq!(
                    app.audit_records().len(),
                    records,
                    "{context}: a read was audited"
                );
                continue;
            };
            let record = last_record(&app);
            assert_eq!(app.audit_records().len(), records + 1, "{context}");
            let outcome = if allowed { "succeeded" } else { "denied" };
            assert_eq!(summary(&record), (action, outcome, who.email), "{context}");
            if !allowed {
                assert!(
                    record.reason.contains(call.permission),
                    "{context}: {record:?}"
                );
                assert!(
                    app.tables() == tables,
                    "{context}: a denied change changed the directory"
                );
            }
        }
    }
}

#[tokio::test]
async fn nobody_recovers_their_own_account_whatever_their_role() {
    let app = proxy_app("", "").await;
    for who in [OWNER, ADMIN, HELPDESK] {
        let before = app.tables();
        for names in [vec![who.email], vec![OLIVER, who.email]] {
            let message = expect_error(
                &begin_as(&app, who, &names).await,
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
            );
            assert!(message.contains("own account"), "{who:?}: {message}");
            assert_eq!(
                summary(&last_record(&app)),
                ("begin_recovery", "denied", who.email)
            );
        }
        assert!(
            app.tables() == before,
            "{who:?}: a refused begin changed the directory"
        );
    }
    // Nor finish it, or send themselves a new link, while someone else's recovery of them runs.
    for (email, method) in [
        (LUKASZ_RECOVERY_ACCEPTED, "completeRecovery"),
        (ANA_RECOVERY_STARTED, "resendRecovery"),
    ] {
        let me = Person {
            email,
            groups: "keydesk-owners",
        };
        let before = app.tables();
        let message = expect_error(
            &post_as(&app, me, &method_path(&app, email, method)).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
        assert!(message.contains("own account"), "{method}: {message}");
        assert_eq!(
            summary(&last_record(&app)),
            (audit_action(method), "denied", email)
        );
        assert!(
            app.tables() == before,
            "{method} of one's own account changed the directory"
        );
    }
}

#[tokio::test]
async fn the_last_owner_cannot_be_suspended_whatever_the_role() {
    for who in [OWNER, ADMIN] {
        let app = proxy_app("", "").await;
        // The page learns how many owners are active, to warn before the last one is left.
        let active_owners = |body: Value| body["active_owners"].as_u64();
        let (_, counts) = get_as(&app, who, "/api/state-counts").await;
        assert_eq!(active_owners(counts), Some(2));
        let (status, body) = post_as(&app, who, &method_path(&app, NIKOLAI_OWNER, "suspend")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, counts) = get_as(&app, who, "/api/state-counts").await;
        assert_eq!(active_owners(counts), Some(1));
        let last_owner = app.id_of(OWNER.email);
        let row = app.row(&last_owner);
        // The last owner herself is refused first because it is her own account.
        let (status, code, why) = if who.email == OWNER.email {
            (
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "your own account",
            )
        } else {
            (
                StatusCode::CONFLICT,
                "FAILED_PRECONDITION",
                "last active owner",
            )
        };
        let message = expect_error(
            &post_as(&app, who, &method_path(&app, OWNER.email, "suspend")).await,
            status,
            code,
        );
        assert!(message.contains(why), "{who:?}: {message}");
        assert_eq!(app.row(&last_owner), row);
        let record = last_record(&app);
        assert_eq!(summary(&record), ("suspend", "denied", who.email));
        assert_eq!(record.targets, [last_owner]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_suspending_one_person_at_once_both_get_an_answer() {
    let app = proxy_app("", "").await;
    let zoe = method_path(&app, ZOE, "suspend");
    for round in 0..10 {
        let (first, second) =
            tokio::join!(post_as(&app, ADMIN, &zoe), post_as(&app, OTHER_ADMIN, &zoe));
        let statuses = [first.0, second.0];
        assert!(
            statuses.contains(&StatusCode::OK)
                && statuses
                    .iter()
                    .all(|s| [StatusCode::OK, StatusCode::CONFLICT].contains(s)),
            "round {round}: {first:?} {second:?}"
        );
        assert_eq!(app.row(&app.id_of(ZOE)).0, "SUSPENDED", "round {round}");
        // Both attempts are on record, each under its own name.
        let records = app.audit_records();
        let mut actors: Vec<&str> = records[records.len() - 2..]
            .iter()
            .filter(|r| r.action == "suspend")
            .map(|r| r.actor_email.as_str())
            .collect();
        actors.sort();
        assert_eq!(actors, [ADMIN.email, OTHER_ADMIN.email], "round {round}");
        let (status, body) = post_as(&app, ADMIN, &method_path(&app, ZOE, "reactivate")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn actions_are_rate_limited_per_person_not_per_address() {
    let app = proxy_app("", "[rate_limit]\nactions_per_minute = 3\n").await;
    for (email, method) in [
        (ZOE, "suspend"),
        (OLIVER, "suspend"),
        (DMITRI_SUSPENDED, "reactivate"),
    ] {
        let (status, body) = post_as(&app, ADMIN, &method_path(&app, email, method)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let ngozi = app.id_of(NGOZI);
    let fourth = ADMIN.sign(
        app.client
            .post(app.url(&method_path(&app, NGOZI, "suspend"))),
    );
    let (status, headers, body) = app.send_full(fourth).await;
    let message = expect_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
    );
    let retry_after: u64 = headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert!(message.contains(&format!("{retry_after} s")), "{message}");
    assert_eq!(app.row(&ngozi).0, "ACTIVE");
    let record = last_record(&app);
    assert_eq!(summary(&record), ("suspend", "denied", ADMIN.email));
    assert_eq!(
        (record.targets, record.reason),
        (vec![ngozi.clone()], message)
    );

    // The same person in other letters is still the same person; reads are not limited.
    let shouting = Person {
        email: "AMARA.OKAFOR@EXAMPLE.COM",
        groups: ADMIN.groups,
    };
    let answer = post_as(&app, shouting, &method_path(&app, NGOZI, "suspend")).await;
    expect_error(&answer, StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED");
    assert_eq!(
        get_as(&app, ADMIN, &app.users_path()).await.0,
        StatusCode::OK
    );
    // Another person, through the same proxy address, is not held back.
    let (status, body) = post_as(&app, OTHER_ADMIN, &method_path(&app, NGOZI, "suspend")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---- Browser security ----

#[tokio::test]
async fn a_change_from_another_site_is_refused_audited_and_changes_nothing() {
    let app = proxy_app("", "").await;
    let zoe = app.id_of(ZOE);
    let suspend = || ADMIN.sign(app.client.post(app.url(&method_path(&app, ZOE, "suspend"))));
    let begin = || {
        let path = keydesk_api::begin_recovery_path(&app.config.account_id);
        ADMIN.sign(
            app.client
                .post(app.url(&path))
                .json(&json!({ "users": [ZOE] })),
        )
    };
    let cases = [
        (
            suspend().header("Sec-Fetch-Site", "cross-site"),
            "another site",
        ),
        (
            suspend().header("Sec-Fetch-Site", "same-site"),
            "another site",
        ),
        // Older browsers send no Fetch Metadata: the Origin tells.
        (
            suspend().header("Origin", "https://evil.example"),
            "another origin",
        ),
        (suspend().header("Origin", "null"), "another origin"),
        (
            begin().header("Sec-Fetch-Site", "cross-site"),
            "another site",
        ),
    ];
    for (n, (request, why)) in cases.into_iter().enumerate() {
        let before = app.tables();
        let message = expect_error(
            &app.send(request).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
        assert!(message.contains(why), "case {n}: {message}");
        assert!(
            app.tables() == before,
            "case {n}: a cross-site request changed the directory"
        );
        let record = last_record(&app);
        assert_eq!(record.outcome, "denied", "case {n}");
        assert_eq!(record.reason, message, "case {n}");
        assert_eq!(record.actor_email, ADMIN.email, "case {n}");
    }
    assert_eq!(last_record(&app).action, "begin_recovery");
    assert_eq!(app.audit_records()[0].targets, [zoe]);
}

#[tokio::test]
async fn a_change_from_keydesks_own_page_is_allowed() {
    let app = proxy_app("", "").await;
    let origin = app.url("");
    for (header, value, method) in [
        ("Sec-Fetch-Site", "same-origin", "suspend"),
        ("Sec-Fetch-Site", "none", "reactivate"),
        ("Origin", origin.as_str(), "suspend"),
    ] {
        let request = app.client.post(app.url(&method_path(&app, ZOE, method)));
        let (status, body) = app.send(ADMIN.sign(request).header(header, value)).await;
        assert_eq!(status, StatusCode::OK, "{header}: {value}: {body}");
    }
    assert_eq!(app.row(&app.id_of(ZOE)).0, "SUSPENDED");
}

#[tokio::test]
async fn begin_recovery_takes_only_json() {
    let app = proxy_app("", "").await;
    let path = keydesk_api::begin_recovery_path(&app.config.account_id);
    let body = json!({ "users": [OLIVER] }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let before = app.tables();
        let request = app
            .client
            .post(app.url(&path))
            .header(CONTENT_TYPE, content_type)
            .body(body.clone());
        expect_error(
            &app.send(ADMIN.sign(request)).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
        assert!(
            app.tables() == before,
            "{content_type} changed the directory"
        );
        assert_eq!(
            summary(&last_record(&app)),
            ("begin_recovery", "failed", ADMIN.email)
        );
    }
}

// ---- The audit trail ----

#[tokio::test]
async fn every_attempt_is_recorded_with_who_what_whom_how_why_and_where_from() {
    let app = proxy_app("", "").await;
    let zoe = app.id_of(ZOE);
    let request = app
        .client
        .post(app.url(&method_path(&app, ZOE, "suspend")))
        .header("X-Forwarded-Email", ADMIN.email)
        .header("X-Forwarded-Groups", "keydesk-admins,vpn-users")
        .header(SECRET_HEADER, SECRET)
        .header("X-Forwarded-For", "203.0.113.9, 10.0.0.1");
    let before = SystemTime::now();
    let (status, headers, body) = app.send_full(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = last_record(&app);
    let time = humantime::parse_rfc3339(&record.time).expect("an RFC 3339 time");
    assert!(time + Duration::from_secs(1) >= before && time <= SystemTime::now());
    assert_eq!(record.seq, 1);
    assert_eq!(record.actor_email, ADMIN.email);
    assert_eq!(record.actor_groups, ["keydesk-admins", "vpn-users"]);
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("suspend", "succeeded")
    );
    assert_eq!(record.targets, [zoe]);
    assert_eq!(record.reason, "");
    assert_eq!(record.request_id, headers["x-request-id"].to_str().unwrap());
    assert_eq!(record.client_address, "203.0.113.9");

    // Tried and refused by the directory: failed, with the reason the person was given.
    let ana = app.id_of(ANA_RECOVERY_STARTED);
    let request = ADMIN.sign(app.client.post(app.url(&method_path(
        &app,
        ANA_RECOVERY_STARTED,
        "suspend",
    ))));
    let (status, headers, body) = app.send_full(request).await;
    let message = expect_error(&(status, body), StatusCode::CONFLICT, "FAILED_PRECONDITION");
    let record = last_record(&app);
    // A state that does not allow it: refused by a rule, so denied.
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("suspend", "denied")
    );
    assert_eq!((record.targets, record.reason), (vec![ana], message));
    assert_eq!(record.request_id, headers["x-request-id"].to_str().unwrap());
    assert_eq!(record.client_address, "127.0.0.1");

    // People named by email are recorded by ID once found.
    let (status, body) = begin_as(&app, HELPDESK, &[OLIVER]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = last_record(&app);
    assert_eq!(
        summary(&record),
        ("begin_recovery", "succeeded", HELPDESK.email)
    );
    assert_eq!(record.targets, [app.id_of(OLIVER)]);

    let ids: Vec<String> = app
        .audit_records()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2],
        "request IDs repeat: {ids:?}"
    );
}

/// Every value the audit table holds, as text. (It lives in the directory's own file, beside
/// the outbox, whose waiting emails do hold links: the table is what must not.)
fn audit_bytes(app: &TestApp) -> Vec<u8> {
    let conn = app.audit_db();
    let mut statement = conn.prepare("SELECT * FROM audit").unwrap();
    let columns = statement.column_count();
    let mut rows = statement.query([]).unwrap();
    let mut bytes = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        for column in 0..columns {
            let value: rusqlite::types::Value = row.get(column).unwrap();
            bytes.extend(format!("{value:?}\n").into_bytes());
        }
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn nothing_secret_reaches_the_audit_file() {
    let app = proxy_app("", "").await;
    let (status, body) = begin_as(&app, HELPDESK, &[OLIVER]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = get_as(&app, HELPDESK, "/api/outbox").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outbox: OutboxResponse = serde_json::from_value(body).unwrap();
    let link = outbox.messages[0].link.clone().expect("a link");
    let token = token_in(outbox.messages, OLIVER);
    let password = "correct horse battery staple";
    let accept = json!({ "token": token, "email": OLIVER, "password": password });
    let (status, body) = app.post_json("/api/recovery:accept", &accept).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret_key = serde_json::from_value::<AcceptRecoveryResponse>(body)
        .unwrap()
        .secret_key;
    // Someone other than whoever began it: four eyes.
    let (status, body) = complete_as(&app, ADMIN, OLIVER).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let actions: Vec<String> = app
        .audit_records()
        .into_iter()
        .map(|r| r.action.to_string())
        .collect();
    assert_eq!(
        actions,
        ["begin_recovery", "accept_recovery", "complete_recovery"]
    );
    let bytes = audit_bytes(&app);
    // The records are in these bytes...
    assert!(holds(&bytes, &app.id_of(OLIVER)) && holds(&bytes, HELPDESK.email));
    // ...and none of the secrets are.
    for (what, secret) in [
        ("the recovery token", token.as_str()),
        ("the recovery link", link.as_str()),
        ("the password", password),
        ("the Secret Key", secret_key.as_str()),
        ("the proxy's shared secret", SECRET),
    ] {
        assert!(!holds(&bytes, secret), "{what} is in the audit file");
    }
}

/// Some history to search: three admin actions (one failed: nobody by that ID), a viewer
/// refused, a helpdesk begin.
async fn some_history(app: &TestApp) -> Vec<AuditRecord> {
    post_as(app, ADMIN, &method_path(app, ZOE, "suspend")).await;
    post_as(app, VIEWER, &method_path(app, OLIVER, "suspend")).await;
    begin_as(app, HELPDESK, &[OLIVER]).await;
    let nobody = format!("{}/NOSUCHUSERAAAAAAAAAAAAAAAA:suspend", app.users_path());
    post_as(app, ADMIN, &nobody).await;
    post_as(app, ADMIN, &method_path(app, ZOE, "reactivate")).await;
    let records = app.audit_records();
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["succeeded", "denied", "succeeded", "failed", "succeeded"]
    );
    records
}

/// The seqs `GET /api/audit` answers with for these filters, on one page.
async fn audit_seqs(app: &TestApp, filters: &[(&str, &str)]) -> Vec<i64> {
    let request = ADMIN.sign(app.client.get(app.url("/api/audit")).query(filters));
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{filters:?}: {body}");
    let page: AuditPage = serde_json::from_value(body).unwrap();
    assert_eq!(page.next_page_token, None, "{filters:?}");
    page.records.iter().map(|r| r.seq).collect()
}

#[tokio::test]
async fn the_audit_reads_as_sentences_with_the_names_of_who_did_what_to_whom() {
    let app = proxy_app("", "").await;
    some_history(&app).await;
    let request = ADMIN.sign(app.client.get(app.url("/api/audit")));
    let (status, body) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: AuditPage = serde_json::from_value(body).unwrap();
    // Newest first, one sentence per record; an ID nobody has reads as itself.
    assert_eq!(
        page.sentences,
        [
            "Amara Okafor reactivated Zoë Lefèvre <zoe.lefevre@example.com>",
            "Amara Okafor tried to suspend NOSUCHUSERAAAAAAAAAAAAAAAA, which failed",
            "Priya Raghunathan began recovery for Oliver Smith <oliver.smith@example.com>",
            "山田 太郎 was not allowed to suspend Oliver Smith <oliver.smith@example.com>",
            "Amara Okafor suspended Zoë Lefèvre <zoe.lefevre@example.com>",
        ]
    );
    assert_eq!(page.records.len(), page.sentences.len());
}

#[tokio::test]
async fn the_audits_actor_and_target_filters_match_names_parts_of_emails_and_ids() {
    let app = proxy_app("", "").await;
    some_history(&app).await;
    let zoe = app.id_of(ZOE);
    for (filters, expected) in [
        // The actor by part of their email, or by name (looked up in the directory).
        (vec![("actor", "OKAFOR@")], vec![5, 4, 1]),
        (vec![("actor", "Amara")], vec![5, 4, 1]),
        (vec![("actor", "priya")], vec![3]),
        (vec![("actor", "山田")], vec![2]),
        // The target by name (accents or none), part of the email, part of the ID, or what a
        // refused request named.
        (vec![("target", "Lefèvre")], vec![5, 1]),
        (vec![("target", "zoe lefevre")], vec![5, 1]),
        (vec![("target", "zoe.lef")], vec![5, 1]),
        (vec![("target", &zoe[..12])], vec![5, 1]),
        (vec![("target", "Smith")], vec![3, 2]),
        (vec![("target", "NOSUCHUSER")], vec![4]),
        (vec![("actor", "priya"), ("target", "oliver")], vec![3]),
        // `%` and `_` are characters, not patterns.
        (vec![("actor", "%")], vec![]),
        (vec![("target", "_")], vec![]),
    ] {
        assert_eq!(audit_seqs(&app, &filters).await, expected, "{filters:?}");
    }
}

/// The whole second a record's time falls in, as a filter would name it.
fn its_second(record: &AuditRecord) -> String {
    format!("{}Z", &record.time[..19])
}

#[tokio::test]
async fn the_audit_api_filters_by_actor_action_target_outcome_and_time() {
    let app = proxy_app("", "").await;
    let records = some_history(&app).await;
    let zoe = app.id_of(ZOE);
    let admin_shouting = ADMIN.email.to_uppercase();
    for (filters, expected) in [
        (vec![], vec![5, 4, 3, 2, 1]),
        (vec![("actor", admin_shouting.as_str())], vec![5, 4, 1]),
        (vec![("action", "suspend")], vec![4, 2, 1]),
        (vec![("target", zoe.as_str())], vec![5, 1]),
        (vec![("outcome", "denied")], vec![2]),
        (vec![("outcome", "failed")], vec![4]),
        (
            vec![
                ("actor", ADMIN.email),
                ("outcome", "succeeded"),
                ("action", "suspend"),
            ],
            vec![1],
        ),
        (vec![("actor", "nobody@example.com")], vec![]),
    ] {
        assert_eq!(audit_seqs(&app, &filters).await, expected, "{filters:?}");
    }

    // Time ranges: since is inclusive, until exclusive, at any precision.
    let at = |record: &AuditRecord| humantime::parse_rfc3339(&record.time).unwrap();
    let third = &records[2];
    let expected = |keep: &dyn Fn(&AuditRecord) -> bool| -> Vec<i64> {
        records
            .iter()
            .rev()
            .filter(|r| keep(r))
            .map(|r| r.seq)
            .collect()
    };
    assert_eq!(
        audit_seqs(&app, &[("since", &third.time)]).await,
        expected(&|r| at(r) >= at(third))
    );
    assert_eq!(
        audit_seqs(&app, &[("until", &third.time)]).await,
        expected(&|r| at(r) < at(third))
    );
    let first_second = its_second(&records[0]);
    assert_eq!(
        audit_seqs(&app, &[("since", &first_second)]).await,
        [5, 4, 3, 2, 1]
    );
    assert_eq!(
        audit_seqs(&app, &[("until", &first_second)]).await,
        Vec::<i64>::new()
    );
    for (name, bad) in [
        ("since", "yesterday"),
        ("outcome", "won"),
        ("action", "\n"),
        ("page_token", "x"),
    ] {
        let request = ADMIN.sign(app.client.get(app.url("/api/audit")).query(&[(name, bad)]));
        let message = expect_error(
            &app.send(request).await,
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
        );
        assert!(message.contains(name), "{name}: {message}");
    }
}

#[tokio::test]
async fn the_audit_api_pages_newest_first_with_a_token() {
    let app = proxy_app("", "").await;
    some_history(&app).await;
    for (filters, expected_pages) in [
        (vec![], vec![vec![5, 4], vec![3, 2], vec![1]]),
        (vec![("action", "suspend")], vec![vec![4, 2], vec![1]]),
        (vec![("outcome", "succeeded")], vec![vec![5, 3], vec![1]]),
    ] {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query: Vec<(&str, &str)> = vec![("max_page_size", "2")];
            query.extend(filters.iter().copied());
            if let Some(token) = &token {
                query.push(("page_token", token));
            }
            let request = ADMIN.sign(app.client.get(app.url("/api/audit")).query(&query));
            let (status, body) = app.send(request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page: AuditPage = serde_json::from_value(body).unwrap();
            pages.push(page.records.iter().map(|r| r.seq).collect::<Vec<_>>());
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(pages, expected_pages, "{filters:?}");
    }
}

/// `GET /api/audit/export` as the admin: its content type and lines.
async fn export(app: &TestApp, filters: &[(&str, &str)]) -> (String, Vec<AuditRecord>) {
    let request = ADMIN.sign(app.client.get(app.url("/api/audit/export")).query(filters));
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    let records = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
        .collect();
    (content_type, records)
}

#[tokio::test]
async fn the_audit_export_is_json_lines_oldest_first() {
    let app = proxy_app("", "").await;
    let records = some_history(&app).await;
    let (content_type, exported) = export(&app, &[]).await;
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(exported, records);
    let (_, suspends) = export(&app, &[("action", "suspend")]).await;
    assert_eq!(
        suspends.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    let (_, nothing) = export(&app, &[("actor", "nobody@example.com")]).await;
    assert_eq!(nothing, []);
}

async fn verify(app: &TestApp) -> AuditVerification {
    let (status, body) = get_as(app, ADMIN, "/api/audit/verify").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn the_audit_chain_shows_where_a_record_was_changed_or_removed() {
    let app = proxy_app("", "").await;
    some_history(&app).await;
    assert_eq!(
        verify(&app).await,
        AuditVerification {
            records: 5,
            first_broken: None
        }
    );
    let conn = app.audit_db();
    // Someone covers up the viewer's refused attempt.
    conn.execute("UPDATE audit SET outcome = 'succeeded' WHERE seq = 2", [])
        .unwrap();
    assert_eq!(verify(&app).await.first_broken, Some(2));
    conn.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 2", [])
        .unwrap();
    assert_eq!(verify(&app).await.first_broken, None);
    // Or changes whom it was done to; later records go on chaining, the break stays.
    conn.execute(
        "UPDATE audit SET targets = '[\"SOMEONEELSEAAAAAAAAAAAAAAA\"]' WHERE seq = 4",
        [],
    )
    .unwrap();
    post_as(&app, ADMIN, &method_path(&app, ZOE, "suspend")).await;
    assert_eq!(verify(&app).await.first_broken, Some(4));
    // Or removes a record altogether.
    let app = proxy_app("", "").await;
    some_history(&app).await;
    app.audit_db()
        .execute("DELETE FROM audit WHERE seq = 3", [])
        .unwrap();
    assert_eq!(verify(&app).await.first_broken, Some(3));
}

// ---- Security headers ----

/// Check the security headers of one response.
fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let header = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = header("content-security-policy");
    let directives: Vec<Vec<&str>> = csp
        .split(';')
        .map(|d| d.split_whitespace().collect())
        .collect();
    let directive = |name: &str| {
        directives
            .iter()
            .find(|d| d.first() == Some(&name))
            .unwrap_or_else(|| panic!("{what}: no {name} in {csp}"))
    };
    assert_eq!(
        directive("frame-ancestors")[1..],
        ["'none'"],
        "{what}: {csp}"
    );
    assert_eq!(directive("default-src")[1..], ["'none'"], "{what}: {csp}");
    assert!(directive("script-src").contains(&"'self'"), "{what}: {csp}");
    // Nothing inline, no eval but WebAssembly's, nothing from other origins; images may be data.
    for directive in &directives {
        for source in &directive[1..] {
            let allowed = match *source {
                "'unsafe-inline'" | "'unsafe-eval'" | "*" | "http:" | "https:" => false,
                "data:" => directive[0] == "img-src",
                other => !other.contains("://"),
            };
            assert!(allowed, "{what}: {source} in {csp}");
        }
    }
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        header("cross-origin-opener-policy"),
        "same-origin",
        "{what}"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::start().await;
    let proxied = proxy_app("", "").await;
    let zoe = app.user_path(&app.id_of(ZOE));
    let requests = [
        ("the page", app.client.get(app.url("/"))),
        ("a deep link", app.client.get(app.url("/users/ZOE"))),
        (
            "a missing asset",
            app.client.get(app.url("/nothing-0123456789abcdef.js")),
        ),
        ("JSON", app.client.get(app.url("/api/session"))),
        (
            "the OpenAPI document",
            app.client.get(app.url("/openapi.json")),
        ),
        ("a JSON 404", app.client.get(app.url("/api/nothing"))),
        ("a 405", app.client.delete(app.url(&zoe))),
        ("a 401", proxied.client.get(proxied.url("/api/session"))),
        (
            "a 403",
            VIEWER.sign(proxied.client.get(proxied.url("/api/audit"))),
        ),
        ("healthz", proxied.client.get(proxied.url("/healthz"))),
    ];
    for (what, request) in requests {
        let response = request.send().await.unwrap();
        assert_security_headers(
            &format!("{what} ({})", response.status()),
            response.headers(),
        );
    }
}

#[tokio::test]
async fn the_csp_admits_the_pages_inline_loader_by_its_hash_alone() {
    use data_encoding::BASE64;
    use sha2::{Digest, Sha256};

    let loader = "import init from '/keydesk.js'; init('/keydesk_bg.wasm');";
    let app = TestApp::builder().config(|config| {
        let html = format!("<!doctype html><title>Keydesk</title><script type=\"module\">{loader}</script><script src=\"/other.js\"></script>");
        std::fs::write(config.dist.as_deref().unwrap().join("index.html"), html).unwrap();
    }).start()
    .await;
    let response = app.client.get(app.url("/")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    let script_src: Vec<&str> = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap()
        .split_whitespace()
        .collect();
    let hash = |script: &str| {
        format!(
            "'sha256-{}'",
            BASE64.encode(&Sha256::digest(script.as_bytes()))
        )
    };
    // The admin's page's loader, then the other pages' (the test dist's recovery page has one).
    let recovery_loader = "import init from '/recover/recover-0123456789abcdef.js';";
    assert_eq!(
        script_src,
        [
            "script-src",
            "'self'",
            "'wasm-unsafe-eval'",
            hash(loader).as_str(),
            hash(recovery_loader).as_str()
        ]
    );
}

/// The audit's name for a custom method: snake_case, like every other action.
fn audit_action(method: &str) -> &'static str {
    match method {
        "suspend" => "suspend",
        "reactivate" => "reactivate",
        "completeRecovery" => "complete_recovery",
        "resendRecovery" => "resend_recovery",
        other => panic!("no audit action for {other}"),
    }
}

#[tokio::test]
async fn a_forwarded_address_is_believed_only_with_the_proxys_secret() {
    let app = proxy_app("", "").await;
    // From the proxy's address, but without its secret: whoever sent this could write any
    // X-Forwarded-For, so the record keeps the connection's own address.
    let request = app
        .client
        .get(app.url("/api/session"))
        .header("X-Forwarded-Email", ADMIN.email)
        .header(SECRET_HEADER, "a wrong secret of enough length")
        .header("X-Forwarded-For", "203.0.113.66");
    expect_error(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    let record = last_record(&app);
    assert_eq!(
        summary(&record),
        ("sign_in", "denied", "unverified: amara.okafor@example.com")
    );
    assert_eq!(record.client_address, "127.0.0.1");
    // Nor is an address that is not one.
    let request = ADMIN
        .sign(app.client.post(app.url(&method_path(&app, ZOE, "suspend"))))
        .header("X-Forwarded-For", "not-an-address, 10.0.0.1");
    let _ = app.send(request).await;
    assert_eq!(last_record(&app).client_address, "127.0.0.1");
}
