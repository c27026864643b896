//! The real `orchestrator` binary's command line: help, version, and the commands that inspect
//! the configuration or make keys, then exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use orchestrator_domain::access::{KeyEntry, Scope};

/// Runs the binary with `args` and only the given environment.
fn orchestrator(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scratch file with `contents`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn help_lists_every_command_and_does_not_start_the_server() {
    let output = orchestrator(&["--help"], &[]);

    assert!(output.status.success());
    let help = stdout(&output);
    for command in [
        "serve",
        "print-config",
        "check-config",
        "generate-keys",
        "--config",
    ] {
        assert!(help.contains(command), "{command} in {help}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let output = orchestrator(&["--version"], &[]);

    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("orchestrator {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The two lines of `generate-keys` that are not comments: the key and its entry.
fn generated(args: &[&str]) -> (String, String) {
    let output = orchestrator(args, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let [key, entry] = lines.as_slice() else {
        panic!("a key and an entry: {text}");
    };
    ((*key).to_owned(), (*entry).to_owned())
}

#[test]
fn generate_keys_prints_a_fresh_key_and_the_sha256_entry_to_configure() {
    let (key, entry) = generated(&["generate-keys"]);
    let (read_key, read_entry) = generated(&["generate-keys", "--read"]);

    assert!(key.starts_with("lso_"), "{key}");
    assert_ne!(key, read_key, "every key is new");
    assert_eq!(entry, KeyEntry::for_key(&key, Scope::Write).to_string());
    assert_eq!(
        read_entry,
        KeyEntry::for_key(&read_key, Scope::Read).to_string()
    );
    assert!(read_entry.ends_with(":read"));
}

#[test]
fn check_config_accepts_the_development_default() {
    let output = orchestrator(&["check-config"], &[]);

    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("configuration is valid"));
}

#[test]
fn check_config_refuses_an_unsafe_production_configuration_with_every_reason() {
    let output = orchestrator(&["check-config"], &[("APP_ENV", "production")]);

    assert_eq!(output.status.code(), Some(1));
    let reasons = stderr(&output);
    assert!(reasons.contains("requires operator API keys"), "{reasons}");
    assert!(reasons.contains("requires LIVEKIT_URL"), "{reasons}");
}

#[test]
fn a_config_file_layers_over_the_defaults_and_variables_win_over_it() {
    let (_, entry) = generated(&["generate-keys"]);
    let file = TempFile::new(
        "production.toml",
        &format!(
            "[auth]\napi_keys = [\"{entry}\"]\n\n[livekit]\nurl = \"wss://example.livekit.cloud\"\n\
             api_key = \"APIkey\"\napi_secret = \"a-project-secret-from-the-file\"\n\n\
             [http]\nport = 3999\n"
        ),
    );

    let valid = orchestrator(
        &["check-config", "--config", file.path()],
        &[("APP_ENV", "production")],
    );
    let printed = orchestrator(
        &["--config", file.path(), "print-config"],
        &[("APP_ENV", "production"), ("PORT", "4000")],
    );

    assert!(valid.status.success(), "{}", stderr(&valid));
    let printed = stdout(&printed);
    assert!(printed.contains("port = 4000"), "{printed}");
    assert!(printed.contains("wss://example.livekit.cloud"), "{printed}");
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let output = orchestrator(
        &["--config", "/nonexistent/orchestrator.toml", "check-config"],
        &[],
    );

    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("/nonexistent/orchestrator.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn print_config_shows_the_effective_settings_with_secrets_redacted() {
    let (_, entry) = generated(&["generate-keys"]);
    let output = orchestrator(
        &["print-config"],
        &[
            ("LIVEKIT_API_SECRET", "livekit-secret-not-to-print"),
            (
                "REDIS_URL",
                "redis://:redis-password-not-to-print@127.0.0.1:6379",
            ),
            ("API_KEYS", &entry),
        ],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains("[limits]") && printed.contains("[auth]"),
        "{printed}"
    );
    assert!(
        !printed.contains("livekit-secret-not-to-print"),
        "{printed}"
    );
    assert!(
        !printed.contains("redis-password-not-to-print"),
        "{printed}"
    );
    assert!(!printed.contains(&entry), "{printed}");
}
