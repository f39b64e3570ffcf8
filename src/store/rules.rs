//! The live rule list, versioned, and its compiled form (cached; one process owns sled).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, StoreError, dec, enc};
use crate::domain::rules::{Rule, RuleSet};

const RULES_KEY: &[u8] = b"current";

/// The live rule list, versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RulesDoc {
    pub v: u32,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
    pub rules: Vec<Rule>,
}

impl Store {
    pub fn rules(&self) -> Result<RulesDoc, StoreError> {
        Ok(match self.rules.get(RULES_KEY)? {
            Some(v) => dec(&v)?,
            None => RulesDoc {
                v: 1,
                version: 0,
                updated_at: None,
                rules: Vec::new(),
            },
        })
    }

    /// Stores a new rule document (not flushed: the audit entry that records the change
    /// flushes it) and recompiles the live rules.
    pub fn put_rules(&self, doc: &RulesDoc) -> Result<(), StoreError> {
        self.rules.insert(RULES_KEY, enc(doc)?)?;
        if let Ok(mut compiled) = self.compiled.lock() {
            *compiled = Some(Arc::new(RuleSet::compile(&doc.rules)));
        }
        Ok(())
    }

    /// The live rules, compiled once per change.
    pub fn compiled_rules(&self) -> Result<Arc<RuleSet>, StoreError> {
        if let Ok(cache) = self.compiled.lock()
            && let Some(set) = cache.as_ref()
        {
            return Ok(set.clone());
        }
        let set = Arc::new(RuleSet::compile(&self.rules()?.rules));
        if let Ok(mut cache) = self.compiled.lock() {
            *cache = Some(set.clone());
        }
        Ok(set)
    }
}
