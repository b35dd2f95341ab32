//! Component tests of the page, in headless Chromium (wasm-bindgen-test). They mount real
//! components into a real DOM and look at what a person would see and use.
#![cfg(target_arch = "wasm32")]

use keydesk::{
    components::users_table::{TableControls, UserRow},
    components::{ConfirmDialog, StateBadge},
    routes::{Change, ChangeSummary, SelectionBar},
};
use keydesk_api::{User, UserId, UserMethod, UserState, UserType};
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
    numbered_user(0, name, state)
}

/// A user with a distinct ID and email for each `n`.
fn numbered_user(n: usize, name: &str, state: UserState) -> User {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let suffix: String = [n / 32, n % 32]
        .iter()
        .map(|&i| ALPHABET[i] as char)
        .collect();
    let id = UserId::parse(&format!("IR7VJHJ36JHINBFAD7V2T5MP{suffix}")).unwrap();
    User {
        path: format!("accounts/A/users/{id}"),
        id,
        email: format!("person{n}@example.com"),
        display_name: name.into(),
        state,
        create_time: "2024-01-15T10:30:00Z".into(),
        user_type: Some(UserType::Member),
        role: None,
        update_time: None,
        recovery_started_time: None,
        recovery_started_by: None,
        two_factor_enabled: None,
        signed_in_devices: None,
    }
}

/// A row's controls that do nothing when used.
fn controls() -> TableControls {
    TableControls {
        sort_by: Callback::new(|_| ()),
        act: Callback::new(|_| ()),
        selected: RwSignal::new(Vec::new()),
    }
}

