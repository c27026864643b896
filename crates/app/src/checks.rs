//! What a configuration must satisfy before the service starts: what `orchestrator
//! check-config` reports and what `serve` (and [`Application::build`](crate::Application::build))
//! runs before it listens, so a configuration one accepts the other starts with. Every value
//! must be one the service can use (`checks::values`: the URLs as their clients read them, the log
//! filter as tracing reads it, the listen address, the API key entries and CORS origins), and
//! with `APP_ENV=production` the service refuses to start:
//! - without operator API keys (every route would be open to anyone who reaches the port);
//! - without `LIVEKIT_URL` (the embedded LiveKit emulator is for development: its rooms carry
//!   no media, and it would sign with the published dev secret);
//! - with LiveKit's development credentials (`devkey` / `secret`, known to everyone).
//!
//! Each [`Problem`] is about a setting, and is told with the place that setting was set
//! ([`Origins`]): `PORT: …`, `config file x.toml line 2: …`. None repeats a secret.

mod values;

use std::fmt;

use orchestrator_domain::policy::access::KeyEntry;
use orchestrator_http::cors::AllowedOrigins;

use crate::settings::{Loaded, Origin, Origins, Settings, PRODUCTION};

/// What the checks found usable.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The operator keys.
    pub keys: Vec<KeyEntry>,
    /// The browser origins allowed to call the API.
    pub origins: AllowedOrigins,
}

/// One reason a configuration is refused, before it is told with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting it is about (`http.port`), if it is about one.
    pub setting: Option<String>,
    /// What is wrong, in words an operator can act on (naming the setting).
    pub message: String,
}

impl Problem {
    /// A problem with `setting`.
    pub fn about(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: Some(setting.to_owned()),
            message: message.into(),
        }
    }

    /// A problem of the configuration as a whole.
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            setting: None,
            message: message.into(),
        }
    }

    /// The problem told with the place its setting was set (nothing for a default).
    pub fn locate(&self, origins: &Origins) -> String {
        match self.setting.as_deref().map(|setting| origins.of(setting)) {
            None | Some(Origin::Default) => self.message.clone(),
            Some(origin) => format!("{origin}: {}", self.message),
        }
    }
}

/// Every reason a configuration is refused, each told with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                many.iter()
                    .try_for_each(|problem| write!(f, "\n  - {problem}"))
            }
        }
    }
}

/// Checks loaded settings, telling each problem with the place its setting was set.
///
/// # Errors
/// [`Problems`], listing every problem found (not only the first).
pub fn validate(loaded: &Loaded) -> Result<Checked, Problems> {
    check_from(&loaded.settings, &loaded.origins)
}

/// Checks `settings` (made in code: each problem names its setting).
///
/// # Errors
/// [`Problems`], listing every problem found (not only the first).
pub fn check(settings: &Settings) -> Result<Checked, Problems> {
    check_from(settings, &Origins::default())
}

fn check_from(settings: &Settings, places: &Origins) -> Result<Checked, Problems> {
    let mut problems = values::check(settings);
    let keys = api_keys(settings, &mut problems);
    let origins = AllowedOrigins::parse(&settings.http.cors_allowed_origins)
        .map_err(|err| problems.push(Problem::about(CORS_KEY, format!("{CORS_KEY}: {err}"))))
        .ok();
    if settings.app_env == PRODUCTION {
        production_guards(settings, &keys, &mut problems);
    }
    match origins {
        Some(origins) if problems.is_empty() => Ok(Checked { keys, origins }),
        _ => Err(Problems(
            problems
                .iter()
                .map(|problem| problem.locate(places))
                .collect(),
        )),
    }
}

const CORS_KEY: &str = "http.cors_allowed_origins";
const API_KEYS_KEY: &str = "auth.api_keys";

fn api_keys(settings: &Settings, problems: &mut Vec<Problem>) -> Vec<KeyEntry> {
    let mut keys = Vec::new();
    for (index, raw) in settings.auth.api_keys.iter().enumerate() {
        match raw.parse::<KeyEntry>() {
            Ok(entry) => keys.push(entry),
            // The entry itself is not repeated: it may be a plain key pasted by mistake.
            Err(err) => problems.push(Problem::about(
                API_KEYS_KEY,
                format!("{API_KEYS_KEY} entry {}: {err}", index + 1),
            )),
        }
    }
    keys
}

