//! The settings tree: every key a file or an `APP__` variable may set, taken from the
//! settings themselves (serialized), so a new setting is known as soon as it exists.

use std::collections::BTreeSet;

use super::Settings;

/// The known keys: settings (leaves, lists included) and the sections that hold them.
#[derive(Debug)]
pub(crate) struct Known {
    settings: BTreeSet<String>,
    sections: BTreeSet<String>,
}

impl Known {
    /// The keys of `settings`.
    pub(crate) fn of(settings: &Settings) -> Self {
        let mut known = Self {
            settings: BTreeSet::new(),
            sections: BTreeSet::new(),
        };
        // Settings serialize to an object of plain values: nothing to fail on.
        if let Ok(tree) = serde_json::to_value(settings) {
            known.walk("", &tree);
        }
        known
    }

    fn walk(&mut self, prefix: &str, value: &serde_json::Value) {
        let serde_json::Value::Object(fields) = value else {
            self.settings.insert(prefix.to_owned());
            return;
        };
        if !prefix.is_empty() {
            self.sections.insert(prefix.to_owned());
        }
        for (name, value) in fields {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            self.walk(&key, value);
        }
    }

    /// Whether `key` is a setting.
    ///
    /// # Errors
    /// Why not, in words: an unknown key (with the nearest setting, when one is close), or a
    /// section given a value.
    pub(crate) fn check(&self, key: &str) -> Result<(), String> {
        if self.settings.contains(key) {
            return Ok(());
        }
        if self.sections.contains(key) {
            return Err(format!(
                "{key} is a section, not a setting: set its keys ({key}.…)"
            ));
        }
        Err(match self.nearest(key) {
            Some(near) => format!("unknown setting {key} (did you mean {near}?)"),
            None => format!("unknown setting {key}"),
        })
    }

    /// The setting closest to `key` within a few typos (a case or separator slip counts as one).
    fn nearest(&self, key: &str) -> Option<&str> {
        let key = key.to_lowercase().replace('_', ".");
        self.settings
            .iter()
            .map(|known| (distance(&key, &known.replace('_', ".")), known))
            .filter(|(distance, known)| *distance <= (known.len() / 4).max(1))
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, known)| known.as_str())
    }
}

/// Levenshtein distance (edits of one character) between `a` and `b`.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a != *b);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known::of(&Settings::for_tests())
    }

    #[test]
    fn every_setting_is_known_and_its_sections_are_not_settings() {
        let known = known();

        for key in [
            "http.port",
            "http.host",
            "http.cors_allowed_origins",
            "auth.api_keys",
            "limits.requests_per_sec_per_key",
            "realtime.queue_capacity",
            "log.level",
        ] {
            assert_eq!(known.check(key), Ok(()), "{key}");
        }
        let section = known.check("http").unwrap_err();
        assert!(section.contains("http is a section"), "{section}");
    }

    #[test]
    fn a_misspelt_key_is_unknown_with_the_setting_it_was_meant_to_be() {
        let known = known();

        assert_eq!(
            known.check("http.prot"),
            Err("unknown setting http.prot (did you mean http.port?)".to_owned())
        );
        assert_eq!(
            known.check("HTTP.PORT"),
            Err("unknown setting HTTP.PORT (did you mean http.port?)".to_owned())
        );
        assert_eq!(
            known.check("http_port"),
            Err("unknown setting http_port (did you mean http.port?)".to_owned())
        );
        assert_eq!(
            known.check("completely.different"),
            Err("unknown setting completely.different".to_owned())
        );
    }

    #[test]
    fn the_distance_counts_single_character_edits() {
        assert_eq!(distance("port", "port"), 0);
        assert_eq!(distance("prot", "port"), 2);
        assert_eq!(distance("pot", "port"), 1);
        assert_eq!(distance("", "abc"), 3);
    }
}
