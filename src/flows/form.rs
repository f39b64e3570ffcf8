//! reinstate's form in Slack, shown to who opened it: the modal to ask (a shortcut's or the
//! App Home button's trigger) or the App Home's page with the button that opens it. Nothing is
//! decided here; the modal's submission is a request like any other.

use serde_json::json;

use super::Context;
use super::outcome::{Handled, WorkError, finish_with, processed};
use crate::directory::CallLog;
use crate::domain::{AuditOutcome, Event};
use crate::store::{EventOutcome, OutboxPost};

/// Shows reinstate's form to who opened it in Slack, through the outbox: the modal to ask
/// (`views.open` with the trigger, which Slack takes for three seconds) or, when the App Home
/// opened, its page with the button that opens the modal (`views.publish`). Nothing is decided,
/// so nothing is audited.
pub(super) async fn show(ctx: &Context, event: &Event, attempt: u32) -> Result<Handled, WorkError> {
    let Some(chat) = &event.chat else {
        let why = "a form event that names no one".to_string();
        let outcome = AuditOutcome::UnusableEvent;
        return finish_with(ctx, event, attempt, outcome, why, CallLog::default()).await;
    };
    let sp = ctx.settings.spelling;
    let post = match &chat.trigger {
        Some(trigger) => {
            let body = json!({"trigger_id": trigger, "view": modal(sp)});
            OutboxPost::slack_api("slack_form", "views.open", body)
        }
        None => {
            let body = json!({"user_id": chat.user, "view": home(sp)});
            OutboxPost::slack_api("slack_home", "views.publish", body)
        }
    };
    let mut out = EventOutcome::default();
    out.posts.push(post);
    out.processed = processed(ctx, event, "form_shown");
    ctx.store.record(out).await?;
    Ok(Handled::Done(Vec::new()))
}

/// The modal to ask: the product (a choice of those reinstate gives back) and why.
fn modal(sp: crate::domain::Spelling) -> serde_json::Value {
    use crate::sources::slack_forms::{CALLBACK, PRODUCT_BLOCK, REASON_BLOCK};
    let plain = |text: &str| json!({"type": "plain_text", "text": text});
    let options: Vec<serde_json::Value> = [
        crate::domain::Product::JiraSoftware,
        crate::domain::Product::Confluence,
        crate::domain::Product::JiraServicedesk,
    ]
    .iter()
    .map(|p| json!({"text": plain(p.name()), "value": p.key()}))
    .collect();
    json!({
        "type": "modal",
        "callback_id": CALLBACK,
        "title": plain("Ask for access"),
        "submit": plain("Ask"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": super::chat::mrkdwn(&sp.say(
                "Your organisation's rules give the licence back at once, or ask an approver. \
                 The answer comes as a message from this app."))}},
            {"type": "input", "block_id": PRODUCT_BLOCK, "label": plain("Product"),
             "element": {"type": "static_select", "action_id": PRODUCT_BLOCK,
                         "placeholder": plain("Choose a product"), "options": options}},
            {"type": "input", "block_id": REASON_BLOCK, "optional": true, "label": plain("Why"),
             "element": {"type": "plain_text_input", "action_id": REASON_BLOCK,
                         "multiline": true, "max_length": 500}},
        ],
    })
}

/// The App Home page: what the app does, and the button that opens the modal.
fn home(sp: crate::domain::Spelling) -> serde_json::Value {
    let text = sp.say(
        "Lost your Jira, Confluence or Service Management licence after a while away? Ask for \
         it back here, or type /access jira in any conversation.",
    );
    json!({
        "type": "home",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": super::chat::mrkdwn(&text)}},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": crate::sources::slack_forms::OPEN_FORM,
                 "style": "primary", "text": {"type": "plain_text", "text": "Ask for access"}},
            ]},
        ],
    })
}
