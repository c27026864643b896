//! Where each setting comes from. The files and variables of a load are read here once, each
//! key with its place (a file and line, or a variable), so that a refusal names a setting as
//! the user set it (`PORT`, `config file x.toml line 2`) rather than as the merged tree
//! calls it, and so that a key no setting has is refused in the file or variable that holds
//! it instead of being silently ignored.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::known::Known;

/// Where a setting's value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nowhere: the built-in default (or a value set in code).
    Default,
    /// An environment variable, by the name it was given.
    Variable(String),
    /// A line of a configuration file.
    File {
        /// The file, as it was named.
        path: PathBuf,
        /// The line of the key (1-based).
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "the built-in default"),
            Self::Variable(name) => write!(f, "{name}"),
            Self::File { path, line } => write!(f, "config file {} line {line}", path.display()),
        }
    }
}

/// The place of every setting a file or variable set (the last layer's, as it wins).
#[derive(Debug, Clone, Default)]
pub struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Where `key` (`http.port`, or `auth.api_keys[1]`) was set: its own place, else the place
    /// of the section or list that holds it, else [`Origin::Default`].
    pub fn of(&self, key: &str) -> &Origin {
        let mut key = key.split('[').next().unwrap_or(key);
        loop {
            if let Some(origin) = self.0.get(key) {
                return origin;
            }
            match key.rsplit_once('.') {
                Some((parent, _)) => key = parent,
                None => return &Origin::Default,
            }
        }
    }

    /// Records that `key` was set at `origin`, over any earlier layer.
    pub(crate) fn set(&mut self, key: impl Into<String>, origin: Origin) {
        self.0.insert(key.into(), origin);
    }
}

/// A configuration file, read and parsed.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    /// Its text, handed to the `config` crate as it was read here.
    pub(crate) text: String,
    /// Every value it sets (dotted key) and its line.
    pub(crate) keys: Vec<(String, usize)>,
    path: PathBuf,
}

impl ConfigFile {
    /// Reads `path` as TOML; `Ok(None)` when it does not exist and is not `required`.
    ///
    /// # Errors
    /// The problem, naming the file (and the line of a syntax error): it cannot be read, or is
    /// not TOML. The offending text is not repeated: it may hold a secret.
    pub(crate) fn read(path: &Path, required: bool) -> Result<Option<Self>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(None);
            }
            Err(err) => {
                return Err(format!(
                    "config file {}: cannot read it: {err}",
                    path.display()
                ));
            }
        };
        let mut keys = Vec::new();
        match DeTable::parse(&text) {
            Ok(table) => flatten(&text, "", table.get_ref(), &mut keys),
            Err(err) => {
                let line = err.span().map_or(1, |span| line_of(&text, span.start));
                return Err(format!(
                    "config file {} line {line}: not valid TOML: {}",
                    path.display(),
                    err.message().trim_end()
                ));
            }
        }
        keys.sort_by_key(|(_, line)| *line);
        Ok(Some(Self {
            text,
            keys,
            path: path.to_owned(),
        }))
    }

    /// Where a key of the file on `line` is.
    pub(crate) fn origin(&self, line: usize) -> Origin {
        Origin::File {
            path: self.path.clone(),
            line,
        }
    }

    /// A problem for each key that is not a setting.
    pub(crate) fn unknown_keys(&self, known: &Known) -> Vec<String> {
        self.keys
            .iter()
            .filter_map(|(key, line)| {
                let why = known.check(key).err()?;
                Some(format!("{}: {why}", self.origin(*line)))
            })
            .collect()
    }
}

/// The leaves of `table` under `prefix`: a value that is not a table is a leaf (lists
/// included), with the line of its key.
fn flatten(text: &str, prefix: &str, table: &DeTable<'_>, keys: &mut Vec<(String, usize)>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        match value.get_ref() {
            DeValue::Table(inner) => flatten(text, &path, inner, keys),
            DeValue::String(_)
            | DeValue::Integer(_)
            | DeValue::Float(_)
            | DeValue::Boolean(_)
            | DeValue::Datetime(_)
            | DeValue::Array(_) => keys.push((path, line_of(text, key.span().start))),
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// The prefix of the variables that set any setting (`APP__HTTP__PORT` sets `http.port`),
/// matched regardless of case, as the `config` crate does.
const APP_PREFIX: &str = "app__";

/// The `APP__SECTION__KEY` variables of `env`: each one's name and the key it sets.
pub(crate) fn app_variables(env: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut variables: Vec<(String, String)> = env
        .keys()
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let key = lower.strip_prefix(APP_PREFIX)?.replace("__", ".");
            Some((name.clone(), key))
        })
        .collect();
    variables.sort();
    variables
}

/// A problem for each `APP__` variable that sets no setting.
pub(crate) fn unknown_variables(variables: &[(String, String)], known: &Known) -> Vec<String> {
    variables
        .iter()
        .filter_map(|(name, key)| Some(format!("{name}: {}", known.check(key).err()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orchestrator-sources-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn each_value_of_a_file_is_found_with_its_line() {
        let path = file(
            "lines.toml",
            "# a comment\n[http]\nport = 3100\n\n[livekit]\nurl = \"wss://x\"\nlog.level = \"info\"\n",
        );

        let read = ConfigFile::read(&path, true).unwrap().unwrap();

        assert_eq!(
            read.keys,
            vec![
                ("http.port".to_owned(), 3),
                ("livekit.url".to_owned(), 6),
                ("livekit.log.level".to_owned(), 7),
            ]
        );
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line_without_repeating_the_text() {
        let path = file(
            "broken.toml",
            "[livekit]\napi_key = \"k\"\napi_secret = \"a-secret-never-echoed\n",
        );

        let err = ConfigFile::read(&path, true).unwrap_err();

        assert!(err.contains("broken.toml line 3: not valid TOML"), "{err}");
        assert!(!err.contains("a-secret-never-echoed"), "{err}");
    }

    #[test]
    fn a_missing_file_is_skipped_unless_required() {
        let missing = Path::new("/nonexistent/orchestrator.toml");

        assert!(ConfigFile::read(missing, false).unwrap().is_none());
        let err = ConfigFile::read(missing, true).unwrap_err();
        assert!(err.contains("/nonexistent/orchestrator.toml"), "{err}");
    }

    #[test]
    fn app_variables_name_their_key_whatever_their_case() {
        let env: HashMap<String, String> = [
            ("APP__HTTP__PORT", "1"),
            ("app__log__level", "debug"),
            ("APP_ENV", "production"),
            ("PORT", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

        let variables = app_variables(&env);

        assert_eq!(
            variables,
            vec![
                ("APP__HTTP__PORT".to_owned(), "http.port".to_owned()),
                ("app__log__level".to_owned(), "log.level".to_owned()),
            ]
        );
    }

    #[test]
    fn a_setting_is_located_by_its_own_place_or_its_sections() {
        let mut origins = Origins::default();
        origins.set("http.port", Origin::Variable("PORT".into()));
        origins.set("auth", Origin::Variable("APP__AUTH".into()));

        assert_eq!(origins.of("http.port"), &Origin::Variable("PORT".into()));
        assert_eq!(
            origins.of("auth.api_keys[0]"),
            &Origin::Variable("APP__AUTH".into())
        );
        assert_eq!(origins.of("http.host"), &Origin::Default);
    }
}
