//! Request handlers, one module per resource.

pub mod audit;
pub mod meta;
pub mod oauth;
pub mod recovery;
pub mod users;
