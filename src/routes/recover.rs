//! The person's side of a recovery link: confirm the email address, receive a new Secret Key,
//! choose a new account password. The token is in the URL's fragment, which browsers never send
//! to a server; the page passes it in request bodies only.

use keydesk_api::{AcceptRecoveryRequest, MIN_PASSWORD_CHARS};
use leptos::prelude::*;

use crate::{api, components::CopyButton, time};

fn token_from_location() -> String {
    let hash = window().location().hash().unwrap_or_default();
    hash.trim_start_matches('#').to_owned()
}

#[component]
pub fn RecoverPage() -> impl IntoView {
    let token = token_from_location();
    // What the link is for, asked once; then the password set through it, once.
    let link = LocalResource::new({
        let token = token.clone();
        move || {
            let token = token.clone();
            async move {
                if token.is_empty() {
                    return Err("This page needs the whole link from your recovery email.".into());
                }
                api::inspect_recovery_link(&token)
                    .await
                    .map_err(|err| err.to_string())
            }
        }
    });
    let accept = Action::new_local(|request: &AcceptRecoveryRequest| {
        let request = request.clone();
        async move { api::accept_recovery_link(&request).await }
    });

    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let mismatch = RwSignal::new(false);
    let busy = accept.pending();
    let error = move || match accept.value().get() {
        _ if mismatch.get() => Some("The two passwords are not the same.".to_owned()),
        Some(Err(err)) => Some(err.to_string()),
        _ => None,
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        mismatch.set(password.get_untracked() != confirm.get_untracked());
        if !mismatch.get_untracked() {
            accept.dispatch(AcceptRecoveryRequest {
                token: token.clone(),
                email: email.get_untracked(),
                password: password.get_untracked(),
            });
        }
    };

    view! {
        <section class="recover" aria-labelledby="recover-heading">
            {move || match (accept.value().get(), link.get()) {
                (Some(Ok(accepted)), _) => done(accepted.secret_key).into_any(),
                (_, None) => view! { <p role="status">"Checking your recovery link…"</p> }.into_any(),
                (_, Some(Err(why))) => view! {
                    <h1 id="recover-heading">"This recovery link cannot be used"</h1>
                    <p class="error" role="alert">{why}</p>
                }
                .into_any(),
                (_, Some(Ok(info))) => view! {
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
                        <Show when=move || error().is_some()>
                            <p class="error" role="alert">{move || error().unwrap_or_default()}</p>
                        </Show>
                        <button type="submit" class="primary" disabled=move || busy.get()>
                            {move || if busy.get() { "Setting your password…" } else { "Set password and get my Secret Key" }}
                        </button>
                    </form>
                }
                .into_any(),
            }}
        </section>
    }
}

/// The new Secret Key, shown once, with ways to keep it.
fn done(secret_key: String) -> impl IntoView {
    view! {
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
}
