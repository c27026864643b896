//! Emulator configuration.

use std::fmt;
use std::time::Duration;

/// API key accepted by the emulator when none is configured: `livekit-server --dev`'s, which
/// LiveKit's CLI and SDK examples default to.
pub const DEV_API_KEY: &str = "devkey";
/// API secret matching [`DEV_API_KEY`], as `livekit-server --dev` has it. (LiveKit wants 32
/// characters or more for real deployments; its dev mode, like this emulator, takes this one.)
pub const DEV_API_SECRET: &str = "secret";

/// Credentials, webhook targets and simulated media timings of an emulator instance.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Key that tokens must be issued by (the JWT `iss`).
    pub api_key: String,
    /// Secret that signs tokens and webhooks.
    pub api_secret: String,
    /// URLs that receive signed webhooks (POST). Empty = no webhooks.
    pub webhook_urls: Vec<String>,
    /// How long a started egress stays `EGRESS_STARTING` before it becomes active (or fails,
    /// when told to), like an egress worker launching its pipeline.
    pub egress_start_delay: Duration,
    /// How long a stopped egress stays `EGRESS_ENDING` before it completes, like an egress
    /// worker finalising and uploading its files.
    pub egress_end_delay: Duration,
    /// How long a URL-pull ingress buffers before it publishes.
    pub url_ingress_start_delay: Duration,
    /// Base URL handed out for RTMP ingresses (LiveKit's `ingress.rtmp_base_url`). `None`:
    /// `rtmp://<host of the CreateIngress request>:1935/live`.
    pub rtmp_base_url: Option<String>,
    /// Base URL handed out for WHIP ingresses (LiveKit's `ingress.whip_base_url`). `None`:
    /// `http://<host:port of the CreateIngress request>/w`.
    pub whip_base_url: Option<String>,
    /// Caps on ingresses and egresses.
    pub limits: BroadcastLimits,
}

/// Caps that keep the emulator's memory bounded whatever its callers do. Going over one is
/// answered with Twirp `resource_exhausted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastLimits {
    /// Ingresses in all rooms.
    pub max_ingresses: usize,
    /// Ingresses that target one room.
    pub max_ingresses_per_room: usize,
    /// Egresses not yet ended, in all rooms.
    pub max_active_egresses: usize,
    /// Egresses not yet ended, in one room.
    pub max_active_egresses_per_room: usize,
    /// Ended egresses kept for ListEgress; the oldest are forgotten first.
    pub max_ended_egresses: usize,
    /// RTMP/SRT URLs one egress may stream to at once.
    pub max_stream_urls_per_egress: usize,
    /// Rooms whose egress-start counters are kept; beyond it the oldest counter is dropped.
    pub max_counted_rooms: usize,
}

impl Default for BroadcastLimits {
    fn default() -> Self {
        Self {
            max_ingresses: 1_000,
            max_ingresses_per_room: 16,
            max_active_egresses: 1_000,
            max_active_egresses_per_room: 16,
            max_ended_egresses: 1_000,
            max_stream_urls_per_egress: 16,
            max_counted_rooms: 10_000,
        }
    }
}

/// Default for [`EmulatorConfig::egress_start_delay`] and
/// [`EmulatorConfig::url_ingress_start_delay`]: short enough for tests, long enough that the
/// starting state is observable.
pub const DEFAULT_MEDIA_START_DELAY: Duration = Duration::from_millis(50);
/// Default for [`EmulatorConfig::egress_end_delay`].
pub const DEFAULT_MEDIA_END_DELAY: Duration = Duration::from_millis(50);

impl EmulatorConfig {
    /// A configuration with the given credentials and no webhook targets.
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            webhook_urls: Vec::new(),
            egress_start_delay: DEFAULT_MEDIA_START_DELAY,
            egress_end_delay: DEFAULT_MEDIA_END_DELAY,
            url_ingress_start_delay: DEFAULT_MEDIA_START_DELAY,
            rtmp_base_url: None,
            whip_base_url: None,
            limits: BroadcastLimits::default(),
        }
    }

    /// Adds a URL that will receive every webhook.
    pub fn with_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_urls.push(url.into());
        self
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::new(DEV_API_KEY, DEV_API_SECRET)
    }
}

// Hand-written so that the secret never ends up in logs or panic messages.
impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("webhook_urls", &self.webhook_urls)
            .field("egress_start_delay", &self.egress_start_delay)
            .field("egress_end_delay", &self.egress_end_delay)
            .field("url_ingress_start_delay", &self.url_ingress_start_delay)
            .field("rtmp_base_url", &self.rtmp_base_url)
            .field("whip_base_url", &self.whip_base_url)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let config = EmulatorConfig::new("key", "super-secret-value-that-must-not-leak");
        let printed = format!("{config:?}");
        assert!(printed.contains("key"));
        assert!(!printed.contains("super-secret"));
    }

    #[test]
    fn the_default_credentials_are_livekit_servers_dev_ones() {
        let config = EmulatorConfig::default();

        assert_eq!(
            (config.api_key.as_str(), config.api_secret.as_str()),
            ("devkey", "secret")
        );
    }

    #[test]
    fn webhook_urls_accumulate() {
        let config = EmulatorConfig::new("k", "s")
            .with_webhook_url("http://a")
            .with_webhook_url("http://b");
        assert_eq!(config.webhook_urls, vec!["http://a", "http://b"]);
    }
}
