//! Loading the layers (later wins): the defaults that depend on `APP_ENV`, `config/default.toml`
//! (compiled in), `config/<APP_ENV>.toml`, `--config FILE`, `APP__SECTION__KEY` variables,
//! then the named variables of [`VARIABLES`]. Every file and `APP__` variable is checked for
//! keys that are no setting, and the place of every value is kept ([`Origins`]) so that any
//! refusal, here or in `checks`, names the setting as the user set it.

use std::collections::HashMap;
use std::path::Path;

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, ConfigError, Environment, File, FileFormat};

use super::known::Known;
use super::sources::{self, ConfigFile, Origin, Origins};
use super::{security, Settings, DEVELOPMENT};
use crate::checks::{Problem, Problems};

const DEFAULTS: &str = include_str!("../../../../config/default.toml");

/// The setting of the browser origins allowed to call the API.
const CORS_KEY: &str = "http.cors_allowed_origins";

/// The variable of the log filter: when set and not empty it wins over `log.level`, as it does
/// for tracing's own filters.
const LOG_FILTER_VARIABLE: &str = "RUST_LOG";

/// The variables that set one setting each, over every file and `APP__` variable: the seed's,
/// `HOST`, `LOG_FORMAT`, `RUST_LOG`, and two comma-separated lists.
const VARIABLES: [(&str, &str); 11] = [
    ("HOST", "http.host"),
    ("PORT", "http.port"),
    ("GRPC_PORT", "grpc.port"),
    ("LIVEKIT_URL", "livekit.url"),
    ("LIVEKIT_API_KEY", "livekit.api_key"),
    ("LIVEKIT_API_SECRET", "livekit.api_secret"),
    ("REDIS_URL", "redis.url"),
    ("LOG_FORMAT", "log.format"),
    (LOG_FILTER_VARIABLE, "log.level"),
    ("CORS_ALLOWED_ORIGINS", CORS_KEY),
    (security::API_KEYS_VARIABLE, security::API_KEYS_KEY),
];

/// The settings whose values are secrets: a refusal never repeats them.
const SECRETS: [&str; 3] = ["livekit.api_secret", "redis.url", security::API_KEYS_KEY];

/// Settings and where each one was set.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// The place of every value a file or variable set.
    pub origins: Origins,
}

/// The configuration could not be assembled: every problem found, each naming its place.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(pub Problems);

impl Loaded {
    /// Loads the layers from the process environment and `./config`, with `extra`
    /// (`--config FILE`, which must exist) over the environment's file.
    ///
    /// # Errors
    /// [`SettingsError`] with every problem: a file unreadable or not TOML, a key or `APP__`
    /// variable that is no setting, a value of the wrong type.
    pub fn from_process(extra: Option<&Path>) -> Result<Self, SettingsError> {
        let (env, problems) = process_environment();
        if !problems.is_empty() {
            return Err(SettingsError(Problems(problems)));
        }
        Self::from_layers(Path::new("config"), extra, &env)
    }

    /// Loads the layers from `config_dir`, `extra` and the given environment.
    ///
    /// # Errors
    /// As [`Loaded::from_process`].
    pub fn from_layers(
        config_dir: &Path,
        extra: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let app_env = env.get("APP_ENV").map_or(DEVELOPMENT, String::as_str);
        let mut layers = Layers::new(app_env).map_err(one_problem)?;
        layers.file(&config_dir.join(format!("{app_env}.toml")), false);
        if let Some(extra) = extra {
            layers.file(extra, true);
        }
        layers.app_variables(env);
        layers.variables(env).map_err(one_problem)?;
        layers.finish(app_env)
    }
}

/// The layers added so far, where each of their values was set, and what was refused.
struct Layers {
    builder: ConfigBuilder<DefaultState>,
    origins: Origins,
    problems: Vec<String>,
    /// The settings of `APP_ENV` with no file or variable: the keys files and `APP__`
    /// variables may set, and the values that stand in for refused ones.
    defaults: Config,
    known: Known,
}

impl Layers {
    fn new(app_env: &str) -> Result<Self, ConfigError> {
        let defaults = defaults_builder(app_env)?
            .set_override("app_env", app_env)?
            .build()?;
        let known = Known::of(&defaults.clone().try_deserialize()?);
        Ok(Self {
            builder: defaults_builder(app_env)?,
            origins: Origins::default(),
            problems: Vec::new(),
            defaults,
            known,
        })
    }

