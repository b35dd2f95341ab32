//! Who a request is from: the SSO proxy's headers (believed only from a trusted proxy address,
//! only over a connection with the proxy's client certificate when a client CA is configured,
//! and only with the shared secret when one is configured), or the fixed development identity.

use std::net::IpAddr;

use axum::{extract::Request, http::HeaderMap};
use keydesk_api::Session;
use sha2::{Digest, Sha256};

use super::{Authenticator, peer};
use crate::{settings::AuthMode, tls::ClientCertificate};

/// The longest email address (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

impl Authenticator {
    fn trusts(&self, peer: Option<IpAddr>) -> bool {
        match (&self.proxy, peer) {
            (Some(proxy), Some(peer)) => {
                proxy.trusted_proxies.iter().any(|net| net.contains(&peer))
            }
            _ => false,
        }
    }

    /// The request came through the SSO proxy: from its address, on a connection that presented
    /// its client certificate if a client CA is configured, with its secret if one is
    /// configured. Only then are its forwarded headers (identity, client address) believed.
    pub(crate) fn verified_proxy(&self, request: &Request) -> Result<(), String> {
        if !self.trusts(peer(request)) {
            return Err("the request did not come through the SSO proxy".into());
        }
        if let Some(proxy) = &self.proxy
            && proxy.client_ca.is_some()
        {
            let certificate = request.extensions().get::<ClientCertificate>();
            let Some(certificate) = certificate else {
                return Err(
                    "the request did not come through the SSO proxy: its connection \
                     presented no client certificate"
                        .into(),
                );
            };
            let allowed = |name: &String| {
                proxy
                    .client_names
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(name))
            };
            if !proxy.client_names.is_empty() && !certificate.names.iter().any(allowed) {
                let names = match certificate.names.as_slice() {
                    [] => "carries no name".to_owned(),
                    names => format!("is for '{}'", printable(&names.join("', '"))),
                };
                return Err(format!(
                    "the request did not come through the SSO proxy: its client certificate \
                     {names}, not for the proxy"
                ));
            }
        }
        if let (Some(proxy), Some(expected)) = (&self.proxy, &self.proxy_secret)
            && let Some(name) = &proxy.secret_header
        {
            let given = single(request.headers(), name)?.unwrap_or_default();
            let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            if &given != expected {
                return Err("the SSO proxy's shared secret is missing or wrong".into());
            }
        }
        Ok(())
    }

    /// The person behind a request, or why Keydesk cannot tell.
    pub(crate) fn identify(&self, request: &Request) -> Result<Session, String> {
        if self.mode == AuthMode::Development {
            return Ok(self.session(self.dev_email.clone(), None, self.dev_groups.clone(), true));
        }
        let proxy = self.proxy.as_ref().ok_or("no SSO proxy is configured")?;
        self.verified_proxy(request)?;
        let headers = request.headers();
        // A header spelled like an identity header with underscores may be turned into the real
        // one by some server on the way, after the proxy let it through: refuse outright.
        for name in headers.keys() {
            let spelled = name.as_str();
            if spelled.contains('_') {
                let normalised = spelled.replace('_', "-");
                let mut watched = proxy
                    .headers
                    .all()
                    .into_iter()
                    .chain(proxy.secret_header.as_deref());
                if watched.any(|h| h.eq_ignore_ascii_case(&normalised)) {
                    return Err(format!(
                        "the request carries a disguised identity header '{}'",
                        printable(spelled)
                    ));
                }
            }
        }
        let email = single(headers, &proxy.headers.email)?
            .filter(|email| !email.trim().is_empty())
            .ok_or("the SSO proxy sent no email address")?;
        let email = email_address(email.trim())?;
        let name = single(headers, &proxy.headers.preferred_username)?
            .or(single(headers, &proxy.headers.user)?)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty() && !n.chars().any(char::is_control));
        // Groups may come as several header lines, each possibly comma-separated (oauth2-proxy)
        // or pipe-separated (authentik).
        let mut groups: Vec<String> = Vec::new();
        for value in headers.get_all(proxy.headers.groups.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| "the groups header is not text")?;
            for group in value
                .split([',', '|'])
                .map(str::trim)
                .filter(|g| !g.is_empty())
            {
                if group.chars().any(char::is_control) {
                    return Err("a group in the groups header holds a control character".into());
                }
                if !groups.iter().any(|g| g == group) {
                    groups.push(group.to_owned());
                }
            }
        }
        Ok(self.session(email, name, groups, false))
    }

    /// The email a refused request claimed, by the configured header name (for the audit only,
    /// marked as unverified by the caller).
    pub(crate) fn claimed_email<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let name = self
            .proxy
            .as_ref()
            .map_or("x-forwarded-email", |p| p.headers.email.as_str());
        headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One email address and nothing else: no spaces, tabs or other control characters, one `@`
/// with something on each side, and a dot in the domain.
fn email_address(text: &str) -> Result<String, String> {
    let refuse = || {
        Err(format!(
            "the SSO proxy's email header is not one email address ('{}')",
            printable(text)
        ))
    };
    if text.chars().count() > MAX_EMAIL_CHARS
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
        || text.contains([',', ';', '<', '>', '"', '(', ')', '\\'])
    {
        return refuse();
    }
    match text.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(text.to_owned())
        }
        _ => refuse(),
    }
}

/// Caller-supplied text for a message: control characters shown escaped, and not too long.
pub fn printable(text: &str) -> String {
    let mut shown = String::new();
    for c in text.chars().take(100) {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if text.chars().count() > 100 {
        shown.push('…');
    }
    shown
}

/// One value of a header that must not be repeated.
pub(crate) fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("the request carries {name} more than once"));
    }
    first
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| format!("{name} is not text"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_address_is_an_email() {
        assert_eq!(
            email_address("amara.okafor@example.com").unwrap(),
            "amara.okafor@example.com"
        );
        for bad in [
            "henrik\t.nieminen@example.com",
            "henrik .nieminen@example.com",
            "a@example.com, b@example.com",
            "Amara <amara@example.com>",
            "nobody",
            "a@b@example.com",
            "a@localhost",
            "@example.com",
            "a\n@example.com",
        ] {
            let err = email_address(bad).unwrap_err();
            assert!(!err.contains('\t') && !err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn printable_escapes_what_could_forge_a_line() {
        assert_eq!(printable("a\nb\tc é"), "a\\nb\\tc é");
        assert!(printable(&"x".repeat(500)).ends_with('…'));
    }
}
