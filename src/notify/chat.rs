//! Posts the chat messages the outbox holds, with retries: Teams replies, cards and card updates
//! (the Connector API, with the bot's token; retried like a Web API call), Slack replies to a slash command's
//! or a button's `response_url`, and Web API calls with the bot token (`chat.postMessage`, an
//! approval asked of the approvers' channel). Slack documents a `response_url` as usable up to
//! five times within 30 minutes (<https://api.slack.com/interactivity/handling#message_responses>):
//! a message is retried on `429` (after its `Retry-After`), `5xx` and connection errors until
//! then, and given up on after that, or at once when Slack refuses it (another `4xx`, such as
//! `404` for an expired URL) — each logged. A Web API call is retried by the shared client
//! (`429` and `Retry-After`, `5xx`) and then by the outbox for a day.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::directory::botframework::TeamsApi;
use crate::directory::slack::SlackApi;
use crate::directory::{CallLog, DirectoryError};
use crate::store::{OutboxPost, Store};

/// How long Slack takes answers at a `response_url`.
const VALID_FOR: time::Duration = time::Duration::minutes(30);
/// How long a Web API call is tried.
const API_FOR: time::Duration = time::Duration::days(1);

/// What became of one post.
enum Posted {
    Done,
    /// Try again after this long.
    Retry(Duration, String),
    /// Slack will not take it.
    Refused(String),
}

/// The chat apps' clients, where configured.
#[derive(Clone, Default)]
pub struct Apps {
    pub slack: Option<std::sync::Arc<SlackApi>>,
    pub teams: Option<std::sync::Arc<TeamsApi>>,
}

/// What an API call's error means for the post.
fn settled(result: Result<(), DirectoryError>, attempts: u32) -> Posted {
    match result {
        Ok(()) => Posted::Done,
        Err(DirectoryError::Transient(why)) => Posted::Retry(backoff(attempts), why),
        Err(DirectoryError::Permanent(why)) => Posted::Refused(why),
    }
}

async fn post(client: &reqwest::Client, apps: &Apps, post: &OutboxPost) -> Posted {
    if let Some(verb) = &post.verb {
        let Some(teams) = apps.teams.as_deref() else {
            return Posted::Refused("no Teams bot secret (sources.teams.app_secret)".into());
        };
        let mut calls = CallLog::default();
        let sent = teams
            .send(verb, &post.url, post.body.clone(), &mut calls)
            .await;
        return settled(sent, post.attempts);
    }
    let slack = apps.slack.as_deref();
    if let Some(method) = &post.method {
        let Some(slack) = slack else {
            return Posted::Refused("no Slack bot token (sources.slack.bot_token)".into());
        };
        let mut calls = CallLog::default();
        let mut body = post.body.clone();
        if let Some(email) = &post.to_email {
            match slack.member(email, &mut calls).await {
                Ok(Some(member)) => body["channel"] = member.into(),
                Ok(None) => {
                    return Posted::Refused(format!("Slack has no member with the email {email}"));
                }
                Err(DirectoryError::Transient(why)) => {
                    return Posted::Retry(backoff(post.attempts), why);
                }
                Err(DirectoryError::Permanent(why)) => return Posted::Refused(why),
            }
        }
        return settled(slack.post(method, body, &mut calls).await, post.attempts);
    }
    match client.post(&post.url).json(&post.body).send().await {
        Ok(r) if r.status().is_success() => Posted::Done,
        Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
            let wait = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let status = r.status();
            Posted::Retry(
                wait.unwrap_or_else(|| backoff(post.attempts)),
                format!("answered {status}"),
            )
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Posted::Refused(format!("answered {status}: {}", text.trim()))
        }
        Err(e) => Posted::Retry(backoff(post.attempts), e.to_string()),
    }
}

/// Notes the channel's last error for the Overview.
fn note(store: &Store, post: &OutboxPost, what: &str) {
    if let Err(e) = store.note_channel(post.channel(), true, what) {
        tracing::warn!(error = %e, "the channel's state could not be noted");
    }
}

/// 1 s, 2 s, 4 s … at most a minute.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

/// Posts until cancelled.
pub async fn run(store: Store, apps: Apps, timeout: Duration, cancel: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("reinstate/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the chat sender cannot start");
            return;
        }
    };
    let wake = store.posts_wake();
    loop {
        let notified = wake.notified();
        let (due, next) = match store.posts_due(crate::store::now_ms(), 16) {
            Ok(found) => (found.due, found.next),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox's chat messages");
                (Vec::new(), None)
            }
        };
        let more = !due.is_empty();
        for (key, mut message) in due {
            let settled = match post(&client, &apps, &message).await {
                Posted::Done => {
                    tracing::info!(kind = %message.kind, attempts = message.attempts + 1, "chat message posted");
                    store.post_done(&key).await
                }
                Posted::Refused(why) => {
                    tracing::warn!(kind = %message.kind, %why, "chat message refused; given up");
                    note(
                        &store,
                        &message,
                        &format!("{} not posted: {why}", message.kind),
                    );
                    store.post_done(&key).await
                }
                Posted::Retry(wait, why) => {
                    let wait = wait.max(Duration::from_millis(200));
                    message.attempts += 1;
                    let at = time::OffsetDateTime::now_utc() + wait;
                    let valid = if message.method.is_some() || message.verb.is_some() {
                        API_FOR
                    } else {
                        VALID_FOR
                    };
                    note(
                        &store,
                        &message,
                        &format!("{} not posted yet: {why}", message.kind),
                    );
                    if at - message.created_at > valid {
                        tracing::warn!(kind = %message.kind, %why, attempts = message.attempts, "chat message not posted before its address expired; given up");
                        store.post_done(&key).await
                    } else {
                        tracing::warn!(kind = %message.kind, %why, attempts = message.attempts, retry_in_ms = wait.as_millis() as u64, "chat message not posted; will retry");
                        message.last_error = Some(why);
                        message.next_attempt_ms = crate::store::now_ms() + wait.as_millis() as i64;
                        store.post_retry(&key, &message).await
                    }
                }
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "cannot update the outbox");
            }
            if cancel.is_cancelled() {
                return;
            }
        }
        if more {
            continue;
        }
        let wait = next.map_or(Duration::from_secs(60), |at| {
            Duration::from_millis((at - crate::store::now_ms()).clamp(10, 60_000) as u64)
        });
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
