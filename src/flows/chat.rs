//! Requests made in a chat app (a Slack slash command): who asked, by the email the app holds
//! for the person its signed request named; and the answer, posted where the app said
//! (`response_url`) through the outbox, written with the outcome it tells.

use serde_json::json;

use super::Context;
use super::lookup::Stop;
use crate::directory::CallLog;
use crate::directory::slack::SlackPerson;
use crate::domain::{AuditOutcome, Event};
use crate::store::{EventOutcome, OutboxPost};

/// The event as if it had named the person's email, when a chat app's person asked and the
/// email is not known yet; `None` when the event is not such a request.
pub(super) async fn who_asked(
    ctx: &Context,
    event: &Event,
    calls: &mut CallLog,
) -> Result<Option<Event>, Stop> {
    let Some(chat) = event.chat.as_ref().filter(|_| event.user.email.is_none()) else {
        return Ok(None);
    };
    let Some(slack) = ctx.settings.slack.as_ref() else {
        return Err(Stop::End(
            AuditOutcome::Failed,
            "a Slack request, and no Slack bot token to ask who sent it (sources.slack.bot_token)"
                .into(),
        ));
    };
    match slack.person(&chat.user, calls).await? {
        SlackPerson::Email(email) => {
            let mut asked = event.clone();
            asked.user.email = Some(email);
            Ok(Some(asked))
        }
        SlackPerson::Not(why) => Err(Stop::End(AuditOutcome::UnknownUser, why)),
    }
}

/// Queues the answer to a chat app's request, in `out`, from the audit entries it holds: one
/// line per product decided, in the organisation's spelling.
pub(super) fn reply(ctx: &Context, event: &Event, out: &mut EventOutcome) {
    let Some(chat) = &event.chat else {
        return;
    };
    let lines: Vec<String> = out
        .audit
        .iter()
        .map(|entry| {
            let product = entry
                .product
                .or(event.product)
                .map_or("access", |p| p.name());
            match entry.outcome {
                AuditOutcome::Restored => {
                    format!("Restored {product}. It may take a minute to show in the product.")
                }
                AuditOutcome::AlreadyLicensed => {
                    format!("You already have {product}: nothing needed to change.")
                }
                AuditOutcome::ApprovalRequired => format!(
                    "Your request for {product} is waiting for an approver; you will get an email \
                     when it is decided."
                ),
                AuditOutcome::Denied => match &entry.message {
                    Some(m) => format!("Denied: {} \u{201c}{m}\u{201d}", entry.reason),
                    None => format!("Denied: {}", entry.reason),
                },
                AuditOutcome::Failed => format!(
                    "Restoring {product} failed; your administrators can see why in reinstate's \
                     audit log."
                ),
                other => format!(
                    "Nothing was done for {product} ({}): {}",
                    other.key().replace('_', " "),
                    entry.reason
                ),
            }
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    let text = ctx.settings.spelling.say(&lines.join("\n")).into_owned();
    let body = json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": text,
    });
    out.posts
        .push(OutboxPost::new("slack_reply", &chat.reply_url, body));
}
