//! The person's side of a recovery link: confirm the email address, receive a new Secret Key,
//! choose a new account password. The token is in the URL's fragment, which browsers never send
//! to a server; the page passes it in request bodies only.

use keydesk_api::{AcceptRecoveryRequest, MIN_PASSWORD_CHARS, RecoveryLinkInfo};
use leptos::{prelude::*, task::spawn_local};

use crate::{api, components::CopyButton, time};

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Checking,
    Refused(String),
    Ready(RecoveryLinkInfo),
    Done { secret_key: String },
}

fn token_from_location() -> String {
    let hash = window().location().hash().unwrap_or_default();
    hash.trim_start_matches('#').to_owned()
}

#[component]
pub fn RecoverPage() -> impl IntoView {
    let token = token_from_location();
    let step = RwSignal::new(Step::Checking);
    {
        let token = token.clone();
        spawn_local(async move {
            step.set(if token.is_empty() {
                Step::Refused("This page needs the whole link from your recovery email.".into())
            } else {
                match api::inspect_recovery_link(&token).await {
                    Ok(info) => Step::Ready(info),
                    Err(err) => Step::Refused(err.to_string()),
                }
            });
        });
    }

    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if password.get_untracked() != confirm.get_untracked() {
            error.set(Some("The two passwords are not the same.".into()));
            return;
        }
        let request = AcceptRecoveryRequest {
            token: token.clone(),
            email: email.get_untracked(),
            password: password.get_untracked(),
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::accept_recovery_link(&request).await {
                Ok(accepted) => step.set(Step::Done {
                    secret_key: accepted.secret_key,
                }),
                Err(err) => error.set(Some(err.to_string())),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="recover" aria-labelledby="recover-heading">
            {move || match step.get() {
                Step::Checking => view! { <p role="status">"Checking your recovery link…"</p> }.into_any(),
                Step::Refused(why) => view! {
                    <h1 id="recover-heading">"This recovery link cannot be used"</h1>
                    <p class="error" role="alert">{why}</p>
                }
                .into_any(),
                Step::Ready(info) => view! {
                    <h1 id="recover-heading">"Recover the 1Password account of " {info.display_name.clone()}</h1>
                    <p>"Confirm your email address and choose a new account password. You will then receive a new Secret Key."</p>
                    <p>"This link works until "
                        <time datetime=info.expire_time.clone() title=time::exact(&info.expire_time)>
                            {time::date_time(&info.expire_time)}
                        </time>
                        " (" {time::relative(&info.expire_time)} ")."
                    </p>
                    <form class="panel" on:submit=submit.clone()>
                        <label>"Your email address"
                            <input type="email" name="email" autocomplete="email" required
                                prop:value=move || email.get()
                                on:input=move |ev| email.set(event_target_value(&ev)) />
                        </label>
                        <label>{format!("New account password (at least {MIN_PASSWORD_CHARS} characters)")}
                            <input type="password" name="password" autocomplete="new-password" required
                                minlength=MIN_PASSWORD_CHARS.to_string()
                                prop:value=move || password.get()
                                on:input=move |ev| password.set(event_target_value(&ev)) />
                        </label>
                        <label>"The same password again"
                            <input type="password" name="confirm" autocomplete="new-password" required
                                prop:value=move || confirm.get()
                                on:input=move |ev| confirm.set(event_target_value(&ev)) />
                        </label>
                        <Show when=move || error.get().is_some()>
                            <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
                        </Show>
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Setting your password…" } else { "Set password and get my Secret Key" }}
                        </button>
                    </form>
                }
                .into_any(),
                Step::Done { secret_key } => view! {
                    <h1 id="recover-heading">"Your new Secret Key"</h1>
                    <p class="secret-key" aria-label="Secret Key"><code>{secret_key.clone()}</code></p>
                    <p class="secret-key-actions">
                        <CopyButton text=secret_key.clone() what="Secret Key" />
                        // A file to keep with the Emergency Kit, made in the page: the key never
                        // travels again.
                        <a class="button" download="1Password Secret Key.txt"
                            href=format!("data:text/plain;charset=utf-8,{}",
                                String::from(js_sys::encode_uri_component(&secret_key)))>
                            "Save as a file"
                        </a>
                    </p>
                    <p><strong>"Save it now: it is shown only this once."</strong>
                        " Write it down or store it in your Emergency Kit. Your old Secret Key no longer works."</p>
                    <p>"Your helpdesk will now complete your recovery. After that, sign in on each device with your new password and Secret Key, and set up two-factor authentication again."</p>
                }
                .into_any(),
            }}
        </section>
    }
}
