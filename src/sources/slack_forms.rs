//! reinstate's form in Slack: a global shortcut or a message shortcut (`shortcut`,
//! `message_action`, <https://api.slack.com/interactivity/shortcuts>) or the App Home's *Ask
//! for access* button (`block_actions`) opens a modal (product, why) with the `trigger_id` the
//! payload carries; its submission (`view_submission`,
//! <https://api.slack.com/reference/interaction-payloads/views>) is a request as the slash
//! command's is; and the Events API's `app_home_opened`
//! (<https://api.slack.com/events/app_home_opened>) shows the App Home page with that button.
//! Every one is signed as the slash command is (`SlackSource::authenticate`, by the receiver);
//! a `trigger_id` lasts three seconds, so the receiver only publishes and the worker opens the
//! modal through the outbox.

use serde_json::Value;
use time::OffsetDateTime;

use super::Rejected;
use super::slack::{SlackSource, request_id};
use crate::domain::{ChatAsker, Event, EventKind, EventUser, Product, Source};

/// The `callback_id` of the shortcuts (the app manifest's) and of the modal.
pub const CALLBACK: &str = "reinstate_ask";
/// The App Home button's `action_id`.
pub const OPEN_FORM: &str = "reinstate_open_form";
/// The modal's blocks and their inputs.
pub const PRODUCT_BLOCK: &str = "product";
pub const REASON_BLOCK: &str = "reason";

/// What the Events API sent, once authenticated.
#[derive(Debug)]
pub enum Delivered {
    /// `url_verification`: the challenge to answer.
    Challenge(String),
    /// The App Home opened: the event that shows its page.
    Event(Box<Event>),
    /// Not reinstate's (another event or tab).
    Ignored(String),
}

fn text(v: &Value, name: &str) -> Result<String, Rejected> {
    v.as_str()
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(String::from)
        .ok_or_else(|| Rejected::invalid(format!("payload: {name} is missing")))
}

/// A `form` event of the person `user` of `team`, with the trigger that opens the modal
/// (`None`: the App Home page).
fn form(
    id: &str,
    team: String,
    user: String,
    trigger: Option<String>,
    now: OffsetDateTime,
) -> Event {
    let mut event = Event::new(
        Source::Slack,
        id,
        EventKind::Form,
        EventUser::default(),
        None,
        now,
    );
    event.chat = Some(ChatAsker {
        team,
        user,
        reply_url: String::new(),
        email: None,
        lookup: None,
        trigger,
    });
    event
}

/// Decodes an authenticated interaction that is the form's: a shortcut or the App Home's
/// button (a `form` event), or the modal's submission (a `restore` event answered by direct
/// message). `None` for any other interaction.
pub fn decode(
    source: &SlackSource,
    timestamp: &str,
    body: &[u8],
    payload: &Value,
    now: OffsetDateTime,
) -> Result<Option<Event>, Rejected> {
    let id = request_id(timestamp, body);
    let team = || text(&payload["team"]["id"], "team.id");
    let user = || text(&payload["user"]["id"], "user.id");
    match payload["type"].as_str() {
        Some("shortcut" | "message_action") if payload["callback_id"] == CALLBACK => {
            let (team, user) = (team()?, user()?);
            source.check_team(&team)?;
            let trigger = text(&payload["trigger_id"], "trigger_id")?;
            Ok(Some(form(&id, team, user, Some(trigger), now)))
        }
        Some("block_actions") if payload["actions"][0]["action_id"] == OPEN_FORM => {
            let (team, user) = (team()?, user()?);
            source.check_team(&team)?;
            let trigger = text(&payload["trigger_id"], "trigger_id")?;
            Ok(Some(form(&id, team, user, Some(trigger), now)))
        }
        Some("view_submission") if payload["view"]["callback_id"] == CALLBACK => {
            let (team, user) = (team()?, user()?);
            source.check_team(&team)?;
            let values = &payload["view"]["state"]["values"];
            let chosen = values[PRODUCT_BLOCK][PRODUCT_BLOCK]["selected_option"]["value"]
                .as_str()
                .and_then(|v| serde_json::from_value::<Product>(v.into()).ok())
                .ok_or_else(|| Rejected::invalid("view.state: no product chosen"))?;
            let reason = super::reason(
                values[REASON_BLOCK][REASON_BLOCK]["value"]
                    .as_str()
                    .unwrap_or_default(),
            );
            let mut event = Event::new(
                Source::Slack,
                &id,
                EventKind::Restore,
                EventUser::default(),
                Some(chosen),
                now,
            );
            event.reason = reason;
            let mut asker = form(&id, team, user, None, now)
                .chat
                .ok_or_else(|| Rejected::invalid("payload: no asker"))?;
            asker.trigger = None;
            event.chat = Some(asker);
            Ok(Some(event))
        }
        _ => Ok(None),
    }
}

/// Decodes an authenticated Events API delivery: its `url_verification`, or an
/// `app_home_opened` of the Home tab. The event's id is Slack's `event_id`: a delivery Slack
/// retries is acted on once.
pub fn decode_event(
    source: &SlackSource,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Delivered, Rejected> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|e| Rejected::invalid(format!("not an Events API delivery: {e}")))?;
    match envelope["type"].as_str() {
        Some("url_verification") => Ok(Delivered::Challenge(text(
            &envelope["challenge"],
            "challenge",
        )?)),
        Some("event_callback") => {
            let event = &envelope["event"];
            if event["type"] != "app_home_opened" || event["tab"] != "home" {
                return Ok(Delivered::Ignored(format!(
                    "a {} event",
                    event["type"].as_str().unwrap_or("nameless")
                )));
            }
            let team = text(&envelope["team_id"], "team_id")?;
            source.check_team(&team)?;
            let user = text(&event["user"], "event.user")?;
            let id = text(&envelope["event_id"], "event_id")?;
            Ok(Delivered::Event(Box::new(form(&id, team, user, None, now))))
        }
        other => Ok(Delivered::Ignored(format!(
            "an Events API {} delivery",
            other.unwrap_or("nameless")
        ))),
    }
}
