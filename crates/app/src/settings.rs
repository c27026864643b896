//! Layered configuration: `config/default.toml` (compiled in, so the binary runs from any
//! directory) → `config/<APP_ENV>.toml` (if present) → `APP__SECTION__KEY` variables → the
//! seed's variables (`PORT`, `GRPC_PORT`, `LIVEKIT_URL`, `LIVEKIT_API_KEY`,
//! `LIVEKIT_API_SECRET`, `REDIS_URL`), `HOST`, `LOG_FORMAT`, `RUST_LOG`, `API_KEYS` and
//! `CORS_ALLOWED_ORIGINS`. A key of a file or an `APP__` variable that is no setting is refused,
//! and every value's place is kept, so a refusal names the file and line or the variable.
//!
//! Some defaults depend on the environment rather than a file, so they hold wherever the binary
//! runs from: browsers of any origin may call the API in `development` (the default `APP_ENV`),
//! of none elsewhere unless `http.cors_allowed_origins` / `CORS_ALLOWED_ORIGINS` says so; and
//! the listen address and rate limits of [`security`].
//!
//! `orchestrator --config FILE` layers one more file over `config/<APP_ENV>.toml`; the
//! variables still win.
//!
//! # Layout
//!
//! - `load`: the layers, in order ([`Loaded`], [`SettingsError`]).
//! - [`sources`]: where each value was set ([`Origin`]); files read with their lines, `APP__`
//!   variables with their keys; what is no setting.
//! - `known`: the settings tree the keys are checked against.
//! - [`security`]: keys, limits and the defaults that depend on `APP_ENV`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod broadcast;
mod known;
mod load;
pub mod security;
pub mod sources;

pub use broadcast::{BroadcastSettings, S3Settings, StorageKind};
pub use load::{Loaded, SettingsError};
pub use security::{AuthSettings, LimitsSettings};
pub use sources::{Origin, Origins};

/// Every setting of the orchestrator.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// REST (and WebSocket) listener.
    pub http: HttpSettings,
    /// gRPC listener.
    pub grpc: GrpcSettings,
    /// LiveKit connection, rooms and tokens.
    pub livekit: LiveKitSettings,
    /// Redis connection.
    pub redis: RedisSettings,
    /// In-memory store tuning.
    pub store: StoreSettings,
    /// Idempotency keys.
    pub idempotency: IdempotencySettings,
    /// LiveKit webhooks.
    pub webhooks: WebhookSettings,
    /// The reconciler.
    pub reconciler: ReconcilerSettings,
    /// Logging.
    pub log: LogSettings,
    /// WebSocket and gRPC subscriptions.
    #[serde(default)]
    pub realtime: RealtimeSettings,
    /// Operator API keys.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Request, connection and rate limits.
    #[serde(default)]
    pub limits: LimitsSettings,
    /// Outputs' storage, playback and pacing.
    #[serde(default)]
    pub broadcast: BroadcastSettings,
    /// The `APP_ENV` these settings were loaded for (`development` by default).
    #[serde(default)]
    pub app_env: String,
}

/// REST listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// actix workers; 0 means one per core.
    pub workers: usize,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_timeout_secs: u64,
    /// At shutdown, how long readiness answers 503 while the servers still serve, so a load
    /// balancer moves traffic away before they stop (0: stop at once).
    pub drain_grace_ms: u64,
    /// How often LiveKit (and the store, for gRPC health) are checked for readiness.
    pub readiness_check_interval_ms: u64,
    /// Origins (`scheme://host[:port]`) whose pages may call the API and open WebSockets;
    /// `*` allows any. Default: `["*"]` in development, `[]` elsewhere.
    pub cors_allowed_origins: Vec<String>,
}

/// gRPC listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GrpcSettings {
    /// Port to bind.
    pub port: u16,
}

/// LiveKit.
#[derive(Clone, Deserialize, Serialize)]
pub struct LiveKitSettings {
    /// Server URL; empty runs the embedded emulator.
    pub url: String,
    /// API key.
    pub api_key: String,
    /// API secret (never logged).
    pub api_secret: String,
    /// Join-token lifetime.
    pub token_ttl_secs: u64,
    /// Room empty timeout.
    pub empty_timeout_secs: u32,
    /// Room departure timeout.
    pub departure_timeout_secs: u32,
    /// Room size limit (0: none).
    pub max_participants: u32,
    /// Budget of one LiveKit call.
    pub request_timeout_secs: u64,
}

