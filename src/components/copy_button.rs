//! A button that copies a text to the clipboard and says so.

use leptos::{prelude::*, task::spawn_local};

#[component]
pub fn CopyButton(
    /// What is copied.
    text: String,
    /// What it is, for the button's name: "Copy email" is said as "Copy email".
    what: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let text = text.clone();
        spawn_local(async move {
            // Refused (no permission, or not a secure page): the button keeps saying Copy, and
            // the text beside it can still be selected.
            let done = wasm_bindgen_futures::JsFuture::from(
                window().navigator().clipboard().write_text(&text),
            )
            .await;
            copied.set(done.is_ok());
        });
    };
    view! {
        <button type="button" class="copy" on:click=copy aria-label=format!("Copy {what}")>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
