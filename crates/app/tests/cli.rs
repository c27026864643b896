//! The real `orchestrator` binary's command line: help, version, and the commands that inspect
//! the configuration or make keys, then exit; and `check-config` and `serve` refusing an
//! invalid configuration alike (exit 78, same words, naming where each value was set).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use orchestrator_domain::policy::access::{KeyEntry, Scope};

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
    assert!(help.contains("78 invalid configuration"), "{help}");
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

    assert_eq!(output.status.code(), Some(INVALID));
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
             api_key = \"APIkey\"\napi_secret = \"a-project-secret-from-the-file-32-chars\"\n\n\
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

/// The exit code of an invalid configuration, for every command.
const INVALID: i32 = 78;

/// Runs the binary like [`orchestrator`] but fails if it has not exited within 30 s: a `serve`
/// that accepted its configuration would run until stopped.
fn exited(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after 30 s: {}{}",
                stdout(&output),
                stderr(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `check-config` and `serve` with `args` and `env` (over free ports and JSON logs): both
/// exit [`INVALID`] with the same words, which contain `expected`, and `serve` neither
/// logs nor listens first.
fn refused_alike(args: &[&str], env: &[(&str, &str)], expected: &str) {
    let mut with_defaults = vec![("PORT", "0"), ("GRPC_PORT", "0"), ("LOG_FORMAT", "json")];
    with_defaults.extend_from_slice(env);
    let checked = exited(&[&["check-config"], args].concat(), &with_defaults);
    let served = exited(&[&["serve"], args].concat(), &with_defaults);

    assert_eq!(checked.status.code(), Some(INVALID), "{}", stderr(&checked));
    assert!(stderr(&checked).contains(expected), "{}", stderr(&checked));
    assert_eq!(served.status.code(), Some(INVALID), "{}", stderr(&served));
    assert_eq!(stderr(&served), stderr(&checked));
    assert_eq!(stdout(&served), "", "serve logged before refusing");
}

#[test]
fn a_redis_url_redis_cannot_use_is_refused_by_its_variable() {
    refused_alike(
        &[],
        &[("REDIS_URL", "garbage")],
        "REDIS_URL: redis.url is not a usable Redis URL",
    );
}

#[test]
fn a_livekit_url_that_is_no_url_is_refused_by_its_variable() {
    refused_alike(
        &[],
        &[
            ("LIVEKIT_URL", "notaurl"),
            ("LIVEKIT_API_KEY", "key"),
            ("LIVEKIT_API_SECRET", "a-project-secret"),
        ],
        "LIVEKIT_URL: livekit.url must be a LiveKit server URL",
    );
}

#[test]
fn a_log_filter_tracing_cannot_read_is_refused_by_its_variable() {
    refused_alike(
        &[],
        &[("RUST_LOG", "[[[")],
        "RUST_LOG: log.level is not a valid log filter",
    );
}

#[test]
fn a_misspelt_key_in_a_config_file_is_refused_with_the_file_and_line() {
    let file = TempFile::new("misspelt.toml", "[http]\nprot = 3000\n");

    refused_alike(
        &["--config", file.path()],
        &[],
        &format!(
            "config file {} line 2: unknown setting http.prot (did you mean http.port?)",
            file.path()
        ),
    );
}

#[test]
fn a_misspelt_app_variable_is_refused_by_its_name() {
    refused_alike(
        &[],
        &[("APP__HTTP__PROT", "1")],
        "APP__HTTP__PROT: unknown setting http.prot (did you mean http.port?)",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused_by_the_variable_that_was_set() {
    refused_alike(&[], &[("PORT", "abc")], "PORT: http.port is invalid");
    refused_alike(
        &[],
        &[("APP__HTTP__WORKERS", "many")],
        "APP__HTTP__WORKERS: http.workers is invalid",
    );
}

#[test]
fn check_config_accepts_valid_values_of_everything_it_checks_without_connecting() {
    let file = TempFile::new(
        "valid.toml",
        "[http]\nworkers = 2\n\n[log]\nformat = \"json\"\n",
    );

    let output = exited(
        &["check-config", "--config", file.path()],
        &[
            // Nothing listens there: check-config must not connect.
            ("REDIS_URL", "redis-cluster://127.0.0.1:9?node=127.0.0.1:10"),
            ("LIVEKIT_URL", "wss://example.livekit.cloud"),
            ("LIVEKIT_API_KEY", "key"),
            ("LIVEKIT_API_SECRET", "a-project-secret"),
            ("RUST_LOG", "info,orchestrator=debug"),
            ("APP__HTTP__PORT", "3100"),
            ("GRPC_PORT", "3101"),
            ("HOST", "0.0.0.0"),
        ],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("configuration is valid"));
}

/// Runs `serve` with `args` and `env` (free ports, debug logs), which it must refuse: all it
/// printed.
fn refused_serve(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut with_defaults = vec![("PORT", "0"), ("GRPC_PORT", "0"), ("RUST_LOG", "debug")];
    with_defaults.extend_from_slice(env);
    let output = exited(&[&["serve"], args].concat(), &with_defaults);
    let printed = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(INVALID), "{printed}");
    printed
}

#[test]
fn serve_refusing_bad_settings_prints_no_secret() {
    let (livekit, redis, key) = (
        "livekit-secret-not-to-print",
        "redis-password-not-to-print",
        "lso_plain-key-not-to-print",
    );
    let redis_url = format!("redis://:{redis}@127.0.0.1:notaport");

    let printed = refused_serve(
        &[],
        &[
            ("LIVEKIT_URL", "notaurl"),
            ("LIVEKIT_API_KEY", "key"),
            ("LIVEKIT_API_SECRET", livekit),
            ("REDIS_URL", &redis_url),
            ("API_KEYS", key),
        ],
    );

    for refused in ["LIVEKIT_URL: ", "REDIS_URL: ", "API_KEYS: "] {
        assert!(printed.contains(refused), "{refused} in {printed}");
    }
    for secret in [livekit, redis, key] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}

#[test]
fn serve_refusing_a_broken_config_file_does_not_repeat_its_secret_line() {
    let secret = "file-secret-not-to-print";
    let file = TempFile::new(
        "secret.toml",
        &format!("[livekit]\napi_secret = \"{secret}\n"),
    );

    let printed = refused_serve(&["--config", file.path()], &[]);

    assert!(
        printed.contains("secret.toml line 2: not valid TOML"),
        "{printed}"
    );
    assert!(!printed.contains(secret), "{printed}");
}
