//! `check-config --online`: what 1Password and `op` say of this configuration. One page of
//! users through the Users API with the configured OAuth client, and `op whoami`, whose answer
//! says whether beginning a recovery can work (see the README's "Recovery upstream").

use super::{Lines, Problem, Report};
use crate::{
    directory::upstream::{UpstreamSettings, client::UsersApi, op::Op},
    settings::{Backend, Settings},
};

/// How `op whoami` names a service account.
const SERVICE_ACCOUNT: &str = "SERVICE_ACCOUNT";

pub async fn check(settings: &Settings, lines: &Lines<'_>, report: &mut Report) {
    if settings.directory.backend != Backend::Upstream {
        report.notes.push(
            "--online: the directory is embedded, so there is no 1Password account to ask".into(),
        );
        return;
    }
    // Without the section, the offline checks have said so already.
    let Some(upstream) = &settings.directory.upstream else {
        return;
    };
    users_api(upstream, lines, report).await;
    recovery(upstream, lines, report).await;
}

async fn users_api(upstream: &UpstreamSettings, lines: &Lines<'_>, report: &mut Report) {
    // A base URL that is not allowed is never sent the client secret.
    let Ok(secret) = upstream
        .check_base_url()
        .and_then(|()| upstream.read_secret())
    else {
        report
            .notes
            .push("--online: the Users API was not asked, for the problems above".into());
        return;
    };
    let api = match UsersApi::new(upstream, secret) {
        Ok(api) => api,
        Err(err) => {
            report.problems.push(Problem::at(
                lines.of("directory.upstream"),
                format!("cannot make an HTTP client: {err:#}"),
            ));
            return;
        }
    };
    match api.list_page(None).await {
        Ok(page) => report.notes.push(format!(
            "1Password answered: the first page of account {} lists {} people{}",
            upstream.account_id,
            page.results.len(),
            if page.next_page_token.is_some() {
                ", and there are more"
            } else {
                ""
            }
        )),
        Err(err) => report.problems.push(
            Problem::at(
                lines.of("directory.upstream.client_id"),
                format!("1Password did not list the account's users: {err}"),
            )
            .fix(
                "the account_id, client_id and secret of an OAuth application with the scopes \
                 list users, get user, suspend users and reactivate users",
            ),
        ),
    }
    api.revoke().await;
}

async fn recovery(upstream: &UpstreamSettings, lines: &Lines<'_>, report: &mut Report) {
    let Some(settings) = &upstream.op else {
        report.notes.push(
            "recovery cannot begin: [directory.upstream.op] is not set, so Keydesk has no \
             1Password CLI to begin it with"
                .into(),
        );
        return;
    };
    // An `op` that does not run is a problem the offline checks have named already.
    let Ok(op) = Op::start(settings.clone()) else {
        return;
    };
    let line = lines.of("directory.upstream.op");
    // As Keydesk will: signing in with the password file when there is one.
    if let Some(why) = op.check().await.refusal() {
        let fix = match settings.password_file {
            Some(_) => {
                "check the password file holds the recovery user's account password, and that \
                 `op account add` was run as Keydesk's user with the same OP_CONFIG_DIR (README: \
                 \"Recovery upstream\")"
            }
            None => {
                "set password_file (README: \"Recovery upstream\"), or sign op in as the \
                 recovery user and give Keydesk its session"
            }
        };
        report
            .problems
            .push(Problem::at(line, format!("recovery will not work: {why}")).fix(fix));
        return;
    }
    match op.whoami().await {
        Err(said) => report.problems.push(
            Problem::at(
                line,
                format!("recovery will not work: op is not signed in (op said: {said})"),
            )
            .fix(
                "sign op in as the recovery user and give Keydesk its session (README: \
                 \"Recovery upstream\")",
            ),
        ),
        Ok(who) if who.user_type.as_deref() == Some(SERVICE_ACCOUNT) => report.problems.push(
            Problem::at(
                line,
                format!(
                    "recovery will not work: op is signed in as a service account{}, and \
                     1Password's documentation does not list recovering accounts among what a \
                     service account may do",
                    who.url.map(|url| format!(" on {url}")).unwrap_or_default()
                ),
            )
            .fix(
                "sign op in as a 1Password user who is an owner, an administrator, or in a group \
                 with the Recover Accounts permission (README: \"Recovery upstream\")",
            ),
        ),
        Ok(who) => report.notes.push(format!(
            "op is signed in as {}{}{}: recovery works if they are an owner, an administrator, \
             or in a group with the Recover Accounts permission (op cannot say which). 1Password \
             ends a CLI session after 30 minutes without use; {}",
            who.email.as_deref().unwrap_or("a user"),
            who.url.map(|url| format!(" on {url}")).unwrap_or_default(),
            if settings.password_file.is_some() {
                " (signed in with the password file)"
            } else {
                ""
            },
            if settings.password_file.is_some() {
                "Keydesk keeps it alive and signs in again by itself"
            } else {
                "Keydesk keeps it alive while it can, and without password_file cannot sign in \
                 again by itself"
            }
        )),
    }
}
