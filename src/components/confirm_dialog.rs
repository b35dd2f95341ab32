//! A confirmation dialog: a real modal `<dialog>` opened with `showModal()`, so the browser moves
//! focus into it, keeps Tab inside it, makes the page behind inert and announces its title.

use leptos::{html, prelude::*};

#[component]
pub fn ConfirmDialog(
    /// Unique among the page's dialogs: it names the title for `aria-labelledby`.
    id: &'static str,
    /// Whether the dialog is open. The dialog never closes itself: it asks `on_cancel`.
    #[prop(into)]
    open: Signal<bool>,
    #[prop(into)] title: Signal<String>,
    /// The confirm button's label, and its label while the request is in flight.
    #[prop(into)]
    confirm_label: Signal<String>,
    #[prop(into)] busy_label: Signal<String>,
    /// Destructive actions start with focus on Cancel and show a warning-coloured button.
    #[prop(into)]
    destructive: Signal<bool>,
    /// True while the confirmed request is in flight: confirm is disabled, Escape does nothing.
    #[prop(into)]
    busy: Signal<bool>,
    /// The server's message when the request failed; shown inside the dialog.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// Nothing is left to confirm (a batch reported its outcomes): only Close remains.
    #[prop(into, default = Signal::stored(false))]
    finished: Signal<bool>,
    /// The request was refused by a rule: confirming again would be refused again, so the
    /// confirm button is disabled beside the message.
    #[prop(into, default = Signal::stored(false))]
    refused: Signal<bool>,
    /// Whether what the dialog asks is filled in (a required reason, every check ticked).
    #[prop(into, default = Signal::stored(true))]
    ready: Signal<bool>,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
    /// What will happen, and to whom.
    children: ChildrenFn,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    let cancel_button = NodeRef::<html::Button>::new();
    let confirm_button = NodeRef::<html::Button>::new();

    // Where focus goes back to when the dialog closes: what opened it, or, when that is gone
    // or hidden (a menu entry, a button the change replaced), the first button of the place it
    // was in (the row's actions, the person's), or the page's heading.
    let mut opener = None;
    Effect::new(move |_| {
        let Some(element) = dialog.get() else { return };
        if open.get() {
            if !element.open() {
                opener = document().active_element().map(|active| {
                    let home = active.closest("td.actions, .person-actions").ok().flatten();
                    (active, home)
                });
                // The modal makes the rest of the page inert; a failure here means the element is
                // detached, and there is nothing useful to show then.
                let _ = element.show_modal();
            }
            // Focus the safe choice for destructive actions, the action otherwise.
            let target = if destructive.get_untracked() {
                cancel_button
            } else {
                confirm_button
            };
            if let Some(button) = target.get_untracked() {
                let _ = button.focus();
            }
        } else if element.open() {
            element.close();
            if let Some((active, home)) = opener.take() {
                // After the change has redrawn what it changed.
                request_animation_frame(move || return_focus(active, home));
            }
        }
    });
    // Refused by a rule, confirm is disabled: Cancel is what is left to press.
    Effect::new(move |_| {
        if refused.get()
            && let Some(button) = cancel_button.get_untracked()
        {
            let _ = button.focus();
        }
    });

    let cancel = move || {
        if !busy.get_untracked() {
            on_cancel.run(());
        }
    };
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();
    view! {
        <dialog
            node_ref=dialog
            id=id
            class="confirm"
            aria-labelledby=labelled_by
            aria-busy=move || busy.get().to_string()
            // Escape asks to cancel; the dialog stays while a request is in flight.
            on:cancel=move |event: web_sys::Event| {
                event.prevent_default();
                cancel();
            }
        >
            <h2 id=title_id>{move || title.get()}</h2>
            <div class="confirm-body">{children()}</div>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <div class="confirm-buttons">
                // Not `disabled` while busy: a disabled button loses focus to the page.
                <button type="button" node_ref=cancel_button on:click=move |_| cancel()
                    aria-disabled=move || busy.get().then_some("true")>
                    {move || if finished.get() { "Close" } else { "Cancel" }}
                </button>
                <button
                    hidden=move || finished.get()
                    type="button"
                    node_ref=confirm_button
                    class=move || if destructive.get() { "danger" } else { "primary" }
                    aria-disabled=move || busy.get().then_some("true")
                    disabled=move || refused.get() || !ready.get()
                    on:click=move |_| {
                        if !busy.get_untracked() {
                            on_confirm.run(());
                        }
                    }
                >
                    {move || if busy.get() { busy_label.get() } else { confirm_label.get() }}
                </button>
            </div>
        </dialog>
    }
}

fn return_focus(active: web_sys::Element, home: Option<web_sys::Element>) {
    use wasm_bindgen::JsCast;
    // Hidden or gone, an element has no width.
    let shown = |element: &web_sys::Element| element.client_width() > 0;
    let target = Some(active)
        .filter(shown)
        .or_else(|| home.filter(shown)?.first_element_child())
        .or_else(|| document().query_selector("main h1").ok().flatten());
    if let Some(target) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = target.focus();
    }
}
