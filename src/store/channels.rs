//! What each chat channel (Slack) last did, for the console's Overview: its last event and its
//! last error, with when. Kept outside the events' transactions and not flushed on its own: a
//! note lost to a crash is the next event's to write again.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dec, enc, now_ms};

/// One channel's last event and last error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Unix milliseconds, and what came of it.
    pub last_event: Option<(i64, String)>,
    /// Unix milliseconds, and what went wrong.
    pub last_error: Option<(i64, String)>,
}

impl Store {
    /// The channel's state (empty when it never did anything).
    pub fn channel(&self, name: &str) -> Result<ChannelState, StoreError> {
        match self.channels.get(name.as_bytes())? {
            Some(v) => dec(&v),
            None => Ok(ChannelState::default()),
        }
    }

    /// Notes the channel's last event (`error`: `false`) or last error (`true`).
    pub fn note_channel(&self, name: &str, error: bool, what: &str) -> Result<(), StoreError> {
        let what: String = what.chars().take(300).collect();
        let mut state = self.channel(name)?;
        let note = Some((now_ms(), what));
        if error {
            state.last_error = note;
        } else {
            state.last_event = note;
        }
        self.channels.insert(name.as_bytes(), enc(&state)?)?;
        Ok(())
    }
}
