//! Certificates the TLS tests make with rcgen: certificate authorities, Keydesk's server
//! certificate for [`HOST`], and client certificates with the names a proxy might carry; and
//! HTTPS clients that trust one CA and reach [`HOST`] on a loopback port.

use std::net::SocketAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::TestApp;

/// The name Keydesk's test certificates are for; clients resolve it to the server's port.
pub const HOST: &str = "keydesk.test";

/// A certificate authority and what it signs.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its own certificate, PEM: what `client_ca` or a client's roots hold.
    pub pem: String,
}

/// A certificate and its private key, both PEM.
pub struct Pair {
    pub certificate: String,
    pub key: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Keydesk's certificate, for [`HOST`].
    pub fn server(&self) -> Pair {
        self.sign(Some(HOST), &[HOST], ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with this subject common name and these DNS names.
    pub fn client(&self, common_name: Option<&str>, dns_names: &[&str]) -> Pair {
        self.sign(common_name, dns_names, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn sign(
        &self,
        common_name: Option<&str>,
        dns_names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> Pair {
        let names: Vec<String> = dns_names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        // Not rcgen's own placeholder name: exactly the names asked for.
        params.distinguished_name = DistinguishedName::new();
        if let Some(name) = common_name {
            params.distinguished_name.push(DnType::CommonName, name);
        }
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }
}

/// A client that trusts only `ca` for servers, reaches [`HOST`] at `address`, opens a new
/// connection for every request (so each one shows the certificate in use), and presents
/// `identity` if given.
pub fn https_client(ca: &Ca, address: SocketAddr, identity: Option<&Pair>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .resolve(HOST, address)
        .pool_max_idle_per_host(0)
        .tls_info(true);
    if let Some(pair) = identity {
        let pem = format!("{}{}", pair.certificate, pair.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The DER certificate the server presented for this answer.
pub fn served_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("an answer over TLS")
        .to_vec()
}

impl TestApp {
    /// The address of `path` over HTTPS, by the name Keydesk's certificate is for.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{HOST}:{}{path}", self.address().port())
    }
}
