//! Log-ins read from the Atlassian organisation audit log: every page since the saved position,
//! each log-in published through the intake, and the position saved only after the events it
//! covers are on the bus (so a restart neither misses nor repeats one).

use time::OffsetDateTime;

use super::{Context, FlowError, Intake};
use crate::directory::CallLog;
use crate::directory::atlassian_audit::AtlassianAudit;
use crate::sources::atlassian_audit::{Page, Position, advance, fresh, to_event};

const POLLER: &str = "atlassian_audit";
/// Pages followed in one poll at most (the next poll continues from the saved position).
const MAX_PAGES: usize = 50;

/// One poll: reads every page since the saved position, publishes, saves. Returns how many
/// log-ins were published.
pub async fn poll(
    ctx: &Context,
    intake: &Intake,
    log: &AtlassianAudit,
    action: &str,
) -> Result<usize, FlowError> {
    let mut position = match ctx.store.poller_state::<Position>(POLLER)? {
        Some(p) => p,
        // First start: from now on (earlier log-ins predate reinstate).
        None => Position {
            from_ms: (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            ids: vec![],
        },
    };
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    // Counted apart from the directory's own calls.
    let mut calls = CallLog::with_metrics(ctx.metrics.clone(), "atlassian-audit");
    for _ in 0..MAX_PAGES {
        let body = log
            .page(action, position.from_ms, cursor.as_deref(), &mut calls)
            .await?;
        let page = Page::parse(&body).map_err(|e| FlowError::Unavailable(e.detail))?;
        cursor = page.next_cursor();
        events.extend(page.data);
        if cursor.is_none() {
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
    ctx.store.save_poller_state(POLLER, &position).await?;
    Ok(published)
}