    /// A TOML file (skipped if it does not exist and is not `required`).
    fn file(&mut self, path: &Path, required: bool) {
        let file = match ConfigFile::read(path, required) {
            Ok(Some(file)) => file,
            Ok(None) => return,
            Err(problem) => {
                self.problems.push(problem);
                return;
            }
        };
        self.problems.extend(file.unknown_keys(&self.known));
        for (key, line) in &file.keys {
            self.origins.set(key.clone(), file.origin(*line));
        }
        let source = File::from_str(&file.text, FileFormat::Toml);
        self.builder = std::mem::take(&mut self.builder).add_source(source);
    }

    /// The `APP__SECTION__KEY` variables of `env`.
    fn app_variables(&mut self, env: &HashMap<String, String>) {
        let variables = sources::app_variables(env);
        self.problems
            .extend(sources::unknown_variables(&variables, &self.known));
        for (name, key) in variables {
            self.origins.set(key, Origin::Variable(name));
        }
        let source = Environment::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .source(Some(env.clone().into_iter().collect()))
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key(CORS_KEY)
            .with_list_parse_key(security::API_KEYS_KEY);
        self.builder = std::mem::take(&mut self.builder).add_source(source);
    }

    /// The named [`VARIABLES`] of `env`, over everything else.
    fn variables(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let mut builder = std::mem::take(&mut self.builder);
        for (variable, key) in VARIABLES {
            let Some(value) = env.get(variable) else {
                continue;
            };
            if variable == LOG_FILTER_VARIABLE && value.is_empty() {
                continue;
            }
            builder = match key {
                CORS_KEY => {
                    let origins: Vec<&str> = value.split(',').map(str::trim).collect();
                    builder.set_override(key, origins)?
                }
                security::API_KEYS_KEY => security::api_keys_override(builder, Some(value))?,
                _ => builder.set_override(key, value.as_str())?,
            };
            self.origins.set(key, Origin::Variable(variable.to_owned()));
        }
        self.builder = builder;
        Ok(())
    }

    /// The settings, or every problem found.
    fn finish(self, app_env: &str) -> Result<Loaded, SettingsError> {
        let Self {
            builder,
            origins,
            mut problems,
            defaults,
            known,
        } = self;
        let builder = builder
            .set_override("app_env", app_env)
            .map_err(one_problem)?;
        match deserialize(builder, &defaults) {
            Ok(settings) if problems.is_empty() => Ok(Loaded { settings, origins }),
            Ok(_) => Err(SettingsError(Problems(problems))),
            Err(mut refusals) => {
                // `config` meets them in no fixed order: told in one, whatever the run.
                refusals.sort_by(|a, b| a.setting.cmp(&b.setting));
                // A key that is no setting (`APP__HTTP=3`) is refused above already.
                let refusals = refusals.iter().filter(|refusal| {
                    refusal
                        .setting
                        .as_deref()
                        .is_none_or(|key| known.check(key).is_ok())
                });
                problems.extend(refusals.map(|refusal| refusal.locate(&origins)));
                Err(SettingsError(Problems(problems)))
            }
        }
    }
}

impl Settings {
    /// Loads the layers from the process environment and `./config`.
    ///
    /// # Errors
    /// [`SettingsError`] when a layer is unreadable, holds a key that is no setting, or a
    /// value has the wrong type.
    pub fn load() -> Result<Self, SettingsError> {
        Self::load_with(None)
    }

    /// Loads the layers, with `extra` (`--config FILE`, which must exist) over the environment's
    /// file.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_with(extra: Option<&Path>) -> Result<Self, SettingsError> {
        Loaded::from_process(extra).map(|loaded| loaded.settings)
    }

    /// Loads the layers from `config_dir` and the given environment (tests pass their own).
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_from(
        config_dir: &Path,
        env: &HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        Self::load_layers(config_dir, None, env)
    }

    /// [`Settings::load_from`] with an extra file over the environment's.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_layers(
        config_dir: &Path,
        extra: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        Loaded::from_layers(config_dir, extra, env).map(|loaded| loaded.settings)
    }
}

