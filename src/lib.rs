//! reinstate: gives Atlassian users their product licence back, without an admin ticket, when
//! the organisation's rules allow it. See DESIGN.md for the flow:
//! ingress → bus → worker (rules → directory) → store.

pub mod admin;
pub mod app;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod directory;
pub mod event;
pub mod http_error;
pub mod ingress;
pub mod jsm;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod portal;
pub mod rules;
pub mod sandbox;
pub mod signature;
pub mod store;
pub mod worker;

pub use app::Application;
pub use config::Config;

#[cfg(test)]
mod parse_props;