fn mount_row(user: User) -> HtmlElement {
    let parent = container();
    let handle = mount_to(parent.clone(), move || {
        view! {
            <table><tbody>
                <UserRow user controls=Some(controls()) />
            </tbody></table>
        }
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
    let cell = parent.query_selector("td.person a").unwrap().unwrap();
    assert_eq!(cell.text_content().unwrap(), name);
    assert!(parent.query_selector("img, b").unwrap().is_none());
}

#[wasm_bindgen_test]
fn rows_offer_the_actions_their_state_allows() {
    let actions = |state| {
        let buttons = mount_row(user("Ann", state))
            .query_selector_all("td.actions button")
            .unwrap();
        (0..buttons.length())
            .map(|i| {
                let button: web_sys::Element = buttons.item(i).unwrap().unchecked_into();
                button.get_attribute("aria-label").unwrap()
            })
            .collect::<Vec<_>>()
    };
    // One action in view; Suspend, never the first, loudest choice, in the row's menu: a
    // button that opens a popover holding it.
    assert_eq!(
        actions(UserState::Active),
        ["Begin recovery Ann", "More actions for Ann", "Suspend Ann"]
    );
    let row = mount_row(user("Ann", UserState::Active));
    let menu_button = row
        .query_selector("td.actions > button.menu-button")
        .unwrap()
        .unwrap();
    let menu = row
        .query_selector("td.actions > .menu[popover]")
        .unwrap()
        .unwrap();
    assert_eq!(menu_button.get_attribute("popovertarget"), Some(menu.id()));
    let entry = menu.query_selector("button").unwrap().unwrap();
    assert_eq!(entry.get_attribute("aria-label").unwrap(), "Suspend Ann");
    assert_eq!(actions(UserState::Suspended), ["Reactivate Ann"]);
    assert_eq!(actions(UserState::RecoveryStarted), ["Resend email Ann"]);
    assert_eq!(
        actions(UserState::RecoveryAccepted),
        ["Complete recovery Ann"]
    );
    assert!(actions(UserState::Pending).is_empty());
    assert!(actions(UserState::parse("SOMETHING_NEW")).is_empty());
}

#[wasm_bindgen_test]
fn a_recovery_started_row_says_since_when() {
    let mut started = user("Ann", UserState::RecoveryStarted);
    started.recovery_started_time = Some("2026-11-20T08:00:00Z".into());
    let parent = mount_row(started);
    let since = parent.query_selector(".since").unwrap().unwrap();
    // A short local date (the test browser's language is English), the exact time on hover.
    assert_eq!(since.text_content().unwrap(), "since Nov 20, 2026");
    let time = since.query_selector("time").unwrap().unwrap();
    assert_eq!(
        time.get_attribute("datetime").unwrap(),
        "2026-11-20T08:00:00Z"
    );
    assert!(time.get_attribute("title").unwrap().contains("2026"));
}

#[wasm_bindgen_test]
fn an_accepted_recovery_row_says_how_long_it_has_waited() {
    let mut accepted = user("Ann", UserState::RecoveryAccepted);
    accepted.update_time = Some("2026-11-21T08:00:00Z".into());
    let parent = mount_row(accepted);
    let since = parent.query_selector(".since").unwrap().unwrap();
    assert_eq!(since.text_content().unwrap(), "waiting since Nov 21, 2026");
}

/// A selection bar over `count` selected people; the last change it asked for.
fn mount_selection(count: usize, state: UserState) -> (HtmlElement, RwSignal<Option<Change>>) {
    let parent = container();
    let asked = RwSignal::new(None::<Change>);
    let people: Vec<User> = (0..count)
        .map(|n| numbered_user(n, &format!("Person {n}"), state.clone()))
        .collect();
    let selected = RwSignal::new(people);
    mount_to(parent.clone(), move || {
        let shown = RwSignal::new(Vec::new());
        view! { <SelectionBar selected shown ask=Callback::new(move |change| asked.set(Some(change))) /> }
    })
    .forget();
    (parent, asked)
}

fn button_labelled(parent: &HtmlElement, label: &str) -> HtmlButtonElement {
    let buttons = parent.query_selector_all("button").unwrap();
    (0..buttons.length())
        .map(|i| {
            buttons
                .item(i)
                .unwrap()
                .unchecked_into::<HtmlButtonElement>()
        })
        .find(|b| b.text_content().unwrap().trim() == label)
        .unwrap_or_else(|| panic!("no button {label}"))
}

#[wasm_bindgen_test]
async fn begin_recovery_refuses_eleven_with_a_message() {
    let (parent, asked) = mount_selection(11, UserState::Active);
    button_labelled(&parent, "Begin recovery").click();
    settle().await;
    assert_eq!(asked.get_untracked(), None, "no dialog for eleven");
    let alert = parent.query_selector("[role=alert]").unwrap().unwrap();
    let message = alert.text_content().unwrap();
    assert!(message.contains("You selected 11 people"), "{message}");
    assert!(message.contains("at most 10"), "{message}");
}

#[wasm_bindgen_test]
async fn begin_recovery_for_ten_asks_for_all_ten() {
    let (parent, asked) = mount_selection(10, UserState::Active);
    button_labelled(&parent, "Begin recovery").click();
    settle().await;
    match asked.get_untracked() {
        Some(Change::BeginRecovery(users)) => assert_eq!(users.len(), 10),
        other => panic!("expected a begin-recovery change, got {other:?}"),
    }
    assert!(parent.query_selector("[role=alert]").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn a_batch_suspends_up_to_fifty_and_names_who_cannot_be() {
    let (fifty, asked) = mount_selection(50, UserState::Active);
    button_labelled(&fifty, "Suspend").click();
    settle().await;
    assert!(
        matches!(asked.get_untracked(), Some(Change::Each(UserMethod::Suspend, users)) if users.len() == 50)
    );
    let (many, asked) = mount_selection(51, UserState::Active);
    button_labelled(&many, "Suspend").click();
    settle().await;
    assert_eq!(asked.get_untracked(), None, "no dialog for 51");
    let message = refusal(&many).expect("a refusal in words");
    assert!(message.contains("at most 50"), "{message}");
    let (suspended, asked) = mount_selection(2, UserState::Suspended);
    button_labelled(&suspended, "Suspend").click();
    settle().await;
    assert_eq!(asked.get_untracked(), None);
    let message = refusal(&suspended).expect("a refusal in words");
    assert!(
        message.contains("Only Active people can be suspended: take out"),
        "{message}"
    );
    button_labelled(&suspended, "Reactivate").click();
    settle().await;
    assert!(matches!(
        asked.get_untracked(),
        Some(Change::Each(UserMethod::Reactivate, _))
    ));
}

/// The refusal the selection bar shows, if any.
fn refusal(parent: &HtmlElement) -> Option<String> {
    let alert = parent.query_selector("[role=alert]").unwrap()?;
    alert.text_content()
}

#[wasm_bindgen_test]
async fn completing_asks_only_when_everyone_selected_accepted_and_says_who_is_not() {
    let (accepted, asked) = mount_selection(3, UserState::RecoveryAccepted);
    button_labelled(&accepted, "Complete recovery").click();
    settle().await;
    assert!(
        matches!(asked.get_untracked(), Some(Change::Each(UserMethod::CompleteRecovery, users)) if users.len() == 3)
    );

    let (active, asked) = mount_selection(2, UserState::Active);
    button_labelled(&active, "Complete recovery").click();
    settle().await;
    assert_eq!(asked.get_untracked(), None);
    let message = refusal(&active).expect("a refusal in words");
    assert!(
        message.starts_with("Only people in Recovery accepted"),
        "{message}"
    );
    assert!(
        message.contains("take out Person 0, Person 1."),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn beginning_for_someone_it_cannot_begin_for_names_them() {
    let (parent, asked) = mount_selection(2, UserState::Suspended);
    button_labelled(&parent, "Begin recovery").click();
    settle().await;
    assert_eq!(asked.get_untracked(), None);
    let message = refusal(&parent).expect("a refusal in words");
    assert!(
        message.contains("Active or in Recovery started: take out Person 0, Person 1."),
        "{message}"
    );
}

#[wasm_bindgen_test]
fn the_begin_recovery_dialog_lists_everyone_and_warns() {
    let people: Vec<User> = (0..3)
        .map(|n| numbered_user(n, &format!("Person {n}"), UserState::Active))
        .collect();
    let change = Change::BeginRecovery(people);
    assert_eq!(change.title(), "Begin recovery for 3 people?");
    let parent = container();
    mount_to(parent.clone(), move || {
        view! { <ChangeSummary change outcomes=Vec::new() /> }
    })
    .forget();
    let items = parent.query_selector_all("ul.people li").unwrap();
    assert_eq!(items.length(), 3);
    for n in 0..3 {
        let text = items.item(n).unwrap().text_content().unwrap();
        assert!(text.contains(&format!("Person {n}")), "{text}");
        assert!(text.contains(&format!("person{n}@example.com")), "{text}");
        assert!(text.contains("Active"), "{text}");
    }
    let text = parent.text_content().unwrap();
    for warning in [
        "new Secret Key",
        "new account password",
        "every device",
        "two-factor",
    ] {
        assert!(
            text.contains(warning),
            "missing warning about {warning}: {text}"
        );
    }
}

#[wasm_bindgen_test]
fn completing_several_reports_each_outcome() {
    let people: Vec<User> = (0..2)
        .map(|n| numbered_user(n, &format!("Person {n}"), UserState::RecoveryAccepted))
        .collect();
    let outcomes = vec![
        keydesk::routes::Outcome {
            user: people[0].clone(),
            result: Some(Ok(())),
        },
        keydesk::routes::Outcome {
            user: people[1].clone(),
            result: Some(Err("Person 1 cannot complete recovery".into())),
        },
    ];
    let change = Change::Each(UserMethod::CompleteRecovery, people);
    let parent = container();
    mount_to(parent.clone(), move || {
        view! { <ChangeSummary change outcomes=outcomes.clone() /> }
    })
    .forget();
    let items = parent.query_selector_all("ul.people li").unwrap();
    let first = items.item(0).unwrap().text_content().unwrap();
    let second = items.item(1).unwrap().text_content().unwrap();
    assert!(first.contains("Done"), "{first}");
    assert!(
        second.contains("Not done: Person 1 cannot complete recovery"),
        "{second}"
    );
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
    // Said disabled, but not `disabled`, which would drop focus to the page.
    assert_eq!(
        confirm.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    assert!(!confirm.disabled());
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

#[wasm_bindgen_test]
fn actions_the_person_may_not_take_are_disabled_and_say_why() {
    let parent = container();
    mount_to(parent.clone(), || {
        provide_context(keydesk_api::Session {
            email: "helpdesk@example.com".into(),
            name: None,
            groups: vec!["keydesk-helpdesk".into()],
            roles: vec!["helpdesk".into()],
            permissions: vec![
                keydesk_api::Permission::ReadUsers,
                keydesk_api::Permission::Recover,
            ],
            recent_tickets: Vec::new(),
            development: false,
        });
        view! {
            <table><tbody>
                <UserRow user=user("Ann", UserState::Active) controls=Some(controls()) />
            </tbody></table>
        }
    })
    .forget();
    let suspend = parent
        .query_selector("button[aria-label='Suspend Ann']")
        .unwrap()
        .unwrap();
    assert_eq!(
        suspend.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    let why = suspend.get_attribute("title").unwrap();
    assert!(
        why.contains("'suspend' permission") && why.contains("helpdesk"),
        "{why}"
    );
    let recover = parent
        .query_selector("button[aria-label='Begin recovery Ann']")
        .unwrap()
        .unwrap();
    assert_eq!(recover.get_attribute("aria-disabled"), None);
}

#[wasm_bindgen_test]
fn query_strings_are_read_and_written_as_the_browser_does() {
    use keydesk::location::Query;
    let query = Query::parse("?q=zo%C3%AB+lef%26vre&state=ACTIVE&empty");
    assert_eq!(
        query.pairs().collect::<Vec<_>>(),
        [("q", "zoë lef&vre"), ("state", "ACTIVE"), ("empty", "")]
    );
    assert_eq!(
        query.to_query_string(),
        "?q=zo%C3%AB+lef%26vre&state=ACTIVE&empty="
    );
    assert_eq!(Query::parse(&query.to_query_string()), query);
    assert_eq!(Query::new().to_query_string(), "");
}
