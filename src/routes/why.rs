//! What the change dialog asks besides "are you sure": why (a reason and a ticket, with the
//! admin's last tickets offered again), until when (a suspension's end, or a later start), and
//! before a recovery is completed, the checks the completing admin confirms.

use keydesk_api::{ChangeRules, UserMethod};
use leptos::prelude::*;

use super::change::Change;
use crate::api::Client;

/// What the admin wrote, as the dialog holds it until it is sent.
#[derive(Clone, Copy)]
pub struct Why {
    pub reason: RwSignal<String>,
    pub ticket: RwSignal<String>,
    /// Suspend only: a date (`YYYY-MM-DD`) to reactivate on, or empty.
    pub until: RwSignal<String>,
    /// Suspend only: a date to suspend at the end of, instead of now, or empty.
    pub from: RwSignal<String>,
    /// Complete only: the checks ticked.
    pub checked: RwSignal<Vec<String>>,
}

impl Why {
    pub fn new() -> Why {
        Why {
            reason: RwSignal::new(String::new()),
            ticket: RwSignal::new(String::new()),
            until: RwSignal::new(String::new()),
            from: RwSignal::new(String::new()),
            checked: RwSignal::new(Vec::new()),
        }
    }

    /// Empty again, for the next change.
    pub fn clear(&self) {
        for text in [self.reason, self.ticket, self.until, self.from] {
            text.set(String::new());
        }
        self.checked.set(Vec::new());
    }

    /// The body of the change's request.
    pub fn request(&self) -> keydesk_api::MethodRequest {
        let text = |signal: RwSignal<String>| {
            let text = signal.get_untracked().trim().to_owned();
            (!text.is_empty()).then_some(text)
        };
        keydesk_api::MethodRequest {
            reason: text(self.reason),
            ticket: text(self.ticket),
            checked: self.checked.get_untracked(),
        }
    }
}

/// The reason and ticket fields; `required` marks come from the server's rules.
#[component]
pub fn WhyFields(why: Why, rules: ChangeRules, recent: Vec<String>) -> impl IntoView {
    let mark = |required: bool| required.then_some(" (required)");
    let hint = rules
        .ticket_pattern
        .map(|pattern| format!("Must match {pattern}"));
    let options = recent
        .into_iter()
        .map(|ticket| view! { <option value=ticket /> })
        .collect_view();
    view! {
        <div class="why">
            <label>
                "Reason" {mark(rules.require_reason)}
                <textarea rows="2" maxlength="500" required=rules.require_reason
                    prop:value=move || why.reason.get()
                    on:input=move |event| why.reason.set(event_target_value(&event))></textarea>
            </label>
            <label>
                "Ticket" {mark(rules.require_ticket)}
                <input type="text" maxlength="64" list="recent-tickets" autocomplete="off"
                    required=rules.require_ticket title=hint
                    prop:value=move || why.ticket.get()
                    on:input=move |event| why.ticket.set(event_target_value(&event)) />
                <datalist id="recent-tickets">{options}</datalist>
            </label>
        </div>
    }
}

/// When a suspension starts and ends, both optional: empty means now, and until reactivated by
/// hand. A reactivation has only its day: empty means now.
#[component]
pub fn WhenFields(why: Why, suspending: bool) -> impl IntoView {
    let date = |label: &'static str, value: RwSignal<String>| {
        view! {
            <label>
                {label}
                <input type="date" prop:value=move || value.get()
                    on:input=move |event| value.set(event_target_value(&event)) />
            </label>
        }
    };
    view! {
        <div class="why">
            {if suspending {
                view! { {date("At the end of (optional)", why.from)} {date("Until (optional)", why.until)} }.into_any()
            } else {
                date("On (optional)", why.from).into_any()
            }}
        </div>
    }
}

/// Every check the completing admin must confirm, each a checkbox.
#[component]
pub fn Checklist(why: Why, checklist: Vec<String>) -> impl IntoView {
    let items = checklist
        .into_iter()
        .map(|item| {
            let (text, label) = (item.clone(), item.clone());
            let ticked = move || why.checked.read().contains(&item);
            view! {
                <label class="check">
                    <input type="checkbox" prop:checked=ticked
                        on:change=move |event| {
                            let on = event_target_checked(&event);
                            why.checked.update(|checked| {
                                checked.retain(|c| *c != text);
                                if on {
                                    checked.push(text.clone());
                                }
                            });
                        } />
                    {label}
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="checklist">
            <legend>"Before you complete it, confirm that:"</legend>
            {items}
        </fieldset>
    }
}

/// Everything the dialog asks of `change`: why always, when for a suspension, the checks for a
/// completion.
#[component]
pub fn ChangeQuestions(change: Change, why: Why) -> impl IntoView {
    let client = expect_context::<Client>();
    let rules = client.rules.clone();
    let checklist = rules.checklist.clone();
    // A suspension or reactivation of one person can be for later.
    let when = match change {
        Change::One { method, .. } if method != UserMethod::ResendRecovery => {
            Some(method == UserMethod::Suspend)
        }
        _ => None,
    };
    let completing =
        matches!(change, Change::Each(UserMethod::CompleteRecovery, _)) && !checklist.is_empty();
    view! {
        <WhyFields why rules recent=client.session.recent_tickets.clone() />
        {when.map(|suspending| view! { <WhenFields why suspending /> })}
        {completing.then(|| view! { <Checklist why checklist /> })}
    }
}

/// Whether the dialog holds all the rules ask: a reason and a ticket if required, every check
/// ticked for a completion.
pub fn complete(change: &Change, why: Why, rules: &ChangeRules) -> bool {
    let filled = |text: RwSignal<String>| !text.read().trim().is_empty();
    (!rules.require_reason || filled(why.reason))
        && (!rules.require_ticket || filled(why.ticket))
        && (!matches!(change, Change::Each(UserMethod::CompleteRecovery, _))
            || rules
                .checklist
                .iter()
                .all(|item| why.checked.read().contains(item)))
}

/// A date field's value (`YYYY-MM-DD`) at `hour:minute` local time, as RFC 3339.
pub fn local_time(date: &str, hour: i32, minute: i32) -> Option<String> {
    let mut parts = date.split('-').map(|part| part.parse::<i32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    let time = js_sys::Date::new_with_year_month_day_hr_min_sec(
        year as u32,
        month - 1,
        day,
        hour,
        minute,
        0,
    );
    time.to_iso_string().as_string()
}
