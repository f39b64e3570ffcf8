//! Saved views of the console's Inactive Users: a name an admin gives to a page's filters,
//! sort, page size and columns (its query string), shared by every admin, keyed by the name
//! lower-cased so that one name is one view.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dec, enc, now_ms};

/// One saved view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedView {
    pub v: u32,
    pub name: String,
    /// The page's query string, as the page wrote it (checked again when the view is opened).
    pub query: String,
    /// Who saved it, and when (Unix milliseconds).
    pub by: String,
    pub at_ms: i64,
}

/// The longest name a view may have.
pub const NAME_MAX: usize = 60;

impl Store {
    /// Saves a view under its name (replacing the one of that name), durably; whether it
    /// replaced one.
    pub async fn save_view(&self, name: &str, query: &str, by: &str) -> Result<bool, StoreError> {
        let view = SavedView {
            v: 1,
            name: name.to_string(),
            query: query.to_string(),
            by: by.to_string(),
            at_ms: now_ms(),
        };
        let old = self
            .views
            .insert(name.to_lowercase().as_bytes(), enc(&view)?)?;
        self.flush().await?;
        Ok(old.is_some())
    }

    /// Every saved view, by name.
    pub fn views(&self) -> Result<Vec<SavedView>, StoreError> {
        self.views.iter().values().map(|v| dec(&v?)).collect()
    }

    /// Forgets the view of this name; whether there was one.
    pub async fn delete_view(&self, name: &str) -> Result<bool, StoreError> {
        let old = self.views.remove(name.to_lowercase().as_bytes())?;
        self.flush().await?;
        Ok(old.is_some())
    }
}
