//! HTTPS on Keydesk's own listener, and the SSO proxy known by its client certificate (mutual
//! TLS, as Kubernetes' request-header authentication): identity headers count only on a
//! connection whose certificate the configured CA signed, with an allowed name. Over real TLS on
//! loopback, with certificates each test makes (rcgen); the reload on SIGHUP with the real binary.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::common::{
    TestApp,
    certs::{Ca, HOST, Pair, https_client, served_certificate},
    config_with_settings, expect_error,
    process::{Process, SETTINGS},
};

const ADMIN: &str = "amara.okafor@example.com";
const ZOE: &str = "zoe.lefevre@example.com";

/// Keydesk over TLS, trusting identity headers from whoever presents a certificate of `proxy_ca`
/// named `sso-proxy`; no shared secret, so the certificate alone tells the proxy apart.
fn mutual_tls_settings(extra_proxy_keys: &str) -> String {
    format!(
        "[server.tls]\ncertificate = \"{{dir}}/server.pem\"\nkey = \"{{dir}}/server-key.pem\"\n\n\
         [auth]\nmode = \"proxy\"\n\n[auth.proxy]\nclient_ca = \"{{dir}}/proxy-ca.pem\"\n\
         {extra_proxy_keys}\n"
    )
}

/// The certificates of one deployment: the CA that signs Keydesk's certificate (which clients
/// trust), Keydesk's, and the CA that signs the proxy's.
struct Deployment {
    server_ca: Ca,
    server: Pair,
    proxy_ca: Ca,
}

impl Deployment {
    fn new() -> Deployment {
        let server_ca = Ca::new("Keydesk test server CA");
        let server = server_ca.server();
        Deployment {
            server_ca,
            server,
            proxy_ca: Ca::new("Keydesk test proxy CA"),
        }
    }

