//! The server's integration tests, in one binary so that they link once: each module is one
//! area, and every test starts a real Keydesk on a free loopback port over fresh SQLite files
//! ([`common::TestApp`]).

mod audit_keep;
mod backup;
mod changes;
mod check_config;
mod common;
mod contract;
mod database_file;
mod events;
mod export;
mod fault_proxy;
mod faults;
mod limits;
mod oauth;
mod op_standin;
mod packaging;
mod page_and_meta;
mod recovery;
mod schedule;
mod search;
mod sso;
mod tls;
mod upgrade;
mod upstream;
mod users_api;
mod watch;
