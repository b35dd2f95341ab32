//! The users list's view as its address describes it (`/?q=…&state=…&order_by=…`): read the same
//! way by the page, and by the server when it writes the list's first rows into the page.

use crate::{ListUsersParams, OrderBy, USERS_PAGE_ROWS, UserState};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsersView {
    pub q: String,
    pub state: String,
    pub order: OrderBy,
}

impl UsersView {
    /// From the address's query pairs, already decoded: the first `q`, `state` and `order_by`;
    /// an order that cannot be read is the default.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut view = UsersView::default();
        let (mut q, mut state, mut order) = (None, None, None);
        for (name, value) in pairs {
            let slot = match name {
                "q" => &mut q,
                "state" => &mut state,
                "order_by" => &mut order,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        view.q = q.unwrap_or_default().to_owned();
        view.state = state.unwrap_or_default().to_owned();
        view.order = order.and_then(|text| text.parse().ok()).unwrap_or_default();
        view
    }

    /// The address's query pairs for this view; defaults are left out so links stay short.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if !self.state.is_empty() {
            pairs.push(("state", self.state.clone()));
        }
        if self.order != OrderBy::default() {
            pairs.push(("order_by", self.order.to_string()));
        }
        pairs
    }

    /// The request for one page of this view.
    pub fn list_params(&self, page_token: Option<String>) -> ListUsersParams {
        let non_empty = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        ListUsersParams {
            max_page_size: Some(USERS_PAGE_ROWS.to_string()),
            page_token,
            q: non_empty(&self.q),
            state: non_empty(&self.state),
            order_by: Some(self.order.to_string()),
            ..ListUsersParams::default()
        }
    }

    /// The people waiting for their recovery to be completed.
    pub fn is_awaiting_completion(&self) -> bool {
        self.state == UserState::RecoveryAccepted.as_str()
    }

    /// The list's heading.
    pub fn heading(&self) -> &'static str {
        if self.is_awaiting_completion() {
            "Recoveries awaiting completion"
        } else {
            "Users"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrderField, SortDirection};

    #[test]
    fn the_first_of_each_is_read_and_a_bad_order_is_the_default() {
        let view = UsersView::from_pairs([
            ("q", "zoë l"),
            ("state", "ACTIVE"),
            ("q", "other"),
            ("order_by", "nonsense"),
        ]);
        assert_eq!(view.q, "zoë l");
        assert_eq!(view.state, "ACTIVE");
        assert_eq!(view.order, OrderBy::default());
        let view = UsersView::from_pairs([("order_by", "email desc")]);
        assert_eq!(
            view.order,
            OrderBy {
                field: OrderField::Email,
                direction: SortDirection::Desc
            }
        );
    }

    #[test]
    fn pairs_leave_defaults_out() {
        assert!(UsersView::default().pairs().is_empty());
        let view = UsersView::from_pairs([("state", "RECOVERY_ACCEPTED"), ("order_by", "email")]);
        assert_eq!(
            view.pairs(),
            [
                ("state", "RECOVERY_ACCEPTED".to_owned()),
                ("order_by", "email".to_owned())
            ]
        );
        assert_eq!(view.heading(), "Recoveries awaiting completion");
    }
}
