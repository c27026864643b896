//! Settings of the LiveKit adapter.

use std::fmt;
use std::time::Duration;

/// How to reach LiveKit and what rooms and tokens look like.
#[derive(Clone)]
pub struct LiveKitConfig {
    /// Server URL (`wss://…`, `ws://…`, `https://…` or `http://…`).
    pub url: String,
    /// API key (the JWT issuer).
    pub api_key: String,
    /// API secret (signs tokens, verifies webhooks). Never logged.
    pub api_secret: String,
    /// Lifetime of join tokens.
    pub token_ttl: Duration,
    /// Seconds an empty room stays open before LiveKit closes it (0: LiveKit's default).
    pub empty_timeout_secs: u32,
    /// Seconds a room stays open after the last participant left (0: LiveKit's default).
    pub departure_timeout_secs: u32,
    /// Most participants a room accepts (0: no limit).
    pub max_participants: u32,
    /// Budget of one RoomService call.
    pub request_timeout: Duration,
}

impl fmt::Debug for LiveKitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("empty_timeout_secs", &self.empty_timeout_secs)
            .field("departure_timeout_secs", &self.departure_timeout_secs)
            .field("max_participants", &self.max_participants)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl LiveKitConfig {
    /// The URL media clients connect to: the server URL with an http scheme turned into ws.
    pub fn client_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> LiveKitConfig {
        LiveKitConfig {
            url: url.into(),
            api_key: "key".into(),
            api_secret: "top-secret".into(),
            token_ttl: Duration::from_secs(60),
            empty_timeout_secs: 0,
            departure_timeout_secs: 0,
            max_participants: 0,
            request_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn clients_connect_over_websocket_schemes() {
        assert_eq!(
            with_url("https://x.livekit.cloud").client_url(),
            "wss://x.livekit.cloud"
        );
        assert_eq!(
            with_url("http://127.0.0.1:7880").client_url(),
            "ws://127.0.0.1:7880"
        );
        assert_eq!(
            with_url("wss://x.livekit.cloud").client_url(),
            "wss://x.livekit.cloud"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert!(!format!("{:?}", with_url("ws://x")).contains("top-secret"));
    }
}
