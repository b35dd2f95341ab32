//! Request handlers, one module per resource.

pub mod meta;
pub mod recovery;
pub mod users;
