//! Schemas the OpenAPI document needs that a type alone cannot say: the values a text
//! parameter accepts, written from the same lists the parsers use.

use utoipa::openapi::{
    Array, KnownFormat, Object, OneOf, RefOr, Schema, SchemaFormat, Type,
    schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType},
};

use crate::{
    ApiFilter, AuditAction, AuditOutcome, MAX_RECOVERY_BATCH, MIN_PASSWORD_CHARS, OrderField,
    UserState,
};

fn one_of(values: impl IntoIterator<Item = String>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(values))
}

/// `filter`: the Users API's two filters, or empty for everyone.
pub fn filter_schema() -> Object {
    let filters = [ApiFilter::IsActive, ApiFilter::IsSuspended];
    one_of(std::iter::once(String::new()).chain(filters.iter().map(|f| f.as_str().to_owned())))
        .build()
}

/// `state`: every state Keydesk knows, or empty for any.
pub fn state_schema() -> Object {
    let states = UserState::KNOWN.iter().map(|s| s.as_str().to_owned());
    one_of(std::iter::once(String::new()).chain(states)).build()
}

/// `order_by`: a field, optionally followed by ` asc` or ` desc`; empty for the default.
pub fn order_by_schema() -> Object {
    let mut orders = vec![String::new()];
    for field in OrderField::ALL {
        for suffix in ["", " asc", " desc"] {
            orders.push(format!("{}{suffix}", field.as_str()));
        }
    }
    one_of(orders).build()
}

/// The 26 characters of an account or user ID.
pub const ID_PATTERN: &str = "^[A-Z2-7]{26}$";

/// A path parameter holding an ID.
pub fn id_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some(ID_PATTERN))
        .min_length(Some(26))
        .max_length(Some(26))
        .into()
}

/// `users` of beginning recovery: one to ten names, IDs or emails, none blank and none with a
/// control character.
pub fn recovery_names_schema() -> Array {
    const NAME: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";
    let name = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some(NAME))
        .min_length(Some(1))
        .max_length(Some(320));
    ArrayBuilder::new()
        .items(name)
        .min_items(Some(1))
        .max_items(Some(MAX_RECOVERY_BATCH))
        .build()
}

/// A new account password.
pub fn password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(1000))
        .build()
}

/// An audit filter's `action`: one of the actions, or empty for any.
pub fn audit_action_schema() -> Object {
    let actions = AuditAction::ALL.iter().map(|a| a.as_str().to_owned());
    one_of(std::iter::once(String::new()).chain(actions)).build()
}

/// An audit filter's `outcome`: one of the outcomes, or empty for any.
pub fn audit_outcome_schema() -> Object {
    let outcomes = AuditOutcome::ALL.iter().map(|o| o.as_str().to_owned());
    one_of(std::iter::once(String::new()).chain(outcomes)).build()
}

/// `since` and `until`: an RFC 3339 time, or empty for no bound.
pub fn time_or_empty_schema() -> RefOr<Schema> {
    let one_of: OneOf = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .max_length(Some(0)),
        )
        .build();
    Schema::OneOf(one_of).into()
}

/// A page size: 1 to `max`, or empty for the default.
fn page_size_or_empty(max: u32) -> RefOr<Schema> {
    let one_of: OneOf = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Integer))
                .minimum(Some(1))
                .maximum(Some(max)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .max_length(Some(0)),
        )
        .build();
    Schema::OneOf(one_of).into()
}

/// `max_page_size`: 1 to 1000, or empty for the default.
pub fn page_size_schema() -> RefOr<Schema> {
    page_size_or_empty(crate::MAX_PAGE_SIZE)
}

/// `user_id` as a filter: an ID, or empty for none.
pub fn id_or_empty_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .pattern(Some(format!(
            "^({})?$",
            ID_PATTERN.trim_start_matches('^').trim_end_matches('$')
        )))
        .into()
}
