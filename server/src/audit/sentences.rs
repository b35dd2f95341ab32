//! Audit records as sentences a person reads: "Amara Okafor suspended Hannah Müller
//! <hannah.muller@example.com>". The record keeps emails and IDs (what the chain signs); the
//! names are looked up in the directory as it is now, without asking 1Password (the upstream
//! snapshot), and an ID or email nobody has any more reads as itself.

use std::collections::HashMap;

use keydesk_api::{AuditOutcome, AuditRecord, OrderBy, UserId};

use crate::directory::{Directory, ListQuery};

/// One sentence per record, in order.
pub async fn sentences(directory: &dyn Directory, records: &[AuditRecord]) -> Vec<String> {
    let mut names: HashMap<String, String> = HashMap::new();
    for record in records {
        for actor in std::iter::once(&record.actor_email).chain(&record.on_behalf_of) {
            if !names.contains_key(actor) && actor != keydesk_api::OBSERVED_ACTOR {
                let name = actor_name(directory, actor).await;
                names.insert(actor.clone(), name);
            }
        }
        for target in &record.targets {
            if !names.contains_key(target) {
                let name = target_name(directory, target).await;
                names.insert(target.clone(), name);
            }
        }
    }
    records
        .iter()
        .map(|record| sentence(record, &names))
        .collect()
}

fn sentence(record: &AuditRecord, names: &HashMap<String, String>) -> String {
    let name = |key: &String| names.get(key).cloned().unwrap_or_else(|| key.clone());
    let actor = name(&record.actor_email);
    let targets = match record.targets.len() {
        0 => String::new(),
        _ => format!(
            " {}",
            record
                .targets
                .iter()
                .map(name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (done, tried) = record.action.verbs();
    let times = match record.count {
        1 => String::new(),
        n => format!(" ({n} times)"),
    };
    let said = why(record.change_reason.as_deref(), record.ticket.as_deref());
    let behalf = match &record.on_behalf_of {
        Some(email) => format!(" for {}", name(email)),
        None => String::new(),
    };
    match record.outcome {
        AuditOutcome::Succeeded => format!("{actor}{behalf} {done}{targets}{times}{said}"),
        AuditOutcome::Denied => {
            format!("{actor}{behalf} was not allowed to {tried}{targets}{times}{said}")
        }
        AuditOutcome::Failed => {
            format!("{actor}{behalf} tried to {tried}{targets}, which failed{times}{said}")
        }
        AuditOutcome::Attempted => {
            format!("{actor}{behalf} asked 1Password to {tried}{targets}{said}")
        }
        // "Hannah Müller <…>: recovery completed in 1Password (Recovery accepted → Active),
        // seen by Keydesk": the record's time is when the reading saw it.
        AuditOutcome::Observed => {
            let change = record
                .observed
                .as_ref()
                .map(|seen| format!(" ({} → {})", seen.before.label(), seen.after.label()))
                .unwrap_or_default();
            format!(
                "{}: {} in 1Password{change}, seen by Keydesk",
                targets.trim_start(),
                record.action.seen_done()
            )
        }
    }
}

/// ": parental leave (INC-4211)", what a change's asker said, or nothing.
pub fn why(reason: Option<&str>, ticket: Option<&str>) -> String {
    match (reason, ticket) {
        (Some(reason), Some(ticket)) => format!(": {reason} ({ticket})"),
        (Some(reason), None) => format!(": {reason}"),
        (None, Some(ticket)) => format!(" ({ticket})"),
        (None, None) => String::new(),
    }
}

/// "Amara Okafor", or the email when nobody in the directory has it (a refused sign-in).
pub async fn actor_name(directory: &dyn Directory, email: &str) -> String {
    let query = ListQuery {
        filter: None,
        state: None,
        text: Some(email.to_owned()),
        order: OrderBy::default(),
        page_size: 5,
        page_token: None,
        api_states: false,
    };
    match directory.list_users(query).await {
        Ok(page) => page
            .results
            .into_iter()
            .find(|user| user.email.eq_ignore_ascii_case(email))
            .map_or_else(|| email.to_owned(), |user| user.display_name),
        Err(_) => email.to_owned(),
    }
}

/// "Hannah Müller <hannah.muller@example.com>", or the target as recorded (a refused name).
async fn target_name(directory: &dyn Directory, target: &str) -> String {
    let Ok(id) = UserId::parse(target) else {
        return target.to_owned();
    };
    match directory.known_user(&id).await {
        Ok(user) => format!("{} <{}>", user.display_name, user.email),
        Err(_) => target.to_owned(),
    }
}
