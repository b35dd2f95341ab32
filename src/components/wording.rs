//! What the page calls each change, written once: the row's button, the dialog's title, confirm
//! button and consequence, and the notice afterwards. The rules (who may, from which state) are
//! `keydesk_api`'s; this is only the words.

use keydesk_api::UserMethod;

use super::row_action::RowAction;

pub struct Words {
    /// The row's button and the person page's: "Suspend".
    pub action: &'static str,
    /// The dialog's confirm button, and its label while the change runs.
    pub confirm: (&'static str, &'static str),
    /// The dialog's title, before and after the name of who it is for (or "3 people").
    pub title: (&'static str, &'static str),
    /// What the change does, in the dialog.
    pub consequence: &'static str,
    /// The notice once it is done for one person, before and after their name and email.
    pub done: (&'static str, &'static str),
}

const SUSPEND: Words = Words {
    action: "Suspend",
    confirm: ("Suspend", "Suspending…"),
    title: ("Suspend ", "?"),
    consequence: "They will be signed out and unable to use 1Password until someone reactivates \
                  them. Their data is kept.",
    done: ("Suspended ", "."),
};

const REACTIVATE: Words = Words {
    action: "Reactivate",
    confirm: ("Reactivate", "Reactivating…"),
    title: ("Reactivate ", "?"),
    consequence: "They will be able to sign in and use 1Password again, with the access they had \
                  before.",
    done: ("Reactivated ", "."),
};

const RESEND: Words = Words {
    action: "Resend email",
    confirm: ("Send new email", "Sending…"),
    title: ("Send ", " a new recovery email?"),
    consequence: "They get a new email with a new recovery link. The link in the earlier email \
                  stops working.",
    done: (
        "Sent ",
        " a new recovery email; the earlier link no longer works.",
    ),
};

const COMPLETE: Words = Words {
    action: "Complete recovery",
    confirm: ("Complete recovery", "Completing…"),
    title: ("Complete recovery for ", "?"),
    consequence: "They can sign in again with their new password and Secret Key. They must sign \
                  in again on every device, and their two-factor authentication is reset.",
    done: ("Completed recovery for ", "."),
};

const BEGIN: Words = Words {
    action: "Begin recovery",
    confirm: ("Begin recovery", "Beginning…"),
    title: ("Begin recovery for ", "?"),
    // The dialog lists what recovery does, step by step (changes.rs).
    consequence: "",
    done: ("Recovery begun for ", "."),
};

impl RowAction {
    pub fn words(self) -> &'static Words {
        match self {
            RowAction::Method(UserMethod::Suspend) => &SUSPEND,
            RowAction::Method(UserMethod::Reactivate) => &REACTIVATE,
            RowAction::Method(UserMethod::ResendRecovery) => &RESEND,
            RowAction::Method(UserMethod::CompleteRecovery) => &COMPLETE,
            RowAction::BeginRecovery => &BEGIN,
        }
    }

    pub fn label(self) -> &'static str {
        self.words().action
    }
}
