//! The query parameters of `GET …/users`, and their parsed forms.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::user::UserState;

/// `max_page_size` when the request does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// The largest `max_page_size` the Users API allows.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Rows the users page asks for at a time. The server renders as many first rows into the page
/// it sends, so that they show before the app has started: both must agree.
pub const USERS_PAGE_ROWS: u32 = 50;

/// `max_page_size` as written in a query string: absent or empty means `default`; otherwise digits only (no sign, no spaces inside), from 1 to
/// [`MAX_PAGE_SIZE`].
pub fn parse_page_size(text: Option<&str>, default: u32) -> Result<u32, String> {
    // Exactly as the OpenAPI document says: digits, or nothing for the default.
    let text = match text {
        None | Some("") => return Ok(default),
        Some(text) => text,
    };
    match text.parse::<u32>() {
        Ok(size)
            if text.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_PAGE_SIZE).contains(&size) =>
        {
            Ok(size)
        }
        _ => Err(format!(
            "max_page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, not '{}'",
            text.chars().take(20).collect::<String>()
        )),
    }
}

/// The list parameters exactly as they travel in the query string. Every field is text so that
/// the server, not the framework, decides what is wrong with a bad value and says so.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListUsersParams {
    /// `user.isActive()` or `user.isSuspended()`; empty for everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::filter_schema))]
    pub filter: Option<String>,
    /// 1 to 1000; 25 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::page_size_schema))]
    pub max_page_size: Option<String>,
    /// The previous response's `next_page_token`, unchanged: it is signed, and tied to the
    /// query that gave it (a token made up or altered is refused with 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Keydesk extension: text matched against name, email and ID, ignoring case and accents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub q: Option<String>,
    /// Keydesk extension: only users in this state (any state, for example `RECOVERY_STARTED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::state_schema))]
    pub state: Option<String>,
    /// Keydesk extension: `display_name`, `email`, `state` or `create_time`, then optionally
    /// ` asc` or ` desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::openapi::order_by_schema))]
    pub order_by: Option<String>,
}

impl ListUsersParams {
    /// The parameters that are set, as name/value pairs for a query string.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("filter", &self.filter),
            ("max_page_size", &self.max_page_size),
            ("page_token", &self.page_token),
            ("q", &self.q),
            ("state", &self.state),
            ("order_by", &self.order_by),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// The Users API's own `filter` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiFilter {
    IsActive,
    IsSuspended,
}

impl ApiFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFilter::IsActive => "user.isActive()",
            ApiFilter::IsSuspended => "user.isSuspended()",
        }
    }

    pub fn state(self) -> UserState {
        match self {
            ApiFilter::IsActive => UserState::Active,
            ApiFilter::IsSuspended => UserState::Suspended,
        }
    }

    /// `Ok(None)` for the empty filter (everyone).
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        match text {
            "" => Ok(None),
            "user.isActive()" => Ok(Some(ApiFilter::IsActive)),
            "user.isSuspended()" => Ok(Some(ApiFilter::IsSuspended)),
            other => Err(format!(
                "filter '{}' is not supported: use user.isActive() or user.isSuspended(), or leave it empty",
                other.chars().take(100).collect::<String>()
            )),
        }
    }
}

/// The columns a list can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderField {
    DisplayName,
    Email,
    State,
    CreateTime,
}

impl OrderField {
    pub const ALL: [OrderField; 4] = [
        OrderField::DisplayName,
        OrderField::Email,
        OrderField::State,
        OrderField::CreateTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderField::DisplayName => "display_name",
            OrderField::Email => "email",
            OrderField::State => "state",
            OrderField::CreateTime => "create_time",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

impl SortDirection {
    pub fn flipped(self) -> Self {
        match self {
            SortDirection::Asc => SortDirection::Desc,
            SortDirection::Desc => SortDirection::Asc,
        }
    }
}

/// A sort order: `display_name`, `email desc`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderBy {
    pub field: OrderField,
    pub direction: SortDirection,
}

impl Default for OrderBy {
    fn default() -> Self {
        OrderBy {
            field: OrderField::DisplayName,
            direction: SortDirection::Asc,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "order_by '{0}' is not supported: use display_name, email, state or create_time, optionally followed by asc or desc"
)]
pub struct ParseOrderByError(pub String);

impl std::str::FromStr for OrderBy {
    type Err = ParseOrderByError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Exactly `field`, `field asc` or `field desc`, as the OpenAPI document lists them.
        let fail = || ParseOrderByError(text.chars().take(100).collect());
        let (field_name, direction) = match text.split_once(' ') {
            None => (text, SortDirection::Asc),
            Some((field, "asc")) => (field, SortDirection::Asc),
            Some((field, "desc")) => (field, SortDirection::Desc),
            Some(_) => return Err(fail()),
        };
        let field = OrderField::ALL
            .into_iter()
            .find(|f| f.as_str() == field_name)
            .ok_or_else(fail)?;
        Ok(OrderBy { field, direction })
    }
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.direction {
            SortDirection::Asc => f.write_str(self.field.as_str()),
            SortDirection::Desc => write!(f, "{} desc", self.field.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_plain_digits_in_range() {
        assert_eq!(
            parse_page_size(None, DEFAULT_PAGE_SIZE),
            Ok(DEFAULT_PAGE_SIZE)
        );
        assert_eq!(parse_page_size(Some(""), 50), Ok(50));
        assert_eq!(parse_page_size(Some("1000"), 1), Ok(1000));
        for bad in ["+5", "0", "1001", "-1", "5.0", "five", "1 0", " 7 ", " "] {
            let err = parse_page_size(Some(bad), 1).unwrap_err();
            assert!(err.contains("1 to 1000"), "{bad}: {err}");
        }
    }

    #[test]
    fn order_by_round_trips() {
        for text in ["display_name", "email desc", "state", "create_time desc"] {
            let order: OrderBy = text.parse().unwrap();
            assert_eq!(order.to_string(), text);
        }
        assert_eq!("email asc".parse::<OrderBy>().unwrap().to_string(), "email");
    }

    #[test]
    fn order_by_refuses_unknown_fields_and_directions() {
        assert!("password".parse::<OrderBy>().is_err());
        assert!("email sideways".parse::<OrderBy>().is_err());
        assert!("email desc extra".parse::<OrderBy>().is_err());
        assert!("".parse::<OrderBy>().is_err());
        assert!("email  desc".parse::<OrderBy>().is_err());
        assert!(" email".parse::<OrderBy>().is_err());
    }

    #[test]
    fn filter_accepts_only_the_documented_values() {
        assert_eq!(ApiFilter::parse(""), Ok(None));
        assert_eq!(
            ApiFilter::parse("user.isSuspended()"),
            Ok(Some(ApiFilter::IsSuspended))
        );
        let err = ApiFilter::parse("user.isDeleted()").unwrap_err();
        assert!(err.contains("user.isDeleted()"), "{err}");
    }

    #[test]
    fn pairs_skip_unset_parameters() {
        let params = ListUsersParams {
            q: Some("ann".into()),
            ..Default::default()
        };
        assert_eq!(params.pairs(), vec![("q", "ann")]);
    }
}
