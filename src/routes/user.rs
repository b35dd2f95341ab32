//! One person: their facts, every action their state allows (through the same dialogs as the
//! list), and their own audit history.

use keydesk_api::{AuditQuery, Permission, Session, User, UserId};
use leptos::{prelude::*, task::spawn_local};

use super::{audit::AuditTable, change::Change, changes::ChangeDialog, standing::Standing};
use crate::{
    api::Client,
    components::{
        CopyButton, Notice, StateBadge,
        directory_status::Refusals,
        row_action::{RowAction, active_owners, unavailable},
        state_badge::type_label,
        users_table::When,
    },
    location::use_location,
    time,
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
    let pending = RwSignal::new(None::<Change>);
    let notice = RwSignal::new(None::<String>);
    // Each change done here is read again into the history below.
    let changes = RwSignal::new(0u32);
    let may_audit = session.may(Permission::ReadAudit);
    // Another admin's change to this person shows at once, with their history.
    if let Some(live) = use_context::<crate::live::Live>() {
        let this = id.clone();
        live.follow_users(move |fresh| {
            if fresh.id.as_str() == this {
                user.set(Some(Ok(fresh)));
            }
        });
        live.follow(move || changes.update(|n| *n += 1));
    }
    // Back to the list exactly as the admin left it.
    let back = use_location().list;
    view! {
        <p><a href=move || back.get()>"← Back to the list"</a></p>
        {move || match user.get() {
            None => view! { <p role="status">"Loading…"</p> }.into_any(),
            Some(Err(message)) => view! {
                <div class="panel error-panel" role="alert"><h1>"This person could not be shown"</h1><p>{message}</p></div>
            }.into_any(),
            Some(Ok(person)) => view! {
                <UserFacts user=person.clone() pending notice />
                <Standing id=person.id refresh=changes />
            }.into_any(),
        }}
        <ChangeDialog
            pending
            on_updated=Callback::new(move |fresh: User| {
                user.set(Some(Ok(fresh)));
                changes.update(|n| *n += 1);
            })
            on_notice=Callback::new(move |text| notice.set(Some(text)))
        />
        <section aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            {if may_audit {
                let query = Signal::derive(move || {
                    changes.track();
                    AuditQuery { target: Some(id.clone()), ..AuditQuery::default() }
                });
                view! { <AuditTable client=client.clone() query /> }.into_any()
            } else {
                view! { <p>"You need the 'read_audit' permission to see this person's history."</p> }.into_any()
            }}
        </section>
    }
}

/// A time as a local date and time, how long ago beside it, exact on hover.
fn when_ago(time: Option<String>) -> AnyView {
    match time {
        Some(time) => view! {
            <When time=time.clone() />
            <span class="ago">" · " {time::relative(&time)}</span>
        }
        .into_any(),
        None => "—".into_any(),
    }
}

#[component]
fn UserFacts(
    user: User,
    pending: RwSignal<Option<Change>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let session = use_context::<Session>();
    let actions = RowAction::offered(&user, session.as_ref(), active_owners());
    let me = session.is_some_and(|me| me.is(&user));
    // Followed while the page is open: what the directory can do now may change.
    let buttons = actions
        .into_iter()
        .map(|action| {
            let person = StoredValue::new(user.clone());
            let refused = move || person.with_value(|person| unavailable(action, person));
            view! {
                <button type="button" aria-disabled=move || refused().is_some().then_some("true")
                    title=move || refused().unwrap_or_default()
                    on:click=move |_| match refused() {
                        Some(why) => notice.set(Some(why)),
                        None => {
                            notice.set(None);
                            pending.set(Some(Change::of(action, person.get_value())));
                        }
                    }>
                    {action.label()}
                </button>
            }
        })
        .collect_view();
    view! {
        <h1>{user.display_name.clone()} {me.then(|| view! { " " <span class="you">"you"</span> })}</h1>
        <div class="person-actions">{buttons}</div>
        <Refusals />
        <Notice notice />
        <dl class="facts panel">
            <dt>"Email"</dt>
            <dd>{user.email.clone()} " " <CopyButton text=user.email.clone() what="email" /></dd>
            <dt>"ID"</dt>
            <dd><code>{user.id.to_string()}</code> " " <CopyButton text=user.id.to_string() what="ID" /></dd>
            <dt>"State"</dt><dd><StateBadge state=user.state.clone() /></dd>
            <dt>"Role"</dt><dd>{user.role_label().to_owned()}</dd>
            <dt>"Type"</dt><dd>{type_label(user.user_type.as_ref())}</dd>
            <dt>"Created"</dt><dd>{when_ago(Some(user.create_time.clone()).filter(|t| !t.is_empty()))}</dd>
            <dt>"Last change"</dt><dd>{when_ago(user.update_time.clone())}</dd>
            <dt>"Recovery began"</dt><dd>{when_ago(user.recovery_started_time.clone())}
                {user.recovery_started_by.clone().map(|by| format!(" by {by}"))}</dd>
            <dt>"Two-factor authentication"</dt><dd>{match user.two_factor_enabled {
                Some(true) => "Set up", Some(false) => "Not set up (reset)", None => "—" }}</dd>
            <dt>"Signed-in devices"</dt><dd>{user.signed_in_devices.map_or("—".to_owned(), |n| n.to_string())}</dd>
        </dl>
    }
}