/// The defaults that depend on `APP_ENV`, under the compiled-in `config/default.toml`.
fn defaults_builder(app_env: &str) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    let development = app_env == DEVELOPMENT;
    let any_origin_in_development = if development { vec!["*"] } else { Vec::new() };
    let defaults = Config::builder().set_default(CORS_KEY, any_origin_in_development)?;
    Ok(security::environment_defaults(defaults, development)?
        .add_source(File::from_str(DEFAULTS, FileFormat::Toml)))
}

/// The merged layers as [`Settings`]. `config` stops at the first value of the wrong type:
/// each one found is set back to its default and the merge tried again, so that every such
/// value is reported at once.
fn deserialize(
    mut builder: ConfigBuilder<DefaultState>,
    defaults: &Config,
) -> Result<Settings, Vec<Problem>> {
    let mut refusals: Vec<Problem> = Vec::new();
    loop {
        let err = match builder.build_cloned().and_then(Config::try_deserialize) {
            Ok(settings) if refusals.is_empty() => return Ok(settings),
            Ok(_) => return Err(refusals),
            Err(err) => err,
        };
        let refusal = refusal(err);
        let key = refusal
            .setting
            .as_deref()
            .map(|key| key.split('[').next().unwrap_or(key).to_owned());
        // Refused again after its default stood in: nothing more can be learnt.
        let again = key.as_deref().is_some_and(|key| {
            refusals
                .iter()
                .any(|earlier| earlier.setting.as_deref() == Some(key))
        });
        refusals.push(refusal);
        let default = key
            .filter(|_| !again)
            .and_then(|key| Some((defaults.get::<config::Value>(&key).ok()?, key)));
        let Some((value, key)) = default else {
            return Err(refusals);
        };
        builder = match builder.set_override(key, value) {
            Ok(builder) => builder,
            Err(_) => return Err(refusals),
        };
    }
}

/// What the `config` crate refused, about the setting it names. Values of [`SECRETS`] are
/// not repeated.
fn refusal(err: ConfigError) -> Problem {
    match err {
        ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => {
            let message = if is_secret(&key) {
                format!("{key} is invalid: expected {expected}")
            } else {
                format!("{key} is invalid: expected {expected}, found {unexpected}")
            };
            Problem::about(&key, message)
        }
        ConfigError::At {
            key: Some(key),
            error,
            ..
        } => {
            let message = if is_secret(&key) {
                format!("{key} is invalid")
            } else {
                format!("{key} is invalid: {error}")
            };
            Problem::about(&key, message)
        }
        ConfigError::Type { expected, .. } => {
            Problem::general(format!("a value is invalid: expected {expected}"))
        }
        // Not about one value (`At` without a key, a file, a message): told as it is.
        other @ (ConfigError::Frozen
        | ConfigError::NotFound(_)
        | ConfigError::PathParse { .. }
        | ConfigError::FileParse { .. }
        | ConfigError::At { .. }
        | ConfigError::Message(_)
        | ConfigError::Foreign(_)
        | _) => Problem::general(other.to_string()),
    }
}

fn is_secret(key: &str) -> bool {
    SECRETS.iter().any(|secret| key.starts_with(secret))
}

fn one_problem(err: ConfigError) -> SettingsError {
    SettingsError(Problems(vec![refusal(err).locate(&Origins::default())]))
}

/// The process's variables. One that is not UTF-8 is left out, and refused if it would set a
/// setting (it cannot be read, and it must not be ignored in silence).
fn process_environment() -> (HashMap<String, String>, Vec<String>) {
    let mut env = HashMap::new();
    let mut problems = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => {
                env.insert(name, value);
            }
            Err(_) if is_ours(&name) => problems.push(format!("{name}: not valid UTF-8")),
            Err(_) => {}
        }
    }
    (env, problems)
}

