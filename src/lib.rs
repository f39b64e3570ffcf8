//! reinstate runs the life of an Atlassian licence: it restores a licence when a user comes back
//! (a login, a request, a link, an admin's approval), as the admins' rules allow, and records
//! every decision. See ARCHITECTURE.md for the flow and a map of these modules:
//! sources → flows::intake → bus → worker → flows (rules → directory) → store.

pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod directory;
pub mod domain;
pub mod flows;
pub mod fuzzing;
pub mod http;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod periodic;
pub mod sandbox;
pub mod sources;
pub mod startup;
pub mod store;
pub mod worker;

pub use config::Config;
pub use startup::{Application, SandboxInUse};

#[cfg(test)]
mod parse_props;