impl fmt::Debug for LiveKitSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("token_ttl_secs", &self.token_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl LiveKitSettings {
    /// Whether to run the embedded emulator.
    pub fn embedded(&self) -> bool {
        self.url.trim().is_empty()
    }

    /// The key and secret the embedded emulator signs and checks with: `LIVEKIT_API_KEY` /
    /// `LIVEKIT_API_SECRET` when set, else `livekit-server --dev`'s (`devkey` / `secret`), so
    /// LiveKit's CLI and SDK examples work against it as they are.
    pub fn emulator_credentials(&self) -> (String, String) {
        let or_dev = |value: &str, dev: &str| {
            let value = value.trim();
            if value.is_empty() { dev } else { value }.to_owned()
        };
        (
            or_dev(&self.api_key, livekit_emulator::DEV_API_KEY),
            or_dev(&self.api_secret, livekit_emulator::DEV_API_SECRET),
        )
    }

    /// Join-token lifetime.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// Budget of one LiveKit call.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Redis.
#[derive(Clone, Deserialize, Serialize)]
pub struct RedisSettings {
    /// Connection URL; empty means the in-memory store. May hold a password: never logged.
    pub url: String,
    /// Prefix of every key and channel.
    pub key_prefix: String,
    /// Budget of one command.
    pub command_timeout_ms: u64,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("configured", &!self.url.is_empty())
            .finish()
    }
}

/// Retention of what the store (in memory or Redis) keeps.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StoreSettings {
    /// Events kept per stream.
    pub max_events_per_stream: usize,
    /// How long a stopped stream, its participants and its events are kept after it stopped
    /// (0: for ever).
    pub stopped_retention_secs: u64,
}

impl StoreSettings {
    /// The retention of stopped streams; `None` keeps them for ever.
    pub fn stopped_retention(&self) -> Option<Duration> {
        (self.stopped_retention_secs > 0).then(|| Duration::from_secs(self.stopped_retention_secs))
    }
}

/// Idempotency keys.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IdempotencySettings {
    /// How long an answer is replayed.
    pub retention_secs: u64,
    /// How long an unfinished request holds its key.
    pub lock_ttl_secs: u64,
}

/// LiveKit webhooks.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebhookSettings {
    /// How long an event id is remembered.
    pub dedupe_ttl_secs: u64,
}

/// The reconciler.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReconcilerSettings {
    /// Whether this instance competes for the reconciler lease.
    pub enabled: bool,
    /// Pause between passes.
    pub interval_ms: u64,
    /// Most LiveKit calls per second.
    pub livekit_calls_per_sec: u32,
}

/// WebSocket and gRPC subscriptions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RealtimeSettings {
    /// Events queued per subscriber (connection); a client that falls this far behind is
    /// disconnected as a slow consumer and resumes from its last seq.
    pub queue_capacity: usize,
    /// How often the WebSocket server pings.
    pub heartbeat_interval_ms: u64,
    /// A WebSocket client silent (or not reading) this long is disconnected.
    pub client_timeout_ms: u64,
    /// Largest WebSocket message a client may send.
    pub max_message_bytes: usize,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            heartbeat_interval_ms: 15_000,
            client_timeout_ms: 45_000,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// A log format that is neither `human` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected \"human\" or \"json\", not {0:?}")]
pub struct UnknownLogFormat(String);

impl TryFrom<String> for LogFormat {
    type Error = UnknownLogFormat;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(name)),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// EnvFilter directive (`RUST_LOG`, when set and not empty, sets it).
    pub level: String,
}

/// The `APP_ENV` whose defaults suit a developer's machine.
const DEVELOPMENT: &str = "development";

/// The `APP_ENV` that refuses unsafe settings (see `checks`).
pub const PRODUCTION: &str = "production";

impl Settings {
    /// Settings for tests: defaults with every listener on port 0 and the embedded emulator.
    ///
    /// # Panics
    /// Never: the compiled-in defaults are valid (checked by a unit test).
    #[allow(clippy::expect_used)]
    pub fn for_tests() -> Self {
        let mut settings =
            Self::load_from(Path::new("/nonexistent"), &std::collections::HashMap::new())
                .expect("compiled-in defaults are valid");
        settings.http.host = "127.0.0.1".into();
        settings.http.port = 0;
        settings.http.workers = 1;
        settings.http.shutdown_timeout_secs = 1;
        settings.http.drain_grace_ms = 0;
        settings.http.readiness_check_interval_ms = 100;
        settings.grpc.port = 0;
        settings
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let settings = Settings::load_from(Path::new("/nonexistent"), &env(&[])).unwrap();
        assert_eq!(settings.http.port, 3000);
        assert_eq!(settings.grpc.port, 8001);
        assert!(settings.livekit.embedded());
        assert!(settings.redis.url.is_empty());
        assert_eq!(settings.log.format, LogFormat::Human);
    }