fn production_guards(settings: &Settings, keys: &[KeyEntry], problems: &mut Vec<Problem>) {
    if keys.is_empty() && settings.auth.api_keys.is_empty() {
        problems.push(Problem::general(
            "APP_ENV=production requires operator API keys: set API_KEYS (or auth.api_keys) to \
             sha256:<hex> entries; `orchestrator generate-keys` prints a key and its entry",
        ));
    }
    let livekit = &settings.livekit;
    if livekit.embedded() {
        problems.push(Problem::general(
            "APP_ENV=production requires LIVEKIT_URL: the embedded LiveKit emulator is for \
             development only",
        ));
    }
    if !livekit.embedded() && livekit.api_secret.trim().chars().count() < MIN_LIVEKIT_SECRET {
        problems.push(Problem::about(
            "livekit.api_secret",
            format!(
                "APP_ENV=production requires a LiveKit API secret of at least \
                 {MIN_LIVEKIT_SECRET} characters (LiveKit's own minimum): it signs every join \
                 token, verifies webhooks, seals stored answers and signs WebSocket tickets. \
                 Make one with `openssl rand -base64 32` and give the same to your LiveKit \
                 server (its keys: section)"
            ),
        ));
    }
    for (index, key) in keys.iter().enumerate() {
        if weak_key(key) {
            problems.push(Problem::about(
                API_KEYS_KEY,
                format!(
                    "APP_ENV=production refuses {API_KEYS_KEY} (API_KEYS) entry {}: it is the \
                     hash of a well-known key, which anyone can guess; `orchestrator \
                     generate-keys` makes a key of 256 random bits and its entry",
                    index + 1
                ),
            ));
        }
    }
    let dev_key = livekit.api_key.trim() == livekit_emulator::DEV_API_KEY;
    let dev_secret = livekit.api_secret.trim() == livekit_emulator::DEV_API_SECRET;
    if dev_key || dev_secret {
        problems.push(Problem::general(
            "APP_ENV=production refuses LiveKit's development credentials (devkey / secret): \
             set LIVEKIT_API_KEY and LIVEKIT_API_SECRET to your LiveKit project's",
        ));
    }
}

/// LiveKit's own minimum length of an API secret.
const MIN_LIVEKIT_SECRET: usize = 32;

/// Keys anyone would try first: placeholders, dictionary words, the names around this service.
/// A key is configured by its hash only, so its strength cannot be measured: refusing the
/// guessable ones is what a check can do (generated keys carry 256 random bits).
const WELL_KNOWN_KEYS: &[&str] = &[
    "",
    "test",
    "testing",
    "test123",
    "secret",
    "password",
    "passw0rd",
    "changeme",
    "change-me",
    "admin",
    "root",
    "key",
    "apikey",
    "api-key",
    "api_key",
    "token",
    "default",
    "example",
    "letmein",
    "welcome",
    "qwerty",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "devkey",
    "dev",
    "development",
    "production",
    "orchestrator",
    "livekit",
    "dashboard",
    "read",
    "write",
    "lso_",
    "lso_test",
    "lso_secret",
    "lso_key",
];

