//! Requests made in a chat app (a Slack slash command, a message to the Teams bot): who asked,
//! by the email the app holds for the person its signed request named; the answer, posted
//! where the app said (Slack's `response_url`, a reply to the Teams activity) through the
//! outbox, written with the outcome it tells; and the message asking the approvers' channel to
//! decide (the click is `decide`'s).

use serde_json::json;

use super::Context;
use super::lookup::Stop;
use crate::directory::CallLog;
use crate::directory::botframework::TeamsPerson;
use crate::directory::slack::SlackPerson;
use crate::domain::{AuditOutcome, Email, Event, EventKind, Source};
use crate::sources::slack::{APPROVE, DENY};
use crate::store::{EventOutcome, OutboxPost, RequestRecord};

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
    if event.source == Source::Teams {
        let (Some(teams), Some(lookup)) = (ctx.settings.teams.as_ref(), chat.lookup.as_ref())
        else {
            return Err(Stop::End(
                AuditOutcome::Failed,
                "a Teams request, and no Teams bot secret to ask who sent it \
                 (sources.teams.app_secret)"
                    .into(),
            ));
        };
        return match teams.person(lookup, calls).await? {
            TeamsPerson::Email(email) => {
                let mut asked = event.clone();
                asked.user.email = Some(email);
                Ok(Some(asked))
            }
            TeamsPerson::Not(why) => Err(Stop::End(AuditOutcome::UnknownUser, why)),
        };
    }
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
/// line per product decided, in the organisation's spelling. The answer to a click on a
/// request's button replaces the request's message with who decided and what came of it;
/// a click that changed nothing is answered to the one who clicked only.
pub(super) fn reply(ctx: &Context, event: &Event, out: &mut EventOutcome) {
    let Some(chat) = &event.chat else {
        return;
    };
    if event.request.is_some() {
        return reply_to_decision(ctx, event, chat, out);
    }
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
    if event.source == Source::Teams {
        let mut body = json!({"type": "message", "textFormat": "plain", "text": text});
        if event.kind == EventKind::Unusable {
            body["attachments"] = json!([asking_card()]);
        }
        out.posts.push(OutboxPost::teams(
            "teams_reply",
            "POST",
            &chat.reply_url,
            body,
        ));
        return;
    }
    if chat.reply_url.is_empty() {
        // Asked in the form (a modal has no answer address): a direct message from the app.
        let body = json!({"channel": chat.user, "text": text});
        out.posts.push(OutboxPost::slack_api(
            "slack_reply",
            "chat.postMessage",
            body,
        ));
        return;
    }
    let body = json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": text,
    });
    out.posts
        .push(OutboxPost::new("slack_reply", &chat.reply_url, body));
}

fn reply_to_decision(
    ctx: &Context,
    event: &Event,
    chat: &crate::domain::ChatAsker,
    out: &mut EventOutcome,
) {
    let by = chat
        .email
        .as_ref()
        .map_or("someone".to_string(), |e| e.to_string());
    let Some(entry) = out.audit.last() else {
        return;
    };
    let requester = entry
        .user
        .as_ref()
        .map_or("the requester".into(), |u| u.to_string());
    let product = entry
        .product
        .or(event.product)
        .map_or("access", |p| p.name());
    let decided = |text: String| (text, true);
    let (text, replace) = match entry.outcome {
        AuditOutcome::Restored => decided(format!(
            "Approved by {by}: {requester} has {product} again."
        )),
        AuditOutcome::AlreadyLicensed => decided(format!(
            "Approved by {by}: {requester} already had {product}, nothing needed to change."
        )),
        AuditOutcome::Denied if event.kind == EventKind::Decline => {
            decided(format!("Denied by {by}: {requester} is told by email."))
        }
        AuditOutcome::Failed => decided(format!(
            "Approved by {by}, but restoring {product} for {requester} failed; the audit log \
             says why."
        )),
        _ => (format!("Nothing changed: {}", entry.reason), false),
    };
    let text = ctx.settings.spelling.say(&text).into_owned();
    if event.source == Source::Teams {
        // The card is replaced by who decided; a click that changed nothing is answered
        // under the card.
        let post = if replace {
            let card = card(
                &[json!({"type": "TextBlock", "text": text, "wrap": true})],
                &[],
            );
            let body = json!({"type": "message", "attachments": [card]});
            OutboxPost::teams("teams_decision", "PUT", &chat.reply_url, body)
        } else {
            let body = json!({"type": "message", "textFormat": "plain", "text": text});
            OutboxPost::teams("teams_decision", "POST", &chat.reply_url, body)
        };
        out.posts.push(post);
        return;
    }
    let body = if replace {
        json!({"replace_original": true, "response_type": "in_channel", "text": text})
    } else {
        json!({"replace_original": false, "response_type": "ephemeral", "text": text})
    };
    out.posts
        .push(OutboxPost::new("slack_decision", &chat.reply_url, body));
}