    #[test]
    fn the_seed_variables_override_everything() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[
                ("PORT", "4000"),
                ("GRPC_PORT", "4001"),
                ("LIVEKIT_URL", "wss://x.livekit.cloud"),
                ("LIVEKIT_API_KEY", "key"),
                ("LIVEKIT_API_SECRET", "secret"),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("LOG_FORMAT", "json"),
                ("APP__HTTP__PORT", "5000"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.http.port, 4000);
        assert_eq!(settings.grpc.port, 4001);
        assert_eq!(settings.livekit.url, "wss://x.livekit.cloud");
        assert_eq!(settings.livekit.api_key, "key");
        assert_eq!(settings.livekit.api_secret, "secret");
        assert_eq!(settings.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(settings.log.format, LogFormat::Json);
        assert!(
            !format!("{settings:?}").contains("secret\""),
            "no secret in Debug"
        );
    }

    #[test]
    fn app_prefixed_variables_reach_nested_settings() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[
                ("APP__HTTP__WORKERS", "3"),
                ("APP__LIVEKIT__TOKEN_TTL_SECS", "60"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.http.workers, 3);
        assert_eq!(settings.livekit.token_ttl(), Duration::from_secs(60));
    }

    #[test]
    fn the_environment_file_layers_over_the_defaults() {
        let dir =
            std::env::temp_dir().join(format!("orchestrator-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("staging.toml"), "[http]\nport = 3100\n").unwrap();

        let settings = Settings::load_from(&dir, &env(&[("APP_ENV", "staging")])).unwrap();

        assert_eq!(settings.http.port, 3100);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_embedded_emulator_uses_livekits_dev_credentials_by_default() {
        let settings = Settings::load_from(Path::new("/nonexistent"), &env(&[])).unwrap();

        assert!(settings.livekit.embedded());
        assert_eq!(
            settings.livekit.emulator_credentials(),
            ("devkey".to_owned(), "secret".to_owned())
        );
    }

    #[test]
    fn livekit_credentials_without_a_url_are_the_emulators() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[
                ("LIVEKIT_API_KEY", "my-key"),
                ("LIVEKIT_API_SECRET", "my-secret"),
            ]),
        )
        .unwrap();

        assert!(settings.livekit.embedded());
        assert_eq!(
            settings.livekit.emulator_credentials(),
            ("my-key".to_owned(), "my-secret".to_owned())
        );
    }

    #[test]
    fn browsers_of_any_origin_are_allowed_in_development_only() {
        let development = Settings::load_from(Path::new("/nonexistent"), &env(&[])).unwrap();
        let production = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[("APP_ENV", "production")]),
        )
        .unwrap();

        assert_eq!(development.http.cors_allowed_origins, vec!["*"]);
        assert!(production.http.cors_allowed_origins.is_empty());
    }

    #[test]
    fn allowed_origins_come_from_a_comma_separated_variable() {
        let settings = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[
                ("APP_ENV", "production"),
                (
                    "CORS_ALLOWED_ORIGINS",
                    "https://app.example.com, http://localhost:5173",
                ),
            ]),
        )
        .unwrap();

        assert_eq!(
            settings.http.cors_allowed_origins,
            vec!["https://app.example.com", "http://localhost:5173"]
        );
    }

    #[test]
    fn allowed_origins_also_come_from_the_app_prefixed_variable_and_files() {
        let from_app_variable = Settings::load_from(
            Path::new("/nonexistent"),
            &env(&[(
                "APP__HTTP__CORS_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            )]),
        )
        .unwrap();
        let from_file = Settings::load_from(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config")),
            &env(&[("APP_ENV", "production")]),
        )
        .unwrap();

        assert_eq!(
            from_app_variable.http.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert!(from_file.http.cors_allowed_origins.is_empty());
    }

    #[test]
    fn a_malformed_value_is_a_clear_error() {
        let err = Settings::load_from(Path::new("/nonexistent"), &env(&[("PORT", "not-a-port")]))
            .unwrap_err();
        assert!(err.to_string().contains("invalid configuration"), "{err}");
    }
}
