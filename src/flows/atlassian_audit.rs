//! Log-ins read from the Atlassian organisation audit log's event stream: every page since the
//! saved position (the stream's cursor), each log-in published through the intake, and the
//! position saved only after the events it covers are on the bus (so a restart neither misses
//! nor repeats one). Which action is a log-in is confirmed once against the organisation's
//! event actions.

use time::OffsetDateTime;

use super::{Context, FlowError, Intake};
use crate::directory::CallLog;
use crate::directory::atlassian_audit::AtlassianAudit;
use crate::sources::atlassian_audit::{Actions, Page, Position, advance, fresh, to_event};

const POLLER: &str = "atlassian_audit";
/// Pages followed in one poll at most: a minute's worth at the audit log's rate limit (the
/// next poll continues from the saved position).
const MAX_PAGES: usize = 8;

fn calls(ctx: &Context) -> CallLog {
    // Counted apart from the directory's own calls.
    CallLog::with_metrics(ctx.metrics.clone(), "atlassian-audit")
}

/// The log-in action's id as the organisation lists it: `configured`, else the action named
/// "Logged in to account".
pub async fn login_action(
    ctx: &Context,
    log: &AtlassianAudit,
    configured: &str,
) -> Result<String, FlowError> {
    let body = log.actions(&mut calls(ctx)).await?;
    let actions = Actions::parse(&body).map_err(|e| FlowError::Unavailable(e.detail))?;
    let action = actions.login(configured).map_err(FlowError::Unavailable)?;
    if action != configured {
        tracing::warn!(%configured, found = %action, "the audit log's log-in action is not the configured one: using the action named \"Logged in to account\"");
    }
    Ok(action)
}

/// Milliseconds since the epoch, now: where a first start reads the stream from.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// One poll: reads every page since the saved position, publishes the log-ins (`action`),
/// saves. Returns how many log-ins were published. Without a saved position (the first
/// start) the stream is read from `started_ms`, when polling began: log-ins before it predate
/// reinstate, and a first poll that fails does not move the start past those made meanwhile.
pub async fn poll(
    ctx: &Context,
    intake: &Intake,
    log: &AtlassianAudit,
    action: &str,
    started_ms: i64,
) -> Result<usize, FlowError> {
    let mut position = match ctx.store.poller_state::<Position>(POLLER)? {
        Some(p) => p,
        None => {
            let first = Position {
                cursor: None,
                from_ms: started_ms,
                ids: vec![],
            };
            ctx.store.save_poller_state(POLLER, &first).await?;
            first
        }
    };
    let mut events = Vec::new();
    let mut calls = calls(ctx);
    let mut cursor = position.cursor.clone();
    for _ in 0..MAX_PAGES {
        let body = log
            .page(cursor.as_deref(), position.from_ms, &mut calls)
            .await?;
        let page = Page::parse(&body).map_err(|e| FlowError::Unavailable(e.detail))?;
        let empty = page.data.is_empty();
        if let Some(next) = page.next_cursor() {
            cursor = Some(next);
        }
        events.extend(page.data);
        if empty {
            break;
        }
    }
    let mut published = 0;
    for e in fresh(&position, events) {
        if e.attributes.action == action {
            match to_event(&e) {
                // Stop at the first event the bus cannot take; the saved position makes the
                // next poll start there.
                Ok(event) => match intake.accept(event).await {
                    Ok(_) => published += 1,
                    Err(err) => {
                        ctx.store.save_poller_state(POLLER, &position).await?;
                        let why = format!("publishing {}: {err}", e.id);
                        return Err(FlowError::Unavailable(why));
                    }
                },
                Err(why) => {
                    tracing::warn!(id = %e.id, why = %why.detail, "audit-log log-in skipped")
                }
            }
        }
        advance(&mut position, &e);
    }
    position.cursor = cursor;
    ctx.store.save_poller_state(POLLER, &position).await?;
    Ok(published)
}
