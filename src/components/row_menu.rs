//! A row's menu button: "⋯" opens the row's other actions. It is the browser's own popover,
//! declared in markup: the browser opens and closes it, closes it on Escape or a click
//! elsewhere, returns focus to the button, and puts its entries next in the Tab order; CSS
//! anchor positioning puts it under its button (a popover's implicit anchor is its invoker). An entry opens a modal dialog, which closes
//! every popover. The page adds no code of its own for any of that, which matters: a scripted
//! menu cost every admin 3.5 KB of download.

use std::cell::Cell;

use leptos::prelude::*;

thread_local! {
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

#[component]
pub fn RowMenu(
    /// What the button says to a screen reader: "More actions for Hannah Müller".
    label: impl Fn() -> String + Send + Sync + 'static,
    /// The entries: buttons.
    entries: AnyView,
) -> impl IntoView {
    // Not the person's ID: rows follow whoever is at their position, and an ID could then be
    // on two rows at once for a moment.
    let n = NEXT_ID.with(|next| next.replace(next.get() + 1));
    let menu = format!("menu-{n}");
    view! {
        <button type="button" class="menu-button" popovertarget=menu.clone()
            aria-label=label title="More actions">
            "⋯"
        </button>
        <div popover="auto" id=menu class="menu">
            {entries}
        </div>
    }
}
