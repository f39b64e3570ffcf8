//! A Teams activity's authenticity: the Bot Connector's token verified (`sources::teams`) with
//! the signing key its header names, fetched from the Bot Framework's OpenID metadata when not
//! held (`directory::botframework`). The receiver calls this before it reads the activity.

use std::sync::Arc;

use crate::directory::botframework::BotKeys;
use crate::sources::Rejected;
use crate::sources::teams::{Activity, TeamsSource};

/// Why an activity is not taken.
#[derive(Debug)]
pub enum Refused {
    /// Not the Bot Connector's, for this bot and this activity.
    Rejected(Rejected),
    /// The signing keys cannot be fetched now (the Connector retries).
    Unavailable(String),
}

/// The Teams receiver's checks and the keys they need.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub source: TeamsSource,
    keys: Arc<BotKeys>,
}

impl Verifier {
    pub fn new(source: TeamsSource, keys: BotKeys) -> Verifier {
        Verifier {
            source,
            keys: Arc::new(keys),
        }
    }

    /// The activity of `body`, once its `Authorization` verified.
    pub async fn activity(
        &self,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Activity, Refused> {
        let (token, kid) = self
            .source
            .bearer(authorization)
            .map_err(Refused::Rejected)?;
        let key = match self.keys.key(&kid).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                return Err(Refused::Rejected(Rejected::unauthenticated(
                    "unknown_key",
                    format!("the Bot Framework publishes no signing key {kid:?}"),
                )));
            }
            Err(e) => return Err(Refused::Unavailable(e.to_string())),
        };
        self.source
            .verify(token, &key.key, &key.endorsements, body)
            .map_err(Refused::Rejected)
    }
}
