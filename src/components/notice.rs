//! What the last change did, in a sentence: it stays until dismissed or the next change.

use leptos::prelude::*;

#[component]
pub fn Notice(notice: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <div class="notice" role="status" aria-live="polite">
            {move || notice.get().map(|text| view! {
                <p>{text}</p>
                <button type="button" class="dismiss" aria-label="Dismiss"
                    on:click=move |_| notice.set(None)>"×"</button>
            })}
        </div>
    }
}
