//! The settings that keep an exposed instance safe: operator API keys (`[auth]`, `API_KEYS`),
//! request, connection and rate limits (`[limits]`), and the defaults that depend on `APP_ENV`
//! rather than a file: in `development` the service listens on 127.0.0.1 only and limits no
//! request rate (local load tests and the benchmark harness run unthrottled); anywhere else it
//! listens on every address and the rate and per-address limits are on.

use std::time::Duration;

use config::builder::DefaultState;
use config::{ConfigBuilder, ConfigError};
use serde::{Deserialize, Serialize};

/// Operator API keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// `sha256:<hex of the key's SHA-256>[:read]` entries; none: every route is open (refused
    /// in production). `API_KEYS` (comma-separated) overrides.
    pub api_keys: Vec<String>,
    /// How long a WebSocket ticket (`POST /ws-tickets`) is accepted.
    pub ticket_ttl_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            ticket_ttl_secs: 30,
        }
    }
}

impl AuthSettings {
    /// The lifetime of WebSocket tickets.
    pub fn ticket_ttl(&self) -> Duration {
        Duration::from_secs(self.ticket_ttl_secs.max(1))
    }
}

/// What one client may take. A rate or count of 0 turns that limit off.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LimitsSettings {
    /// Requests per second per operator key (sustained): REST requests, WebSocket handshakes
    /// and gRPC calls, counted together.
    pub requests_per_sec_per_key: u32,
    /// Requests one key may send at once.
    pub burst_per_key: u32,
    /// Requests per second per source address (IPv6: per /64).
    pub requests_per_sec_per_address: u32,
    /// Requests one address may send at once.
    pub burst_per_address: u32,
    /// Concurrent connections (HTTP and WebSocket) per source address.
    pub connections_per_address: usize,
    /// Concurrent connections per HTTP worker (actix's `max_connections`).
    pub connections_per_worker: usize,
    /// WebSocket connections one key may hold at once on an instance.
    pub websocket_connections_per_key: usize,
    /// Streams one WebSocket connection may follow, and calls (`Subscribe`s) one gRPC
    /// connection may carry at once.
    pub subscriptions_per_connection: usize,
    /// Time to send a request's head (a WebSocket handshake's too).
    pub request_head_timeout_ms: u64,
    /// Time to send a whole request body.
    pub body_timeout_ms: u64,
    /// Largest gRPC request message (REST bodies: 64 KiB).
    pub grpc_max_message_bytes: usize,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            requests_per_sec_per_key: PRODUCTION_RATES.0,
            burst_per_key: 1000,
            requests_per_sec_per_address: PRODUCTION_RATES.1,
            burst_per_address: 2000,
            connections_per_address: PRODUCTION_RATES.2,
            connections_per_worker: 10_000,
            websocket_connections_per_key: 1000,
            subscriptions_per_connection: 1000,
            request_head_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            grpc_max_message_bytes: 64 * 1024,
        }
    }
}

impl LimitsSettings {
    /// Time to send a request's head.
    pub fn request_head_timeout(&self) -> Duration {
        Duration::from_millis(self.request_head_timeout_ms.max(1))
    }

    /// Time to send a request body.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }
}

/// Outside development: requests per second per key, per address, connections per address.
const PRODUCTION_RATES: (u32, u32, usize) = (500, 1000, 1024);

/// The settings whose default depends on `APP_ENV`, with their development and other value.
const HOST_KEY: &str = "http.host";
const KEY_RATE_KEY: &str = "limits.requests_per_sec_per_key";
const ADDRESS_RATE_KEY: &str = "limits.requests_per_sec_per_address";
const CONNECTIONS_KEY: &str = "limits.connections_per_address";

/// The setting of the operator keys.
pub(crate) const API_KEYS_KEY: &str = "auth.api_keys";
/// Its environment variable: entries separated by commas.
pub(crate) const API_KEYS_VARIABLE: &str = "API_KEYS";

/// Sets the defaults that depend on `APP_ENV` (below every file and variable).
pub(crate) fn environment_defaults(
    builder: ConfigBuilder<DefaultState>,
    development: bool,
) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    let (host, rates) = if development {
        ("127.0.0.1", (0, 0, 0))
    } else {
        ("0.0.0.0", PRODUCTION_RATES)
    };
    builder
        .set_default(HOST_KEY, host)?
        .set_default(KEY_RATE_KEY, rates.0)?
        .set_default(ADDRESS_RATE_KEY, rates.1)?
        .set_default(CONNECTIONS_KEY, rates.2 as u64)
}

/// `API_KEYS=entry,entry` as the list `auth.api_keys`.
pub(crate) fn api_keys_override(
    builder: ConfigBuilder<DefaultState>,
    variable: Option<&String>,
) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    let Some(entries) = variable else {
        return Ok(builder);
    };
    let entries: Vec<&str> = entries
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    builder.set_override(API_KEYS_KEY, entries)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::Settings;

    fn load(pairs: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(Path::new("/nonexistent"), &env).unwrap()
    }

    #[test]
    fn development_listens_on_loopback_and_does_not_limit_rates() {
        let settings = load(&[]);

        assert_eq!(settings.http.host, "127.0.0.1");
        assert_eq!(settings.limits.requests_per_sec_per_key, 0);
        assert_eq!(settings.limits.requests_per_sec_per_address, 0);
        assert_eq!(settings.limits.connections_per_address, 0);
        assert!(settings.auth.api_keys.is_empty());
        assert_eq!(settings.app_env, "development");
    }

    #[test]
    fn other_environments_listen_everywhere_with_every_limit_on() {
        let settings = load(&[("APP_ENV", "staging")]);

        assert_eq!(settings.http.host, "0.0.0.0");
        assert_eq!(settings.limits.requests_per_sec_per_key, 500);
        assert_eq!(settings.limits.requests_per_sec_per_address, 1000);
        assert_eq!(settings.limits.connections_per_address, 1024);
        assert_eq!(settings.limits.subscriptions_per_connection, 1000);
    }

    #[test]
    fn host_and_limits_can_be_set_in_every_environment() {
        let settings = load(&[
            ("APP_ENV", "production"),
            ("HOST", "10.0.0.5"),
            ("APP__LIMITS__REQUESTS_PER_SEC_PER_ADDRESS", "0"),
        ]);

        assert_eq!(settings.http.host, "10.0.0.5");
        assert_eq!(settings.limits.requests_per_sec_per_address, 0);
    }

    #[test]
    fn api_keys_come_from_a_comma_separated_variable_or_the_app_prefixed_one() {
        let entry = format!("sha256:{}", "ab".repeat(32));
        let read = format!("sha256:{}:read", "cd".repeat(32));

        let from_variable = load(&[("API_KEYS", &format!(" {entry} ,{read},"))]);
        let from_app_variable = load(&[("APP__AUTH__API_KEYS", &format!("{entry},{read}"))]);

        assert_eq!(
            from_variable.auth.api_keys,
            vec![entry.clone(), read.clone()]
        );
        assert_eq!(from_app_variable.auth.api_keys, vec![entry, read]);
        assert_eq!(from_variable.auth.ticket_ttl_secs, 30);
    }
}