/// Whether `entry` is the hash of a well-known key (of any scope).
fn weak_key(entry: &KeyEntry) -> bool {
    WELL_KNOWN_KEYS
        .iter()
        .any(|known| KeyEntry::for_key(known, entry.scope()) == *entry)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    /// The entry of a key as `generate-keys` makes one.
    const ENTRY: &str = "sha256:5d3b4d7bf2f8a1e0b1b55ef6f1a6e1f3f8d6f6c3a7b0f0b2c8c5d9b1a0e6f7d2";

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(Path::new("/nonexistent"), &env).unwrap()
    }

    fn production(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("API_KEYS", ENTRY),
            ("LIVEKIT_URL", "wss://example.livekit.cloud"),
            ("LIVEKIT_API_KEY", "APIk3y"),
            ("LIVEKIT_API_SECRET", "a-real-secret-of-a-livekit-project"),
        ];
        pairs.extend_from_slice(extra);
        settings(&pairs)
    }

    #[test]
    fn the_development_default_passes_with_no_key() {
        let checked = check(&settings(&[])).unwrap();

        assert!(checked.keys.is_empty());
        assert_eq!(checked.origins, AllowedOrigins::Any);
    }

    #[test]
    fn a_complete_production_configuration_passes() {
        let checked = check(&production(&[])).unwrap();

        assert_eq!(checked.keys.len(), 1);
    }

    #[test]
    fn production_refuses_to_run_open_on_the_emulator_or_with_dev_credentials() {
        let open = production(&[("API_KEYS", "")]);
        let embedded = production(&[("LIVEKIT_URL", "")]);
        let dev_key = production(&[("LIVEKIT_API_KEY", "devkey")]);
        let dev_secret = production(&[("LIVEKIT_API_SECRET", "secret")]);

        let reasons = |settings: &Settings| check(settings).unwrap_err().to_string();

        assert!(reasons(&open).contains("requires operator API keys"));
        assert!(reasons(&embedded).contains("requires LIVEKIT_URL"));
        assert!(reasons(&dev_key).contains("development credentials"));
        assert!(reasons(&dev_secret).contains("development credentials"));
    }

    #[test]
    fn production_refuses_a_short_livekit_secret_and_says_how_to_make_one() {
        let short = production(&[("LIVEKIT_API_SECRET", "abc")]);
        let thirty_one = production(&[("LIVEKIT_API_SECRET", &"x".repeat(31))]);
        let thirty_two = production(&[("LIVEKIT_API_SECRET", &"x".repeat(32))]);

        let reasons = check(&short).unwrap_err().to_string();

        assert!(reasons.contains("at least 32 characters"), "{reasons}");
        assert!(reasons.contains("openssl rand"), "{reasons}");
        assert!(
            !reasons.contains("abc"),
            "the secret is not repeated: {reasons}"
        );
        assert!(check(&thirty_one).is_err());
        assert!(check(&thirty_two).is_ok());
        assert!(
            check(&settings(&[("LIVEKIT_API_SECRET", "abc")])).is_ok(),
            "development"
        );
    }

    #[test]
    fn production_refuses_the_hash_of_a_well_known_key_and_names_generate_keys() {
        let test_key =
            KeyEntry::for_key("test", orchestrator_domain::policy::access::Scope::Read).to_string();
        let guessable = production(&[("API_KEYS", &format!("{ENTRY},{test_key}"))]);

        let reasons = check(&guessable).unwrap_err().to_string();

        assert!(reasons.contains("entry 2"), "{reasons}");
        assert!(reasons.contains("generate-keys"), "{reasons}");
        assert!(!reasons.contains("entry 1"), "{reasons}");
        assert!(
            check(&settings(&[("API_KEYS", &test_key)])).is_ok(),
            "development takes any key"
        );
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let bare = settings(&[("APP_ENV", "production")]);

        let problems = check(&bare).unwrap_err();

        assert_eq!(problems.0.len(), 2, "{problems}");
        assert!(problems.to_string().starts_with("2 problems:"));
    }

    #[test]
    fn a_malformed_key_entry_is_refused_without_repeating_it() {
        let plain_key = "lso_this-is-a-plain-key-not-an-entry";

        let problems = check(&settings(&[("API_KEYS", plain_key)])).unwrap_err();

        let text = problems.to_string();
        assert!(text.contains("entry 1"), "{text}");
        assert!(!text.contains(plain_key), "{text}");
    }

    #[test]
    fn each_problem_names_the_variable_or_the_file_line_that_set_its_setting() {
        let dir = std::env::temp_dir().join(format!("orchestrator-checks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("redis.toml");
        std::fs::write(&file, "[redis]\nkey_prefix = \"x:\"\nurl = \"garbage\"\n").unwrap();
        let env: HashMap<String, String> = [
            ("LIVEKIT_URL", "notaurl"),
            ("LIVEKIT_API_KEY", "key"),
            ("LIVEKIT_API_SECRET", "a-secret"),
            ("RUST_LOG", "[[["),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let loaded = Loaded::from_layers(Path::new("/nonexistent"), Some(&file), &env).unwrap();

        let problems = validate(&loaded).unwrap_err().0;

        let at = |place: &str| problems.iter().filter(|p| p.starts_with(place)).count();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(
            at("LIVEKIT_URL: livekit.url must be a LiveKit server URL"),
            1,
            "{problems:?}"
        );
        assert_eq!(
            at("RUST_LOG: log.level is not a valid log filter"),
            1,
            "{problems:?}"
        );
        let line = format!("config file {} line 3: redis.url is not", file.display());
        assert_eq!(at(&line), 1, "{problems:?}");
    }

    #[test]
    fn settings_made_in_code_are_refused_by_their_setting() {
        let mut settings = Settings::for_tests();
        settings.redis.url = "garbage".into();

        let problems = check(&settings).unwrap_err().0;

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("redis.url is not a usable Redis URL"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_livekit_url_without_credentials_is_refused() {
        let problems = check(&settings(&[("LIVEKIT_URL", "wss://x.livekit.cloud")])).unwrap_err();

        assert!(problems.to_string().contains("LIVEKIT_API_KEY"));
    }
}