fn is_ours(name: &str) -> bool {
    name == "APP_ENV"
        || name.to_lowercase().starts_with("app__")
        || VARIABLES.iter().any(|(variable, _)| *variable == name)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A scratch file named `name` holding `text`.
    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orchestrator-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn refused(extra: Option<&Path>, pairs: &[(&str, &str)]) -> Vec<String> {
        let err = Loaded::from_layers(Path::new("/nonexistent"), extra, &env(pairs)).unwrap_err();
        err.0 .0
    }

    #[test]
    fn the_shipped_config_files_hold_only_settings() {
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config"));

        for app_env in ["development", "production", "default"] {
            let loaded = Loaded::from_layers(shipped, None, &env(&[("APP_ENV", app_env)]));

            assert!(loaded.is_ok(), "{app_env}: {:?}", loaded.err());
        }
    }

    #[test]
    fn a_misspelt_key_in_a_file_is_refused_with_its_file_and_line() {
        let path = file("misspelt.toml", "[http]\nprot = 3000\n");

        let problems = refused(Some(&path), &[]);

        assert_eq!(
            problems,
            vec![format!(
                "config file {} line 2: unknown setting http.prot (did you mean http.port?)",
                path.display()
            )]
        );
    }

    #[test]
    fn a_misspelt_key_in_the_environments_file_is_refused_too() {
        let dir = file("staging.toml", "[reconciler]\nenable = false\n");

        let err = Loaded::from_layers(dir.parent().unwrap(), None, &env(&[("APP_ENV", "staging")]))
            .unwrap_err();

        let text = err.to_string();
        assert!(
            text.contains("staging.toml line 2: unknown setting reconciler.enable"),
            "{text}"
        );
    }

    #[test]
    fn an_app_variable_that_sets_nothing_is_refused_by_its_name() {
        let problems = refused(None, &[("APP__HTTP__PROT", "1")]);

        assert_eq!(
            problems,
            vec!["APP__HTTP__PROT: unknown setting http.prot (did you mean http.port?)"]
        );
    }

    #[test]
    fn a_malformed_value_names_the_variable_that_was_set() {
        let problems = refused(None, &[("PORT", "abc"), ("APP__GRPC__PORT", "x")]);

        assert_eq!(
            problems,
            vec![
                "APP__GRPC__PORT: grpc.port is invalid: expected an integer, found string \"x\"",
                "PORT: http.port is invalid: expected an integer, found string \"abc\"",
            ]
        );
    }

    #[test]
    fn a_malformed_value_in_a_file_names_its_line() {
        let path = file("typed.toml", "[log]\nlevel = \"info\"\nformat = \"xml\"\n");

        let problems = refused(Some(&path), &[]);

        assert_eq!(
            problems,
            vec![format!(
                "config file {} line 3: log.format is invalid: expected \"human\" or \"json\", \
                 not \"xml\"",
                path.display()
            )]
        );
    }

    #[test]
    fn a_malformed_secret_is_refused_without_repeating_it() {
        let path = file(
            "secret.toml",
            "[livekit]\napi_secret = [\"a-secret-in-a-list\"]\n",
        );

        let problems = refused(Some(&path), &[]);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("line 2: livekit.api_secret is invalid"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("a-secret-in-a-list"), "{problems:?}");
    }

    #[test]
    fn rust_log_sets_the_log_filter_unless_empty() {
        let set = Loaded::from_layers(
            Path::new("/nonexistent"),
            None,
            &env(&[("RUST_LOG", "warn")]),
        )
        .unwrap();
        let empty = Loaded::from_layers(Path::new("/nonexistent"), None, &env(&[("RUST_LOG", "")]))
            .unwrap();

        assert_eq!(set.settings.log.level, "warn");
        assert_eq!(
            set.origins.of("log.level"),
            &Origin::Variable("RUST_LOG".into())
        );
        assert_eq!(empty.settings.log.level, "info,actix_server=warn");
        assert_eq!(empty.origins.of("log.level"), &Origin::Default);
    }

    #[test]
    fn the_last_layer_that_set_a_value_is_its_origin() {
        let path = file("layered.toml", "[http]\nworkers = 2\nport = 3100\n");

        let loaded = Loaded::from_layers(
            Path::new("/nonexistent"),
            Some(&path),
            &env(&[("APP__HTTP__PORT", "3200"), ("PORT", "3300")]),
        )
        .unwrap();

        assert_eq!(loaded.settings.http.port, 3300);
        assert_eq!(
            loaded.origins.of("http.port"),
            &Origin::Variable("PORT".into())
        );
        assert_eq!(
            loaded.origins.of("http.workers"),
            &Origin::File { path, line: 2 }
        );
        assert_eq!(loaded.origins.of("grpc.port"), &Origin::Default);
    }
}
