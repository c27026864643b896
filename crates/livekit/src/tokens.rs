//! Join tokens: LiveKit access tokens scoped to one room, one identity and the role's grants.

use std::fmt;

use livekit_api::access_token::{AccessToken, VideoGrants};
use orchestrator_domain::ports::{JoinGrant, TokenError, TokenIssuer};

use crate::config::LiveKitConfig;

/// Signs least-privilege join tokens with the API key and secret.
#[derive(Clone)]
pub struct LiveKitTokens {
    config: LiveKitConfig,
}

impl fmt::Debug for LiveKitTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitTokens")
            .field("api_key", &self.config.api_key)
            .finish_non_exhaustive()
    }
}

impl LiveKitTokens {
    /// A signer for `config`'s credentials.
    pub fn new(config: LiveKitConfig) -> Self {
        Self { config }
    }
}

/// The grants of a role: everyone may join the one room and subscribe; only hosts publish
/// (media and data); nobody may rename themselves or administer the room.
pub fn grants_for(grant: &JoinGrant) -> VideoGrants {
    let publish = grant.role.can_publish();
    VideoGrants {
        room_join: true,
        room: grant.room.to_string(),
        can_publish: Some(publish),
        can_subscribe: Some(true),
        can_publish_data: Some(publish),
        can_update_own_metadata: Some(false),
        ..VideoGrants::default()
    }
}

impl TokenIssuer for LiveKitTokens {
    fn issue(&self, grant: &JoinGrant) -> Result<String, TokenError> {
        let metadata = grant
            .metadata
            .as_ref()
            .map(|m| serde_json::Value::Object(m.as_map().clone()).to_string())
            .unwrap_or_default();
        AccessToken::with_api_key(&self.config.api_key, &self.config.api_secret)
            .with_identity(grant.identity.as_str())
            .with_name(grant.identity.as_str())
            .with_metadata(&metadata)
            .with_attributes([("role", grant.role.as_str())])
            .with_ttl(self.config.token_ttl)
            .with_grants(grants_for(grant))
            .to_jwt()
            .map_err(|err| TokenError(err.to_string()))
    }

    fn ws_url(&self) -> String {
        self.config.client_url()
    }
}
