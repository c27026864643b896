//! The command line (clap). Every flag falls back to the environment variable that configured
//! the emulator before it had flags, so scripts and compose files keep working; a variable set
//! to nothing counts as unset, as it always did.

use clap::builder::NonEmptyStringValueParser;
use clap::{Command, CommandFactory, FromArgMatches, Parser, ValueEnum};
use livekit_emulator::{BroadcastLimits, EmulatorConfig, DEV_API_KEY, DEV_API_SECRET};

/// A LiveKit-compatible server for development and tests: RoomService over Twirp, simulated
/// media clients and signed webhooks, all in memory. A stand-in for `livekit-server --dev`.
///
/// It stops on SIGTERM or SIGINT (Ctrl-C): open requests get a few seconds to finish, a second
/// signal stops it at once. Exit status: 0 stopped by a signal, 1 could not run (the port is
/// taken, say), 2 a usage error.
#[derive(Debug, Parser)]
#[command(name = "livekit-emulator", version)]
pub struct Cli {
    /// The address to listen on.
    #[arg(
        long,
        env = "LIVEKIT_EMULATOR_HOST",
        default_value = "127.0.0.1",
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub host: String,
    /// The port to listen on; 0 takes a free one (the address is logged).
    #[arg(
        long,
        short = 'p',
        env = "LIVEKIT_EMULATOR_PORT",
        default_value_t = 7880
    )]
    pub port: u16,
    /// The API key that issues the tokens it accepts (the JWT `iss`).
    #[arg(
        long,
        env = "LIVEKIT_API_KEY",
        default_value = DEV_API_KEY,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub api_key: String,
    /// The secret that signs tokens and webhooks. Prefer the variable: arguments are visible
    /// to every user of the machine.
    #[arg(
        long,
        env = "LIVEKIT_API_SECRET",
        default_value = DEV_API_SECRET,
        hide_env_values = true,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub api_secret: String,
    /// A URL that receives every webhook (http or https). Repeat the flag, or separate URLs
    /// with commas; none: no webhooks.
    #[arg(
        long = "webhook-url",
        value_name = "URL",
        env = "LIVEKIT_WEBHOOK_URLS",
        value_delimiter = ',',
        value_parser = webhook_url
    )]
    pub webhook_urls: Vec<String>,
    /// The log format (logs go to standard output; RUST_LOG filters them, default info).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t = LogFormat::Human
    )]
    pub log_format: LogFormat,
    /// Ingresses it keeps at once, in all rooms (more are refused with `resource_exhausted`).
    #[arg(
        long,
        env = "LIVEKIT_EMULATOR_MAX_INGRESSES",
        default_value_t = BroadcastLimits::default().max_ingresses
    )]
    pub max_ingresses: usize,
    /// Egresses not yet ended it keeps at once, in all rooms (a benchmark of 1,000 streams with
    /// two outputs each needs 2,000).
    #[arg(
        long,
        env = "LIVEKIT_EMULATOR_MAX_ACTIVE_EGRESSES",
        default_value_t = BroadcastLimits::default().max_active_egresses
    )]
    pub max_active_egresses: usize,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines (coloured on a terminal only).
    Human,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The command line of this process. Prints help or version, or the usage error, and
    /// exits (0, or 2 for an error) when that is all there is to do.
    pub fn from_process() -> Self {
        let matches = blank_variables_unset(Self::command()).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
    }

    /// The emulator's credentials, webhook targets and caps.
    pub fn emulator_config(&self) -> EmulatorConfig {
        let mut config = self.webhook_urls.iter().fold(
            EmulatorConfig::new(self.api_key.clone(), self.api_secret.clone()),
            |config, url| config.with_webhook_url(url.clone()),
        );
        config.limits.max_ingresses = self.max_ingresses;
        config.limits.max_active_egresses = self.max_active_egresses;
        config
    }

    /// `host:port` as written in messages (an IPv6 host in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Drops the environment fallback of every flag whose variable is set but blank: clap would
/// take the empty value, and this emulator always read a blank variable as unset.
fn blank_variables_unset(command: Command) -> Command {
    let blank: Vec<String> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.to_string_lossy().trim().is_empty())
        })
        .map(|arg| arg.get_id().to_string())
        .collect();
    blank.iter().fold(command, |command, id| {
        command.mut_arg(id, |arg| arg.env(None::<&'static str>))
    })
}

/// One webhook URL: trimmed (so `a, b` reads as two URLs), and http or https.
fn webhook_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.is_empty() {
        return Err("an empty URL (a stray comma?)".to_owned());
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(url.to_owned())
        }
        Ok(_) => Err(format!("{url}: not an http or https URL")),
        Err(err) => Err(format!("{url}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `args` as the command line; the flags the tests give win over any variable.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let matches = blank_variables_unset(Cli::command()).try_get_matches_from(
            std::iter::once("livekit-emulator").chain(args.iter().copied()),
        )?;
        Cli::from_arg_matches(&matches)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn webhook_urls_come_from_repeated_flags_and_from_commas() {
        let cli = parse(&[
            "--webhook-url",
            "http://a.test/hooks",
            "--webhook-url=http://b.test/x, https://c.test/y",
        ])
        .unwrap();

        assert_eq!(
            cli.emulator_config().webhook_urls,
            vec!["http://a.test/hooks", "http://b.test/x", "https://c.test/y"]
        );
    }

    #[test]
    fn a_webhook_url_must_be_an_http_url() {
        for bad in ["not a url", "ftp://files.test/x", "http://", ""] {
            let parsed = parse(&["--webhook-url", bad]);

            let err = parsed.expect_err(bad);
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
    }

    #[test]
    fn flags_set_the_credentials_and_address() {
        let cli = parse(&[
            "--host",
            "::1",
            "-p",
            "9000",
            "--api-key",
            "key",
            "--api-secret",
            "s3cret",
            "--log-format",
            "JSON",
        ])
        .unwrap();

        assert_eq!(cli.address(), "[::1]:9000");
        assert_eq!(cli.emulator_config().api_key, "key");
        assert_eq!(cli.emulator_config().api_secret, "s3cret");
        assert_eq!(cli.log_format, LogFormat::Json);
    }

    #[test]
    fn the_broadcast_caps_default_to_the_libraries_and_flags_raise_them() {
        let defaults = parse(&[]).unwrap().emulator_config().limits;
        let raised = parse(&["--max-ingresses", "1500", "--max-active-egresses=2500"])
            .unwrap()
            .emulator_config()
            .limits;

        assert_eq!(defaults, BroadcastLimits::default());
        assert_eq!(raised.max_ingresses, 1500);
        assert_eq!(raised.max_active_egresses, 2500);
        assert_eq!(
            raised.max_ended_egresses,
            BroadcastLimits::default().max_ended_egresses,
            "only the two caps move"
        );
    }

    #[test]
    fn a_cap_must_be_a_number() {
        let parsed = parse(&["--max-active-egresses", "many"]);

        assert_eq!(
            parsed.expect_err("not a number").kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }

    #[test]
    fn empty_credentials_are_refused() {
        let parsed = parse(&["--api-secret", ""]);

        assert!(parsed.is_err());
    }
}
