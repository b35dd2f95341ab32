//! One person: their facts, and their own audit history.

use keydesk_api::{AuditQuery, Permission, Session, User, UserId};
use leptos::{prelude::*, task::spawn_local};

use super::audit::AuditTable;
use crate::{
    api::Client,
    components::{StateBadge, state_badge::type_label},
};

/// `/users/{id}`: another ID is another page, so `id` is fixed for this one.
#[component]
pub fn UserPage(id: String) -> impl IntoView {
    let client = expect_context::<Client>();
    let session = expect_context::<Session>();
    let user = RwSignal::new(None::<Result<User, String>>);
    {
        let client = client.clone();
        let raw = id.clone();
        spawn_local(async move {
            user.set(Some(match UserId::parse(&raw) {
                Ok(id) => client.get_user(&id).await.map_err(|err| err.to_string()),
                Err(err) => Err(err.to_string()),
            }));
        });
    }
    let may_audit = session.may(Permission::ReadAudit);
    view! {
        <p><a href="/">"← All users"</a></p>
        {move || match user.get() {
            None => view! { <p role="status">"Loading…"</p> }.into_any(),
            Some(Err(message)) => view! {
                <div class="panel error-panel" role="alert"><h1>"This person could not be shown"</h1><p>{message}</p></div>
            }.into_any(),
            Some(Ok(user)) => view! { <UserFacts user /> }.into_any(),
        }}
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            {if may_audit {
                let query = Signal::stored(AuditQuery { target: Some(id), ..AuditQuery::default() });
                view! { <AuditTable client=client.clone() query /> }.into_any()
            } else {
                view! { <p>"You need the 'read_audit' permission to see this person's history."</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn UserFacts(user: User) -> impl IntoView {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "—".to_owned());
    view! {
        <h1>{user.display_name.clone()}</h1>
        <dl class="facts panel">
            <dt>"Email"</dt><dd>{user.email.clone()}</dd>
            <dt>"ID"</dt><dd><code>{user.id.to_string()}</code></dd>
            <dt>"State"</dt><dd><StateBadge state=user.state.clone() /></dd>
            <dt>"Type"</dt><dd>{type_label(user.user_type.as_ref())}</dd>
            <dt>"Role"</dt><dd>{or_dash(user.role.as_ref().map(|r| r.to_string()))}</dd>
            <dt>"Created"</dt><dd>{user.create_time.clone()}</dd>
            <dt>"Last change"</dt><dd>{or_dash(user.update_time.clone())}</dd>
            <dt>"Recovery began"</dt><dd>{or_dash(user.recovery_started_time.clone())}</dd>
            <dt>"Two-factor authentication"</dt><dd>{match user.two_factor_enabled {
                Some(true) => "Set up", Some(false) => "Not set up (reset)", None => "—" }}</dd>
            <dt>"Signed-in devices"</dt><dd>{or_dash(user.signed_in_devices.map(|n| n.to_string()))}</dd>
        </dl>
    }
}
