//! What a configuration must satisfy before the service starts, and what `orchestrator
//! check-config` reports: every value parses, and the production profile's guards. With
//! `APP_ENV=production` the service refuses to start:
//! - without operator API keys (every route would be open to anyone who reaches the port);
//! - without `LIVEKIT_URL` (the embedded LiveKit emulator is for development: its rooms carry
//!   no media, and it would sign with the published dev secret);
//! - with LiveKit's development credentials (`devkey` / `secret`, known to everyone).

use std::fmt;

use orchestrator_domain::access::KeyEntry;
use orchestrator_http::cors::AllowedOrigins;

use crate::settings::{Settings, PRODUCTION};

/// What the checks found usable.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The operator keys.
    pub keys: Vec<KeyEntry>,
    /// The browser origins allowed to call the API.
    pub origins: AllowedOrigins,
}

/// Every reason a configuration is refused, each in words an operator can act on.
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

/// Checks `settings`.
///
/// # Errors
/// [`Problems`], listing every problem found (not only the first).
pub fn check(settings: &Settings) -> Result<Checked, Problems> {
    let mut problems = Vec::new();
    let keys = api_keys(settings, &mut problems);
    let origins = AllowedOrigins::parse(&settings.http.cors_allowed_origins)
        .map_err(|err| {
            problems.push(format!(
                "http.cors_allowed_origins (CORS_ALLOWED_ORIGINS): {err}"
            ));
        })
        .ok();
    let livekit = &settings.livekit;
    if !livekit.embedded() && (livekit.api_key.is_empty() || livekit.api_secret.is_empty()) {
        problems.push(
            "LIVEKIT_URL is set: LIVEKIT_API_KEY and LIVEKIT_API_SECRET are required too".into(),
        );
    }
    if settings.app_env == PRODUCTION {
        production_guards(settings, &keys, &mut problems);
    }
    match origins {
        Some(origins) if problems.is_empty() => Ok(Checked { keys, origins }),
        _ => Err(Problems(problems)),
    }
}

fn api_keys(settings: &Settings, problems: &mut Vec<String>) -> Vec<KeyEntry> {
    let mut keys = Vec::new();
    for (index, raw) in settings.auth.api_keys.iter().enumerate() {
        match raw.parse::<KeyEntry>() {
            Ok(entry) => keys.push(entry),
            // The entry itself is not repeated: it may be a plain key pasted by mistake.
            Err(err) => problems.push(format!(
                "auth.api_keys (API_KEYS) entry {}: {err}",
                index + 1
            )),
        }
    }
    keys
}

fn production_guards(settings: &Settings, keys: &[KeyEntry], problems: &mut Vec<String>) {
    if keys.is_empty() && settings.auth.api_keys.is_empty() {
        problems.push(
            "APP_ENV=production requires operator API keys: set API_KEYS (or auth.api_keys) to \
             sha256:<hex> entries; `orchestrator generate-keys` prints a key and its entry"
                .into(),
        );
    }
    let livekit = &settings.livekit;
    if livekit.embedded() {
        problems.push(
            "APP_ENV=production requires LIVEKIT_URL: the embedded LiveKit emulator is for \
             development only"
                .into(),
        );
    }
    let dev_key = livekit.api_key.trim() == livekit_emulator::DEV_API_KEY;
    let dev_secret = livekit.api_secret.trim() == livekit_emulator::DEV_API_SECRET;
    if dev_key || dev_secret {
        problems.push(
            "APP_ENV=production refuses LiveKit's development credentials (devkey / secret): \
             set LIVEKIT_API_KEY and LIVEKIT_API_SECRET to your LiveKit project's"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    const ENTRY: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

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
    fn a_livekit_url_without_credentials_is_refused() {
        let problems = check(&settings(&[("LIVEKIT_URL", "wss://x.livekit.cloud")])).unwrap_err();

        assert!(problems.to_string().contains("LIVEKIT_API_KEY"));
    }
}