    /// A new deployment whose proxy's certificate must be named `sso-proxy`, and Keydesk in it.
    async fn started() -> (Deployment, TestApp) {
        let deployment = Deployment::new();
        let app = deployment
            .start(&mutual_tls_settings(r#"client_names = ["sso-proxy"]"#))
            .await;
        (deployment, app)
    }

    async fn start(&self, settings: &str) -> TestApp {
        TestApp::builder()
            .settings(
                settings,
                &[
                    ("server.pem", &self.server.certificate),
                    ("server-key.pem", &self.server.key),
                    ("proxy-ca.pem", &self.proxy_ca.pem),
                ],
            )
            .start()
            .await
    }

    fn client(&self, app: &TestApp, identity: Option<&Pair>) -> reqwest::Client {
        https_client(&self.server_ca, app.address(), identity)
    }
}

/// `GET /api/session` as the SSO proxy forwards it for the admin, on a connection of `client`.
async fn session(app: &TestApp, client: &reqwest::Client) -> (StatusCode, serde_json::Value) {
    let request = client
        .get(app.https_url("/api/session"))
        .header("X-Forwarded-Email", ADMIN)
        .header("X-Forwarded-Groups", "keydesk-admins")
        .header("X-Forwarded-For", "203.0.113.66");
    app.send(request).await
}

#[tokio::test]
async fn identity_headers_count_only_on_a_connection_with_the_proxys_certificate() {
    let (deployment, app) = Deployment::started().await;
    let proxy = deployment.proxy_ca.client(Some("sso-proxy"), &[]);
    let (status, body) = session(&app, &deployment.client(&app, Some(&proxy))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], ADMIN);

    // Without a certificate the connection is served (a health check), but it is not the proxy.
    let anyone = deployment.client(&app, None);
    let (status, _) = app.send(anyone.get(app.https_url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
    let message = expect_error(
        &session(&app, &anyone).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert!(
        message.contains("did not come through the SSO proxy")
            && message.contains("no client certificate"),
        "{message}"
    );
    // Refused and recorded as a refusal from an untrusted address is: the claim kept as not
    // believed, the connection's own address rather than the forwarded one.
    let record = app.audit_records().pop().expect("a record");
    assert_eq!(
        (record.action.as_str(), record.outcome.as_str()),
        ("sign_in", "denied")
    );
    assert_eq!(record.actor_email, format!("unverified: {ADMIN}"));
    assert_eq!(record.client_address, "127.0.0.1");
    assert_eq!(record.reason, message);
    // And it changes nothing.
    let before = app.tables();
    let suspend = format!("{}:suspend", app.user_path(&app.id_of(ZOE)));
    let request = anyone
        .post(app.https_url(&suspend))
        .header("X-Forwarded-Email", ADMIN)
        .header("X-Forwarded-Groups", "keydesk-admins");
    expect_error(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert!(app.tables() == before, "a change without the certificate");
}

#[tokio::test]
async fn a_certificate_another_ca_signed_ends_the_handshake() {
    let (deployment, app) = Deployment::started().await;
    // The right name, from a CA that is not the proxy's (Keydesk's own server CA, even).
    let someone_elses = Ca::new("Someone else's CA");
    for impostor_ca in [&someone_elses, &deployment.server_ca] {
        let impostor = impostor_ca.client(Some("sso-proxy"), &["sso-proxy"]);
        let answer = deployment
            .client(&app, Some(&impostor))
            .get(app.https_url("/api/session"))
            .header("X-Forwarded-Email", ADMIN)
            .header("X-Forwarded-Groups", "keydesk-admins")
            .send()
            .await;
        assert!(
            answer.is_err(),
            "answered: {:?}",
            answer.map(|a| a.status())
        );
    }
    assert!(
        app.audit_records().iter().all(|r| r.actor_email != ADMIN),
        "someone was signed in"
    );
}

#[tokio::test]
async fn a_certificate_of_the_ca_with_another_name_is_not_the_proxy() {
    let (deployment, app) = Deployment::started().await;
    for (common_name, dns_names, shown) in [
        (
            Some("intruder"),
            &["intruder.example"][..],
            "'intruder', 'intruder.example'",
        ),
        (Some("sso-proxy.evil"), &[][..], "'sso-proxy.evil'"),
        (None, &[][..], "no name"),
    ] {
        let other = deployment.proxy_ca.client(common_name, dns_names);
        let message = expect_error(
            &session(&app, &deployment.client(&app, Some(&other))).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert!(
            message.contains("did not come through the SSO proxy") && message.contains(shown),
            "{message}"
        );
        let record = app.audit_records().pop().expect("a record");
        assert_eq!(
            (record.outcome.as_str(), record.reason.as_str()),
            ("denied", message.as_str())
        );
    }
}

#[tokio::test]
async fn the_proxys_name_is_its_common_name_or_a_dns_name_and_any_name_without_a_list() {
    let (deployment, app) = Deployment::started().await;
    for certificate in [
        deployment.proxy_ca.client(Some("SSO-Proxy"), &[]),
        deployment
            .proxy_ca
            .client(Some("nginx 1"), &["edge.example", "sso-proxy"]),
    ] {
        let (status, body) = session(&app, &deployment.client(&app, Some(&certificate))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let any_name = deployment.start(&mutual_tls_settings("")).await;
    let certificate = deployment.proxy_ca.client(Some("whatever"), &[]);
    let (status, body) =
        session(&any_name, &deployment.client(&any_name, Some(&certificate))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], ADMIN);
    // The proxy's forwarded address is believed with its certificate.
    let suspend = format!("{}:suspend", any_name.user_path(&any_name.id_of(ZOE)));
    let request = deployment
        .client(&any_name, Some(&certificate))
        .post(any_name.https_url(&suspend))
        .header("X-Forwarded-Email", ADMIN)
        .header("X-Forwarded-Groups", "keydesk-admins")
        .header("X-Forwarded-For", "203.0.113.66");
    let (status, body) = any_name.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = any_name.audit_records().pop().unwrap();
    assert_eq!(
        (record.action.as_str(), record.client_address.as_str()),
        ("suspend", "203.0.113.66")
    );
}

/// Why `keydesk_server::app` refuses these settings.
fn refusal(settings: &str, files: &[(&str, &str)]) -> String {
    let (_dir, config) = config_with_settings(settings, files);
    match keydesk_server::app(&config) {
        Ok(_) => panic!("started with {settings:?}"),
        Err(err) => format!("{err:#}"),
    }
}

#[test]
fn tls_settings_that_cannot_work_refuse_to_start_and_say_why() {
    let deployment = Deployment::new();
    let other = deployment.server_ca.server();
    let server = deployment.server.certificate.as_str();
    let key = deployment.server.key.as_str();
    let ca = deployment.proxy_ca.pem.as_str();
    let tls = "[server.tls]\ncertificate = \"{dir}/server.pem\"\nkey = \"{dir}/server-key.pem\"\n";
    let proxy = |keys: &str| format!("[auth]\nmode = \"proxy\"\n[auth.proxy]\n{keys}\n");
    let refuses = |settings: &str, files: &[(&str, &str)], expected: &[&str]| {
        let message = refusal(settings, files);
        for part in expected {
            assert!(message.contains(part), "{part:?} not in: {message}");
        }
    };
    refuses(
        &proxy("client_ca = \"{dir}/ca.pem\""),
        &[("ca.pem", ca)],
        &["client_ca", "[server.tls]"],
    );
    refuses(
        &format!("{tls}{}", proxy("client_names = [\"sso-proxy\"]")),
        &[("server.pem", server), ("server-key.pem", key)],
        &["client_names", "client_ca"],
    );
    refuses(
        tls,
        &[("server-key.pem", key)],
        &["[server.tls] certificate", "server.pem", "No such file"],
    );
    refuses(
        tls,
        &[("server.pem", key), ("server-key.pem", key)],
        &["server.pem", "no CERTIFICATE"],
    );
    refuses(
        tls,
        &[("server.pem", server), ("server-key.pem", server)],
        &["[server.tls] key", "no PRIVATE KEY"],
    );
    refuses(
        tls,
        &[("server.pem", server), ("server-key.pem", &other.key)],
        &["does not go with the certificate"],
    );
    refuses(
        &format!("{tls}{}", proxy("client_ca = \"{dir}/ca.pem\"")),
        &[
            ("server.pem", server),
            ("server-key.pem", key),
            ("ca.pem", key),
        ],
        &["[auth.proxy] client_ca", "ca.pem", "no CERTIFICATE"],
    );
    let message = refusal("[server.tls]\ncertificate = \"x.pem\"\n", &[]);
    assert!(message.contains("key"), "{message}");
}

/// Read until the server closes the connection (or `within` passes); whether it did.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_handshakes_are_cut_off_and_hold_a_connection_slot_meanwhile() {
    let deployment = Deployment::new();
    let settings = format!(
        "[server]\nheader_read_timeout = \"1s\"\nmax_connections = 4\n{}",
        mutual_tls_settings("")
    );
    let app = deployment.start(&settings).await;
    let address = app.address();
    let (excess_closed_in, silent_closed, slow_closed_after) =
        tokio::task::spawn_blocking(move || {
            // Four connections that never begin a handshake fill every slot…
            let mut silent: Vec<TcpStream> = (0..4)
                .map(|_| TcpStream::connect(address).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            // …so a fifth is closed at once, without a handshake.
            let started = Instant::now();
            let mut fifth = TcpStream::connect(address).unwrap();
            assert!(closed_within(&mut fifth, Duration::from_secs(2)));
            let excess_closed_in = started.elapsed();
            // The silent ones are closed after the header read timeout.
            let silent_closed = silent
                .iter_mut()
                .filter_map(|s| closed_within(s, Duration::from_secs(3)).then_some(()))
                .count();
            // A handshake sent a byte at a time: a TLS record header announcing a ClientHello
            // that never ends.
            let mut slow = TcpStream::connect(address).unwrap();
            let started = Instant::now();
            for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]
                .iter()
                .cycle()
            {
                if slow.write_all(&[*byte]).is_err() || started.elapsed() > Duration::from_secs(10)
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            (excess_closed_in, silent_closed, started.elapsed())
        })
        .await
        .unwrap();
    assert!(
        excess_closed_in < Duration::from_secs(1),
        "{excess_closed_in:?}"
    );
    assert_eq!(silent_closed, 4);
    assert!(
        slow_closed_after < Duration::from_secs(4),
        "still open after {slow_closed_after:?}"
    );
    // Once they are gone, a real client is served.
    let client = deployment.client(&app, None);
    let (status, _) = app.send(client.get(app.https_url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
}

/// Wait until `log` holds `text` (the binary's stderr), up to five seconds.
async fn wait_for_log(log: &Path, text: &str) -> String {
    for _ in 0..100 {
        let written = std::fs::read_to_string(log).unwrap_or_default();
        if written.contains(text) {
            return written;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{text:?} never came in the log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_certificate_and_files_that_cannot_be_used_keep_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let ca = Ca::new("Keydesk test server CA");
    let first = ca.server();
    let write = |pair: &Pair| {
        std::fs::write(dir.path().join("server.pem"), &pair.certificate).unwrap();
        std::fs::write(dir.path().join("server-key.pem"), &pair.key).unwrap();
    };
    write(&first);
    let here = dir.path().display();
    let settings = format!(
        "{SETTINGS}\n[server.tls]\ncertificate = \"{here}/server.pem\"\nkey = \"{here}/server-key.pem\"\n"
    );
    let log = dir.path().join("keydesk.log");
    let mut process = Process::start_with(dir.path(), &settings, &[], Some(&log));
    assert!(process.url.starts_with("https://"), "{}", process.url);
    let client = https_client(&ca, process.address(), None);
    let url = format!("https://{HOST}:{}/healthz", process.address().port());
    let served = || async {
        let answer = client.get(&url).send().await.expect("an answer");
        assert_eq!(answer.status(), StatusCode::OK);
        served_certificate(&answer)
    };
    assert_eq!(served().await, first.der);
    // Links in emails point where Keydesk is reached: over HTTPS.
    let outbox: keydesk_api::OutboxResponse = client
        .get(format!(
            "https://{HOST}:{}/api/outbox",
            process.address().port()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = outbox.messages[0].link.clone().expect("a link");
    assert!(link.starts_with("https://"), "{link}");

    let second = ca.server();
    write(&second);
    process.hang_up();
    wait_for_log(&log, "reloaded the TLS certificate").await;
    assert_eq!(
        served().await,
        second.der,
        "a new connection, the new certificate"
    );

    // A key that does not go with the certificate: logged, and the second one kept.
    std::fs::write(dir.path().join("server-key.pem"), &first.key).unwrap();
    process.hang_up();
    let written = wait_for_log(&log, "kept the TLS certificate in use").await;
    assert!(
        written.contains("does not go with the certificate"),
        "{written}"
    );
    assert_eq!(served().await, second.der);
    assert!(process.running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_tls_does_not_stop_keydesk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let log = dir.path().join("keydesk.log");
    let mut process = Process::start_with(dir.path(), SETTINGS, &[], Some(&log));
    process.hang_up();
    wait_for_log(&log, "no [server.tls] to reload").await;
    assert!(process.running());
    let answer = reqwest::get(format!("{}/healthz", process.url))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}
