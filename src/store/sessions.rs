//! Console sessions: one record per signed-in browser, keyed by the hex SHA-256 of the secret its
//! cookie holds (the store never holds a value that would sign anyone in). A session ends when
//! it is signed out or ended by an admin (removed), and is refused (then removed) once idle or
//! past its lifetime.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dec, enc};

/// One open console session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub v: u32,
    /// Hex SHA-256 of the cookie's secret: how listings name it and how an admin ends it.
    pub id: String,
    /// Who: `admin:<hash>` or `viewer:<hash>` of the token signed in with.
    pub actor: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// Hex SHA-256 of the token signed in with: its sessions end when it is no longer configured.
    pub token_sha256: String,
    /// The token every form of this session carries (random, per session).
    pub csrf: String,
    pub created_ms: i64,
    pub last_used_ms: i64,
    /// When it ends whatever its use (`server.session_hours` after sign-in).
    pub expires_ms: i64,
    /// The client address it signed in from.
    pub client: String,
    /// The browser's `User-Agent` at sign-in (at most 200 characters).
    pub agent: String,
}

impl SessionRecord {
    /// Whether it can still be used at `now_ms`, idle for at most `idle_ms`.
    pub fn live(&self, now_ms: i64, idle_ms: i64) -> bool {
        now_ms < self.expires_ms && now_ms - self.last_used_ms < idle_ms
    }
}

impl Store {
    /// Records a session that was just opened.
    pub fn open_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.sessions.insert(session.id.as_bytes(), enc(session)?)?;
        Ok(())
    }

    /// The session with this id, when it is open.
    pub fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions.get(id)?.map(|b| dec(&b)).transpose()
    }

    /// Marks a session used at `at_ms` (not flushed: a use lost in a crash only shortens it).
    pub fn touch_session(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        self.sessions.fetch_and_update(id, |old| {
            let old = old?;
            let touched = dec::<SessionRecord>(old).ok().and_then(|mut record| {
                record.last_used_ms = record.last_used_ms.max(at_ms);
                enc(&record).ok()
            });
            Some(touched.unwrap_or_else(|| old.to_vec()))
        })?;
        Ok(())
    }

    /// Ends a session: `true` when it was open. Flushed, so that it stays ended after a crash.
    pub async fn end_session(&self, id: &str) -> Result<bool, StoreError> {
        let was = self.sessions.remove(id)?.is_some();
        if was {
            self.flush().await?;
        }
        Ok(was)
    }

    /// Every session on record, the most recently used first.
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut all = self
            .sessions
            .iter()
            .values()
            .map(|v| dec(&v?))
            .collect::<Result<Vec<SessionRecord>, StoreError>>()?;
        all.sort_by_key(|s| std::cmp::Reverse(s.last_used_ms));
        Ok(all)
    }

    /// Ends every session `ends` picks, and returns them. Flushed when any ended.
    pub async fn end_sessions_where(
        &self,
        ends: impl Fn(&SessionRecord) -> bool,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut ended = Vec::new();
        for session in self.sessions()? {
            if ends(&session) && self.sessions.remove(&session.id)?.is_some() {
                ended.push(session);
            }
        }
        if !ended.is_empty() {
            self.flush().await?;
        }
        Ok(ended)
    }
}
