//! TLS on Keydesk's own listener (`[server.tls]`), and the client certificate an SSO proxy may
//! present on it (`[auth.proxy] client_ca`), as Kubernetes' request-header authentication
//! trusts its front proxy: by a certificate its CA signed, not by an address alone.
//!
//! The handshake only establishes facts ([`ClientCertificate`], a request extension that
//! `serve.rs` sets); whether they make a request the proxy's is decided in `auth/identity.rs`.
//!
//! SIGHUP reads the files again: a new connection gets the new certificate, connections already
//! open keep theirs, and files that cannot be used are logged and the old ones kept.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use anyhow::{Context as _, anyhow, ensure};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::{CryptoProvider, ring},
        pki_types::{
            CertificateDer, PrivateKeyDer,
            pem::{Error, PemObject},
        },
        server::{WebPkiClientVerifier, danger::ClientCertVerifier},
    },
    server::TlsStream,
};

use crate::settings::Settings;

/// `[server.tls]`: the files of Keydesk's own certificate. Relative paths are read from the
/// working directory, as every other file the configuration names.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, PEM, Keydesk's own certificate first.
    pub certificate: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What a connection's handshake established: its client presented a certificate that the
/// configured client CA signed, and it carries these names (its subject's common names, then its
/// DNS subject alternative names).
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    pub names: Vec<String>,
}

/// The listener's TLS configuration, swapped whole when the files are read again.
pub struct Tls {
    files: TlsSettings,
    client_ca: Option<PathBuf>,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// TLS as the settings ask for it, or `None` for plain HTTP. A client CA needs TLS: without
    /// it there is no handshake to present a certificate in.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Tls>> {
        let proxy = settings.auth.proxy.as_ref();
        let client_ca = proxy.and_then(|p| p.client_ca.clone());
        if let Some(proxy) = proxy {
            ensure!(
                proxy.client_names.is_empty() || client_ca.is_some(),
                "[auth.proxy] client_names is set without client_ca: the names are checked in a \
                 client certificate, so say which CA signs it (client_ca = \"/etc/keydesk/proxy-ca.pem\")"
            );
        }
        let Some(files) = settings.server.tls.clone() else {
            ensure!(
                client_ca.is_none(),
                "[auth.proxy] client_ca needs TLS on Keydesk's own listener: add a [server.tls] \
                 section with certificate = \"…\" and key = \"…\" (PEM files)"
            );
            return Ok(None);
        };
        let config = server_config(&files, client_ca.as_deref())?;
        Ok(Some(Tls {
            files,
            client_ca,
            current: RwLock::new(Arc::new(config)),
        }))
    }

    /// Read the files again; on any problem, keep what is in use and say why.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = server_config(&self.files, self.client_ca.as_deref())?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(())
    }

    /// The handshake, with the configuration in use when it starts. The caller bounds its time.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> std::io::Result<(TlsStream<TcpStream>, Option<ClientCertificate>)> {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stream = TlsAcceptor::from(config).accept(stream).await?;
        // Present only if the verifier accepted it: rustls ends the handshake otherwise.
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(<[_]>::first)
            .map(|leaf| ClientCertificate {
                names: names_in(leaf),
            });
        Ok((stream, certificate))
    }
}

/// Read the files again at every SIGHUP (`systemctl reload`), for as long as the returned future
/// runs. Without TLS there is nothing to read, but a SIGHUP still must not stop Keydesk.
///
/// The signal is caught from this call on, not from the future's first poll: a SIGHUP just after
/// Keydesk says it is running would otherwise end it.
pub fn reload_on_hangup(tls: Option<Arc<Tls>>) -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let hangups = signal(SignalKind::hangup());
    async move {
        let mut hangups = match hangups {
            Ok(hangups) => hangups,
            Err(err) => {
                tracing::warn!(error = %err, "SIGHUP cannot be caught: the TLS certificate will not be reloaded");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            reload(tls.as_deref());
        }
    }
}

fn reload(tls: Option<&Tls>) {
    match tls {
        None => tracing::info!("SIGHUP: no [server.tls] to reload"),
        Some(tls) => match tls.reload() {
            Ok(()) => tracing::info!(
                certificate = %tls.files.certificate.display(),
                "SIGHUP: reloaded the TLS certificate; new connections use it"
            ),
            Err(err) => tracing::error!(
                error = %format!("{err:#}"),
                "SIGHUP: kept the TLS certificate in use, the files could not be used"
            ),
        },
    }
}

fn server_config(files: &TlsSettings, client_ca: Option<&Path>) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(ring::default_provider());
    let chain = certificates(&files.certificate, "[server.tls] certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|err| {
        anyhow!(
            "[server.tls] key {}: {}",
            files.key.display(),
            pem_problem(err, "PRIVATE KEY")
        )
    })?;
    let verifier = match client_ca {
        None => WebPkiClientVerifier::no_client_auth(),
        Some(path) => client_verifier(path, provider.clone())?,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("rustls' default protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|err| {
            anyhow!(
                "[server.tls] key {} does not go with the certificate {}: {err}",
                files.key.display(),
                files.certificate.display()
            )
        })?;
    // What serve.rs speaks; a client asking for h2 alone is refused at the handshake.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Connections without a certificate are still served (a load balancer's health check): they
/// are simply not the proxy. A certificate that the CA did not sign ends the handshake.
fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path, "[auth.proxy] client_ca")? {
        roots.add(certificate).map_err(|err| {
            anyhow!(
                "[auth.proxy] client_ca {}: not a CA certificate rustls can use: {err}",
                path.display()
            )
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|err| anyhow!("[auth.proxy] client_ca {}: {err}", path.display()))
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path, key: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let found = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            anyhow!(
                "{key} {}: {}",
                path.display(),
                pem_problem(err, "CERTIFICATE")
            )
        })?;
    ensure!(
        !found.is_empty(),
        "{key} {}: {}",
        path.display(),
        pem_problem(Error::NoItemsFound, "CERTIFICATE")
    );
    Ok(found)
}

fn pem_problem(err: Error, label: &str) -> String {
    match err {
        Error::Io(err) => err.to_string(),
        Error::NoItemsFound => {
            format!("no {label} in it (a PEM file with -----BEGIN {label}-----)")
        }
        other => format!("not a PEM file ({other})"),
    }
}

/// The names a proxy's certificate may be known by: its subject's common names (what
/// Kubernetes' `--requestheader-allowed-names` matches) and its DNS subject alternative names.
fn names_in(certificate: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::{extensions::GeneralName, parse_x509_certificate};
    let Ok((_, parsed)) = parse_x509_certificate(certificate.as_ref()) else {
        return Vec::new();
    };
    let common_names = parsed
        .subject()
        .iter_common_name()
        .filter_map(|name| name.as_str().ok());
    let dns_names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::DNSName(name) => Some(*name),
            _ => None,
        });
    common_names.chain(dns_names).map(str::to_owned).collect()
}
