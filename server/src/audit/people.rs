//! The audit's actor and target filters match people as an admin knows them: by name, part of
//! an email, or an ID. The trail records emails and IDs only (what the chain signs), so a name is
//! first looked up in the directory as it is now (the upstream snapshot: no call to 1Password),
//! and the filter then matches those people's emails and IDs as well as the text itself.

use keydesk_api::{AuditQuery, OrderBy};

use crate::directory::{Directory, ListQuery};

/// How many people one filter's text may name. A text that matches more (a common first name)
/// still matches emails and IDs by their text; only people beyond this many by name are missed.
const MOST_PEOPLE: u32 = 200;

/// Who the actor and target filters name, besides their text.
#[derive(Debug, Default)]
pub struct Named {
    /// Emails of people whose name, email or ID matches `actor`.
    pub actors: Vec<String>,
    /// IDs of people whose name, email or ID matches `target`.
    pub targets: Vec<String>,
}

impl Named {
    pub async fn find(directory: &dyn Directory, query: &AuditQuery) -> Named {
        Named {
            actors: people(directory, query.actor.as_deref(), |user| user.email).await,
            targets: people(directory, query.target.as_deref(), |user| {
                user.id.to_string()
            })
            .await,
        }
    }
}

/// What `key` says of each person the directory's search finds for `text` (name, email or ID,
/// ignoring case and accents). Nobody when there is no text or the directory cannot answer: the
/// filter still matches the text itself.
async fn people(
    directory: &dyn Directory,
    text: Option<&str>,
    key: impl Fn(keydesk_api::User) -> String,
) -> Vec<String> {
    // No name is longer than a search may be; the trail's own check refuses what is too long.
    let searchable = |text: &&str| !text.is_empty() && text.chars().count() <= 200;
    let Some(text) = text.map(str::trim).filter(searchable) else {
        return Vec::new();
    };
    let query = ListQuery {
        filter: None,
        state: None,
        text: Some(text.to_owned()),
        order: OrderBy::default(),
        page_size: MOST_PEOPLE,
        page_token: None,
        api_states: false,
    };
    match directory.list_users(query).await {
        Ok(page) => page.results.into_iter().map(key).collect(),
        Err(_) => Vec::new(),
    }
}
