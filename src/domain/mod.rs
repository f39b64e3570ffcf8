//! Pure types and decisions, below everything that uses them: who (`Email`), what (`Product`,
//! `GroupRef`, `Seats`), the `Event` every source is normalised into, what handling it came to
//! (`AuditOutcome`), and the admins' rules. No I/O.

mod account;
mod email;
mod event;
mod outcome;
mod problems;
mod product;
pub mod reclaim;
pub mod rules;
mod spelling;

pub use account::{AccountStatus, AccountType, product_key, restorable};
pub use email::{Email, InvalidEmail, short_hash};
pub use event::{
    ChatAsker, Event, EventId, EventKind, EventUser, JsmChange, JsmDelivery, MAX_USERNAME, Source,
    bus_event_schema, parse_username,
};
pub use outcome::{AuditOutcome, DirectoryCall};
pub use problems::Problems;
pub use product::{GroupInput, GroupRef, Product, Seats};
pub use spelling::{LOCALES, Spelling};
