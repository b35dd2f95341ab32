//! Component tests of the page, in headless Chromium (wasm-bindgen-test). They mount real
//! components into a real DOM and look at what a person would see and use.
#![cfg(target_arch = "wasm32")]

use keydesk::{
    components::{ConfirmDialog, StateBadge},
    routes::{PendingChange, UserRow},
};
use keydesk_api::{User, UserId, UserState, UserType};
use leptos::{mount::mount_to, prelude::*};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{HtmlButtonElement, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh container in the body for one test's view.
fn container() -> HtmlElement {
    let element: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&element).unwrap();
    element
}

/// Let effects and the browser run: a macrotask later.
async fn settle() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 10)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn user(name: &str, state: UserState) -> User {
    let id = UserId::parse("IR7VJHJ36JHINBFAD7V2T5MP3E").unwrap();
    User {
        path: format!("accounts/A/users/{id}"),
        id,
        email: "person@example.com".into(),
        display_name: name.into(),
        state,
        create_time: "2024-01-15T10:30:00Z".into(),
        user_type: Some(UserType::Member),
        role: None,
        update_time: None,
    }
}

fn mount_row(user: User) -> HtmlElement {
    let parent = container();
    let handle = mount_to(parent.clone(), move || {
        view! { <table><tbody><UserRow user ask=Callback::new(|_: PendingChange| ()) /></tbody></table> }
    });
    handle.forget();
    parent
}

#[wasm_bindgen_test]
fn state_badge_shows_words_and_unknown_states_raw() {
    let parent = container();
    mount_to(parent.clone(), || {
        view! {
            <StateBadge state=UserState::RecoveryStarted />
            <StateBadge state=UserState::parse("FROZEN_SOLID") />
        }
    })
    .forget();
    let badges = parent.query_selector_all(".badge").unwrap();
    assert_eq!(
        badges.item(0).unwrap().text_content().unwrap(),
        "Recovery started"
    );
    assert_eq!(
        badges.item(1).unwrap().text_content().unwrap(),
        "FROZEN_SOLID"
    );
}

#[wasm_bindgen_test]
fn a_display_name_made_of_html_stays_text() {
    let name = "<img src=x onerror=alert(1)><b>bold</b>";
    let parent = mount_row(user(name, UserState::Active));
    let cell = parent.query_selector("td.name").unwrap().unwrap();
    assert_eq!(cell.text_content().unwrap(), name);
    assert!(parent.query_selector("img, b").unwrap().is_none());
}

#[wasm_bindgen_test]
fn rows_offer_the_action_their_state_allows() {
    let action = |state| {
        mount_row(user("Ann", state))
            .query_selector("td.actions button")
            .unwrap()
            .map(|button| button.get_attribute("aria-label").unwrap())
    };
    assert_eq!(action(UserState::Active).as_deref(), Some("Suspend Ann"));
    assert_eq!(
        action(UserState::Suspended).as_deref(),
        Some("Reactivate Ann")
    );
    assert_eq!(action(UserState::RecoveryStarted), None);
    assert_eq!(action(UserState::parse("SOMETHING_NEW")), None);
}

/// A dialog mounted with signals the test controls; the counters say what the dialog asked for.
struct DialogUnderTest {
    parent: HtmlElement,
    open: RwSignal<bool>,
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    confirmed: RwSignal<u32>,
    cancelled: RwSignal<u32>,
}

fn mount_dialog(destructive: bool) -> DialogUnderTest {
    let parent = container();
    let open = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let confirmed = RwSignal::new(0);
    let cancelled = RwSignal::new(0);
    mount_to(parent.clone(), move || {
        view! {
            <ConfirmDialog
                id="test-dialog"
                open=open
                title="Suspend Ann?".to_string()
                confirm_label="Suspend".to_string()
                busy_label="Suspending…".to_string()
                destructive=destructive
                busy=busy
                error=error
                on_confirm=Callback::new(move |()| confirmed.update(|n| *n += 1))
                on_cancel=Callback::new(move |()| {
                    cancelled.update(|n| *n += 1);
                    open.set(false);
                })
            >
                <p>"Ann will be suspended."</p>
            </ConfirmDialog>
        }
    })
    .forget();
    DialogUnderTest {
        parent,
        open,
        busy,
        error,
        confirmed,
        cancelled,
    }
}

