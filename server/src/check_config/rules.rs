//! What a configuration that reads can still get wrong: `serve`'s own checks, each reported
//! rather than stopping at the first, and what `serve` allows but an operator should not.

use std::path::Path;

use super::{Lines, Problem};
use crate::{
    Config,
    auth::Authenticator,
    changes,
    directory::upstream::{OpSettings, op::Op},
    settings::{AuthMode, Backend, Settings},
};

pub fn check(config: &Config, settings: &Settings, lines: &Lines<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |key: &str, what: String, fix: &str| {
        problems.push(Problem::at(lines.of(key), what).fix(fix));
    };
    if let Err(err) = settings.check(config.listen.ip()) {
        refuse(
            "auth.mode",
            format!("{err:#}"),
            "[auth] mode = \"proxy\" with an [auth.proxy] section, behind your SSO proxy",
        );
    }
    if let Err(err) = Authenticator::new(settings, &config.dev_user) {
        refuse(
            "auth.proxy.secret_file",
            format!("{err:#}"),
            "secret_file = \"/etc/keydesk/proxy-secret\" holding at least 16 characters",
        );
    }
    if let Err(err) = settings.audit.check() {
        refuse(
            "audit",
            format!("{err:#}"),
            "keep = \"400d\" (a day or more), anchor_file = \"/var/log/keydesk/anchors\"",
        );
    }
    if let Err(err) = crate::tls::Tls::from_settings(settings) {
        refuse(
            "server.tls",
            format!("{err:#}"),
            "PEM files Keydesk's user can read: certificate (chain, ours first) and its key",
        );
    }
    if let Err(err) = changes::Rules::new(&settings.changes, &settings.recovery) {
        refuse(
            "changes",
            format!("{err:#}"),
            "a valid regular expression and a ticket_url with {ticket}",
        );
    }
    if let Some(proxy) = &settings.auth.proxy {
        for net in proxy
            .trusted_proxies
            .iter()
            .filter(|net| net.prefix_len() == 0)
        {
            refuse(
                "auth.proxy.trusted_proxies",
                format!(
                    "trusted_proxies includes {net}, which is every address: anyone who can reach \
                     Keydesk could say who they are"
                ),
                "the proxy's own addresses, such as trusted_proxies = [\"10.0.0.5/32\"]",
            );
        }
        if let Some(path) = &proxy.secret_file {
            problems.extend(secret_file(path, lines.of("auth.proxy.secret_file")));
        }
    }
    let roles = &settings.roles;
    let no_roles = [
        &roles.owner,
        &roles.administrator,
        &roles.helpdesk,
        &roles.viewer,
    ]
    .iter()
    .all(|groups| groups.is_empty());
    if settings.auth.mode == AuthMode::Proxy && no_roles {
        problems.push(
            Problem::at(
                lines.of("roles"),
                "no SSO group is mapped to any role, so nobody who signs in may do anything",
            )
            .fix("[roles] administrator = [\"your-admins-group\"], helpdesk = [\"...\"]"),
        );
    }
    if settings.directory.backend == Backend::Upstream {
        problems.extend(upstream(settings, lines));
    }
    problems
}

fn upstream(settings: &Settings, lines: &Lines<'_>) -> Vec<Problem> {
    let Some(upstream) = &settings.directory.upstream else {
        return vec![
            Problem::at(
                lines.of("directory.backend"),
                "backend = \"upstream\" needs a [directory.upstream] section",
            )
            .fix("[directory.upstream] with account_id, client_id and client_secret_file"),
        ];
    };
    let mut problems = Vec::new();
    if let Err(err) = upstream.check_base_url() {
        problems.push(
            Problem::at(lines.of("directory.upstream.base_url"), format!("{err:#}"))
                .fix("base_url = \"https://api.1password.com\" (or .ca, .eu)"),
        );
    }
    if upstream.max_attempts == 0 {
        problems.push(
            Problem::at(
                lines.of("directory.upstream.max_attempts"),
                "max_attempts must be at least 1",
            )
            .fix("max_attempts = 4"),
        );
    }
    match &upstream.client_secret_file {
        Some(path) => {
            problems.extend(secret_file(
                path,
                lines.of("directory.upstream.client_secret_file"),
            ));
        }
        None => {
            if let Err(err) = upstream.read_secret() {
                problems.push(
                    Problem::at(lines.of("directory.upstream"), format!("{err:#}"))
                        .fix("client_secret_file = \"/etc/keydesk/client-secret\""),
                );
            }
        }
    }
    if let Some(op) = &upstream.op {
        if let Some(path) = &op.password_file {
            problems.extend(secret_file(
                path,
                lines.of("directory.upstream.op.password_file"),
            ));
        }
        problems.extend(op_runs(op, lines));
    }
    problems
}

/// A file holding a secret: it must exist, hold something, and be readable by Keydesk alone.
fn secret_file(path: &Path, line: Option<usize>) -> Option<Problem> {
    let shown = path.display();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) => {
            return Some(
                Problem::at(
                    line,
                    format!("the secret file {shown} cannot be read: {err}"),
                )
                .fix(format!(
                    "create {shown}, readable by Keydesk's user only (chmod 600)"
                )),
            );
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode();
        if mode & 0o004 != 0 {
            return Some(
                Problem::at(
                    line,
                    format!(
                        "the secret file {shown} is readable by every user of this machine \
                         (mode {:o})",
                        mode & 0o777
                    ),
                )
                .fix(format!("chmod 600 {shown} (owned by Keydesk's user)")),
            );
        }
    }
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Some(
            Problem::at(line, format!("the secret file {shown} is empty"))
                .fix("put the secret in it, on one line"),
        ),
        Ok(_) => None,
        Err(err) => Some(
            Problem::at(
                line,
                format!("the secret file {shown} cannot be read: {err}"),
            )
            .fix(format!("make {shown} readable by Keydesk's user")),
        ),
    }
}

/// `op` must be configured sensibly, run, and be new enough to begin recoveries.
fn op_runs(op: &OpSettings, lines: &Lines<'_>) -> Option<Problem> {
    if let Err(err) = op.check() {
        return Some(
            Problem::at(lines.of("directory.upstream.op"), format!("{err:#}")).fix(
                "account = \"keydesk\" (the shorthand of op account add --shorthand), \
                 password_file, and keepalive under 30m",
            ),
        );
    }
    let err = Op::start(op.clone()).err()?;
    Some(
        Problem::at(lines.of("directory.upstream.op.path"), format!("{err:#}")).fix(
            "path = \"/usr/bin/op\", the 1Password CLI 2.32.0 or later (1Password's apt \
             repository)",
        ),
    )
}
