//! A portal ask: when the address is a directory user's, they are emailed a link that confirms
//! the request; otherwise nothing leaves (the portal's answer was the same either way).

use super::Context;
use super::outcome::{Handled, WorkError, base_entry, finish_with, processed};
use crate::domain::{AuditOutcome, Event};
use crate::links::{LinkSettings, Purpose};
use crate::notify::{Button, email_with_button};
use crate::store::EventOutcome;

pub(super) async fn send_confirmation(
    ctx: &Context,
    event: &Event,
    attempt: u32,
) -> Result<Handled, WorkError> {
    let mut calls = ctx.calls();
    let Some(user) = event.user.email.as_ref() else {
        let reason = "the ask names no email: no link sent".to_string();
        return finish_with(
            ctx,
            event,
            attempt,
            AuditOutcome::UnknownUser,
            reason,
            calls,
        )
        .await;
    };
    let found = match ctx.directory.find_user(None, user, &mut calls).await {
        Ok(found) => found,
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            let reason = e.to_string();
            return finish_with(ctx, event, attempt, AuditOutcome::Failed, reason, calls).await;
        }
    };
    let active = found.as_ref().is_some_and(|u| u.active);
    let Some(links) = ctx.links.as_ref().filter(|_| active) else {
        let reason = if found.is_some() {
            "the directory account is deactivated: no link sent"
        } else {
            "no directory account has this address: no link sent"
        };
        let outcome = AuditOutcome::UnknownUser;
        return finish_with(ctx, event, attempt, outcome, reason.into(), calls).await;
    };
    let mut outcome = EventOutcome::default();
    outcome
        .emails
        .push(confirmation(links, event, user, ctx.settings.spelling));
    let mut entry = base_entry(
        event,
        attempt,
        AuditOutcome::LinkSent,
        if event.source == crate::domain::Source::Mail {
            "mailed ask: confirmation link emailed"
        } else {
            "portal ask: confirmation link emailed"
        },
    );
    entry.product = event.product;
    entry.directory_calls = calls.take();
    outcome.audit.push(entry);
    outcome.processed = processed(ctx, event, AuditOutcome::LinkSent.key());
    ctx.store.record(outcome).await?;
    Ok(Handled::Done(vec![AuditOutcome::LinkSent]))
}

/// The email with the link that confirms the ask.
fn confirmation(
    links: &LinkSettings,
    event: &Event,
    user: &crate::domain::Email,
    sp: crate::domain::Spelling,
) -> crate::store::OutboxEmail {
    let purpose = if event.source == crate::domain::Source::Mail {
        Purpose::MailedRequest
    } else {
        Purpose::Request
    };
    let link = links.create(user, purpose, event.product, event.reason.clone());
    let what = event
        .product
        .map_or("your Atlassian products".to_string(), |p| {
            p.name().to_string()
        });
    let hours = links.ttl.as_secs() / 3600;
    let how = if event.source == crate::domain::Source::Mail {
        "by mailing reinstate"
    } else {
        "on the reinstate portal"
    };
    email_with_button(
        sp,
        "portal_confirmation",
        &[user.to_string()],
        format!("[reinstate] Confirm your request for {what}"),
        format!(
            "Someone, hopefully you, asked for access to {what} {how}.\n\n\
             To confirm, open this link (valid {hours} hours, once) and press the button:\n{link}\n\n\
             If it was not you, ignore this email: nothing happens without the button."
        ),
        Button {
            label: "Open the confirmation page",
            url: &link,
        },
    )
}
