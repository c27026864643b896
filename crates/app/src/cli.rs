//! The command line (clap): `orchestrator [--config FILE] [COMMAND]`. With no command the
//! service runs, as it always did; the other commands inspect the configuration or make keys
//! and exit. Every command that reads the configuration refuses an invalid one with the same
//! words and [`INVALID_CONFIGURATION`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use orchestrator_domain::policy::access::{KeyEntry, Scope};

use crate::checks;
use crate::settings::{Loaded, Settings};

/// The exit code of an invalid configuration, whatever the command (`serve`, `check-config`,
/// `print-config`): sysexits' `EX_CONFIG`. A value that does not parse and a check that fails
/// are both invalid; usage errors exit 2, other failures 1.
pub const INVALID_CONFIGURATION: u8 = 78;

const EXIT_CODES: &str = "Exit codes: 0 done (serve: stopped on SIGTERM/SIGINT); \
    1 failed (serve: e.g. a port in use, Redis not answering); 2 usage error; \
    78 invalid configuration (every problem is printed on stderr, with the variable or the \
    file and line that set it).";

/// Manages LiveKit livestreams over REST, WebSocket and gRPC.
///
/// Configuration: config/default.toml (built in) → config/<APP_ENV>.toml → --config FILE →
/// APP__SECTION__KEY variables → PORT, GRPC_PORT, HOST, LIVEKIT_URL, LIVEKIT_API_KEY,
/// LIVEKIT_API_SECRET, REDIS_URL, API_KEYS, CORS_ALLOWED_ORIGINS, LOG_FORMAT, RUST_LOG (see
/// docs/configuration.md). A key that is no setting, in a file or an APP__ variable, is refused.
#[derive(Debug, Parser)]
#[command(name = "orchestrator", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// An extra configuration file (TOML) layered over config/<APP_ENV>.toml; environment
    /// variables still win.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the effective configuration as TOML, secrets redacted.
    PrintConfig,
    /// Check the configuration as `serve` does before it listens (every value, the
    /// production guards; nothing is contacted): exit 0 when the service would start with
    /// it, 78 with every reason when it would not.
    CheckConfig,
    /// Print a new random operator API key and the entry to configure for it.
    GenerateKeys {
        /// A read-only key (reads and WebSocket subscriptions only; for dashboards).
        #[arg(long)]
        read: bool,
    },
}

/// The configuration as TOML, with the LiveKit secret, the Redis password and the key hashes
/// redacted.
///
/// # Errors
/// When the settings cannot be written as TOML.
pub fn print_config(settings: &Settings) -> Result<String, toml::ser::Error> {
    let mut shown = settings.clone();
    if !shown.livekit.api_secret.is_empty() {
        shown.livekit.api_secret = REDACTED.into();
    }
    shown.redis.url = redact_password(&shown.redis.url);
    if !shown.broadcast.s3.secret.is_empty() {
        shown.broadcast.s3.secret = REDACTED.into();
    }
    shown.auth.api_keys = shown
        .auth
        .api_keys
        .iter()
        .map(|raw| match raw.parse::<KeyEntry>() {
            Ok(entry) => entry.redacted(),
            Err(_) => format!("{REDACTED} (not a valid entry)"),
        })
        .collect();
    toml::to_string_pretty(&shown)
}

const REDACTED: &str = "<redacted>";

/// `scheme://user:password@host…` with the credentials replaced.
fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{REDACTED}{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The report of `check-config`: what is valid, or every problem.
///
/// # Errors
/// The problems, when the service would refuse to start.
pub fn check_config(loaded: &Loaded) -> Result<String, checks::Problems> {
    let checked = checks::validate(loaded)?;
    let settings = &loaded.settings;
    let keys = match checked.keys.len() {
        0 => "no operator API key (every route is open)".to_owned(),
        1 => "1 operator API key".to_owned(),
        n => format!("{n} operator API keys"),
    };
    Ok(format!(
        "configuration is valid (APP_ENV={}; {keys}; LiveKit: {})",
        settings.app_env,
        if settings.livekit.embedded() {
            "embedded emulator"
        } else {
            settings.livekit.url.as_str()
        }
    ))
}

/// A new key (`lso_` and 64 hex digits: 256 random bits) and its entry.
///
/// # Errors
/// When the system's random source fails.
pub fn generate_key(read: bool) -> Result<(String, KeyEntry), ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    let key: String = std::iter::once("lso_".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let scope = if read { Scope::Read } else { Scope::Write };
    let entry = KeyEntry::for_key(&key, scope);
    Ok((key, entry))
}

/// What `generate-keys` prints: the key and its entry, each on a line of its own (the comment
/// lines start with `#`).
pub fn key_report(key: &str, entry: &KeyEntry) -> String {
    let kind = match entry.scope() {
        Scope::Read => "read-only operator API key",
        Scope::Write => "operator API key",
    };
    format!(
        "# A new {kind}. Give it to its client as `Authorization: Bearer <key>`;\n\
         # it is shown once and stored nowhere:\n\
         {key}\n\
         # Its entry, to add to API_KEYS (comma-separated) or auth.api_keys:\n\
         {entry}\n"
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve_and_config_goes_anywhere() {
        let bare = Cli::try_parse_from(["orchestrator"]).unwrap();
        let after =
            Cli::try_parse_from(["orchestrator", "check-config", "--config", "x.toml"]).unwrap();

        assert_eq!(bare.command, None);
        assert_eq!(after.command, Some(Command::CheckConfig));
        assert_eq!(after.config, Some(PathBuf::from("x.toml")));
    }

    #[test]
    fn a_generated_key_matches_its_entry_and_never_repeats() {
        let (key, entry) = generate_key(true).unwrap();
        let (other, _) = generate_key(false).unwrap();

        assert!(key.starts_with("lso_") && key.len() == 68, "{key}");
        assert_ne!(key, other);
        assert_eq!(entry, KeyEntry::for_key(&key, Scope::Read));
        assert!(entry.to_string().ends_with(":read"));
        let report = key_report(&key, &entry);
        let lines: Vec<&str> = report.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, vec![key.clone(), entry.to_string()]);
    }

    #[test]
    fn printed_configuration_hides_secrets() {
        let mut settings = Settings::for_tests();
        settings.livekit.api_secret = "top-secret-livekit".into();
        settings.redis.url = "redis://:hunter2@redis.internal:6379/0".into();
        settings.broadcast.s3.secret = "s3-secret-access-key".into();
        let (_, entry) = generate_key(false).unwrap();
        settings.auth.api_keys = vec![entry.to_string()];

        let printed = print_config(&settings).unwrap();

        assert!(!printed.contains("top-secret-livekit"));
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("s3-secret-access-key"));
        assert!(printed.contains("redis://<redacted>@redis.internal:6379/0"));
        assert!(!printed.contains(&entry.to_string()));
        assert!(printed.contains(&entry.redacted()));
        assert!(printed.contains("[limits]"), "{printed}");
    }
}
