//! Emulator configuration.

use std::fmt;

/// API key accepted by the emulator when none is configured: `livekit-server --dev`'s, which
/// LiveKit's CLI and SDK examples default to.
pub const DEV_API_KEY: &str = "devkey";
/// API secret matching [`DEV_API_KEY`], as `livekit-server --dev` has it. (LiveKit wants 32
/// characters or more for real deployments; its dev mode, like this emulator, takes this one.)
pub const DEV_API_SECRET: &str = "secret";

/// Credentials and webhook targets of an emulator instance.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Key that tokens must be issued by (the JWT `iss`).
    pub api_key: String,
    /// Secret that signs tokens and webhooks.
    pub api_secret: String,
    /// URLs that receive signed webhooks (POST). Empty = no webhooks.
    pub webhook_urls: Vec<String>,
}

impl EmulatorConfig {
    /// A configuration with the given credentials and no webhook targets.
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            webhook_urls: Vec::new(),
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
