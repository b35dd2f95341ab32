//! Request handlers, one module per resource.

pub mod meta;
pub mod users;