/// The message asking the approvers' channel to decide `request`, with *Approve* and *Deny*
/// (Block Kit buttons whose value is the request's id).
pub(super) fn approval_message(
    ctx: &Context,
    channel: &str,
    request: &RequestRecord,
) -> OutboxPost {
    let (text, footer) = approval_text(ctx, request);
    let body = json!({
        "channel": channel,
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(&text)}},
            {"type": "context", "elements": [{"type": "mrkdwn",
                "text": mrkdwn(&footer)}]},
            {"type": "actions", "block_id": format!("reinstate-{}", request.id), "elements": [
                {"type": "button", "action_id": APPROVE, "style": "primary", "value": request.id,
                 "text": {"type": "plain_text", "text": "Approve"}},
                {"type": "button", "action_id": DENY, "style": "danger", "value": request.id,
                 "text": {"type": "plain_text", "text": "Deny"}},
            ]},
        ],
    });
    OutboxPost::slack_api("slack_approval", "chat.postMessage", body)
}

/// The card asking the Teams approvers' conversation to decide `request`, with *Approve* and
/// *Deny* (`Action.Submit`, whose data names the request: Teams sends a click as a message
/// whose `value` is that data).
pub(super) fn approval_card(
    ctx: &Context,
    (service_url, conversation): &(String, String),
    request: &RequestRecord,
) -> OutboxPost {
    let (text, footer) = approval_text(ctx, request);
    let submit = |title: &str, style: &str, what: &str| {
        json!({"type": "Action.Submit", "title": title, "style": style,
               "data": {"reinstate": what, "request": request.id}})
    };
    let card = card(
        &[
            json!({"type": "TextBlock", "text": text, "wrap": true}),
            json!({"type": "TextBlock", "text": footer, "wrap": true, "isSubtle": true, "size": "Small"}),
        ],
        &[
            submit("Approve", "positive", crate::sources::teams::APPROVE),
            submit("Deny", "destructive", crate::sources::teams::DENY),
        ],
    );
    let url = format!(
        "{}/v3/conversations/{}/activities",
        service_url.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(conversation, percent_encoding::NON_ALPHANUMERIC)
    );
    let body = json!({"type": "message", "attachments": [card]});
    OutboxPost::teams("teams_approval", "POST", &url, body)
}

/// The card to ask in Teams: the product (a choice of those reinstate gives back) and why,
/// sent with `Action.Submit` (its data and inputs come back as the message's `value`).
fn asking_card() -> serde_json::Value {
    use crate::domain::Product;
    let choices: Vec<serde_json::Value> = [
        Product::JiraSoftware,
        Product::Confluence,
        Product::JiraServicedesk,
    ]
    .iter()
    .map(|p| json!({"title": p.name(), "value": p.key()}))
    .collect();
    card(
        &[
            json!({"type": "TextBlock", "text": "Ask for access", "weight": "Bolder", "wrap": true}),
            json!({"type": "Input.ChoiceSet", "id": "product", "label": "Product", "isRequired": true,
                   "errorMessage": "Choose a product", "choices": choices}),
            json!({"type": "Input.Text", "id": "reason", "label": "Why", "isMultiline": true, "maxLength": 500}),
        ],
        &[
            json!({"type": "Action.Submit", "title": "Ask", "style": "positive",
                 "data": {"reinstate": crate::sources::teams::ASK}}),
        ],
    )
}

/// An Adaptive Card attachment (schema 1.4, which Teams renders) of these elements and actions.
fn card(body: &[serde_json::Value], actions: &[serde_json::Value]) -> serde_json::Value {
    json!({
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": body,
            "actions": actions,
        },
    })
}

/// What an approval message says: who asks for what and why it waits, and its request's id
/// and expiry.
fn approval_text(ctx: &Context, request: &RequestRecord) -> (String, String) {
    let sp = ctx.settings.spelling;
    let days = (ctx.settings.requests.expire_after.as_secs() / 86_400).max(1);
    let text = sp
        .say(&format!(
            "{} asks for {} (through {}). Why it waits: {}",
            request.email,
            request.product.name(),
            request.source.key(),
            request.reason
        ))
        .into_owned();
    let footer = format!(
        "Request {} · expires in {days} days unless decided",
        request.id
    );
    (text, footer)
}

/// A reclamation's warning as a direct message from the Slack app to the member whose email is
/// `email`, with the keep link as its button (the same signed link as the email's: it works
/// once, for that user only, whoever opens it).
pub(super) fn warning_dm(ctx: &Context, email: &Email, text: &str, link: &str) -> OutboxPost {
    let text = ctx.settings.spelling.say(text).into_owned();
    let body = json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn(&text)}},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": "reinstate_keep_link", "style": "primary",
                 "url": link, "text": {"type": "plain_text", "text": "Keep my access"}},
            ]},
        ],
    });
    OutboxPost::slack_dm("reclaim_warning", email.as_str(), body)
}

/// Text for Slack's `mrkdwn`: `&`, `<` and `>` escaped, as Slack asks ("Escaping text").
pub(super) fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