impl DialogUnderTest {
    fn dialog(&self) -> web_sys::HtmlDialogElement {
        self.parent
            .query_selector("dialog")
            .unwrap()
            .unwrap()
            .unchecked_into()
    }

    fn button(&self, index: u32) -> HtmlButtonElement {
        self.parent
            .query_selector_all("dialog button")
            .unwrap()
            .item(index)
            .unwrap()
            .unchecked_into()
    }

    fn focused_text(&self) -> String {
        document()
            .active_element()
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }
}

#[wasm_bindgen_test]
async fn opens_as_a_modal_with_focus_on_cancel_for_destructive_actions() {
    let dialog = mount_dialog(true);
    assert!(!dialog.dialog().open());
    dialog.open.set(true);
    settle().await;
    assert!(
        dialog.dialog().matches(":modal").unwrap(),
        "opened with showModal()"
    );
    assert_eq!(dialog.focused_text().trim(), "Cancel");
    // Its title names it for screen readers.
    let title_id = dialog.dialog().get_attribute("aria-labelledby").unwrap();
    let title = document().get_element_by_id(&title_id).unwrap();
    assert_eq!(title.text_content().unwrap(), "Suspend Ann?");
}

#[wasm_bindgen_test]
async fn focuses_the_action_when_it_is_not_destructive() {
    let dialog = mount_dialog(false);
    dialog.open.set(true);
    settle().await;
    assert_eq!(dialog.focused_text().trim(), "Suspend");
}

#[wasm_bindgen_test]
async fn escape_and_cancel_close_it_but_not_while_busy() {
    let dialog = mount_dialog(true);
    dialog.open.set(true);
    settle().await;
    // Escape makes the browser fire `cancel` on the dialog.
    let escape = web_sys::Event::new_with_event_init_dict("cancel", &{
        let init = web_sys::EventInit::new();
        init.set_cancelable(true);
        init
    })
    .unwrap();
    dialog.busy.set(true);
    dialog.dialog().dispatch_event(&escape).unwrap();
    settle().await;
    assert_eq!(
        dialog.cancelled.get_untracked(),
        0,
        "busy: the dialog stays"
    );
    assert!(dialog.dialog().open());

    dialog.busy.set(false);
    let escape = web_sys::Event::new_with_event_init_dict("cancel", &{
        let init = web_sys::EventInit::new();
        init.set_cancelable(true);
        init
    })
    .unwrap();
    dialog.dialog().dispatch_event(&escape).unwrap();
    settle().await;
    assert_eq!(dialog.cancelled.get_untracked(), 1);
    assert!(!dialog.dialog().open());

    dialog.open.set(true);
    settle().await;
    dialog.button(0).click();
    settle().await;
    assert_eq!(dialog.cancelled.get_untracked(), 2);
    assert!(!dialog.dialog().open());
}

#[wasm_bindgen_test]
async fn busy_shows_progress_and_cannot_be_pressed_twice() {
    let dialog = mount_dialog(true);
    dialog.open.set(true);
    settle().await;
    dialog.button(1).click();
    assert_eq!(dialog.confirmed.get_untracked(), 1);
    dialog.busy.set(true);
    settle().await;
    let confirm = dialog.button(1);
    assert!(confirm.disabled());
    assert_eq!(confirm.text_content().unwrap(), "Suspending…");
    confirm.click();
    assert_eq!(
        dialog.confirmed.get_untracked(),
        1,
        "a disabled button does not confirm again"
    );
}

#[wasm_bindgen_test]
async fn shows_the_servers_message() {
    let dialog = mount_dialog(true);
    dialog.open.set(true);
    dialog
        .error
        .set(Some("Ann is the last active owner".into()));
    settle().await;
    let alert = dialog
        .parent
        .query_selector("dialog [role=alert]")
        .unwrap()
        .unwrap();
    assert_eq!(
        alert.text_content().unwrap(),
        "Ann is the last active owner"
    );
}
