//! Seats held while a restore runs: a restore the rules allow holds one of the product's
//! remaining seats in the store from its decision until the directory has answered, so that
//! restores deciding at the same moment cannot take more seats than are left.

use super::super::Context;
use super::super::outcome::WorkError;
use crate::directory::ProductAccess;
use crate::domain::rules::{Decision, Outcome};
use crate::domain::{Event, Product};

/// Holds a seat of the product for this event; `false` when every remaining seat is held.
pub(super) fn hold(
    ctx: &Context,
    event: &Event,
    access: &ProductAccess,
) -> Result<bool, WorkError> {
    let remaining = access.seats.remaining.filter(|_| !access.seats.unlimited);
    Ok(ctx
        .store
        .hold_seat(access.product.key(), event.id.as_str(), remaining)?)
}

/// Gives the event's seat back: the restore is done, refused, or handed back to the bus.
pub(super) fn release(ctx: &Context, event: &Event, product: Product) -> Result<(), WorkError> {
    Ok(ctx.store.release_seat(product.key(), event.id.as_str())?)
}

/// A restore the rules allow, but every seat left is held by restores under way: it waits for
/// an admin, as a restore into a full product does.
pub(super) fn all_held(decision: Decision, access: &ProductAccess) -> Decision {
    let left = access.seats.remaining.unwrap_or_default();
    Decision {
        outcome: Outcome::Approve,
        seat_capped: true,
        reason: format!(
            "{}, but {} has no seats left: the {left} left are held by restores under way; an \
             admin must approve",
            decision.reason,
            access.product.key(),
        ),
        ..decision
    }
}
