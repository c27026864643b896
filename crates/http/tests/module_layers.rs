//! The http crate's modules form layers: each uses only modules below it, so the guard sits
//! below the routes it guards and the OpenAPI document above the routes it describes. Checked
//! on the sources (`crate::<module>` paths in code, not in comments or unit tests); the crate
//! root's shared state and constants are everyone's and are not counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules its code names.
fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = module.trim_end_matches(".rs").to_owned();
        if module == "lib" || relative.ends_with("tests.rs") {
            continue;
        }
        let code = std::fs::read_to_string(&file).unwrap();
        let used = uses.entry(module.clone()).or_default();
        used.extend(
            crate_paths(&code)
                .into_iter()
                .filter(|used| *used != module),
        );
    }
    let modules: BTreeSet<String> = uses.keys().cloned().collect();
    for used in uses.values_mut() {
        used.retain(|name| modules.contains(name));
    }
    uses
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first segment after every `crate::` in `code`, its unit tests and comments left out.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let mut names = BTreeSet::new();
    for line in code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
    {
        for (index, _) in line.match_indices("crate::") {
            let rest = &line[index + "crate::".len()..];
            let rest = rest.strip_prefix('{').unwrap_or(rest);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

/// A circle in `uses`, as the modules along it, if there is one.
fn find_circle(uses: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for used in uses.get(module).into_iter().flatten() {
            if let Some(circle) = visit(used, uses, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    uses.keys()
        .find_map(|module| visit(module, uses, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_use_one_another_without_a_circle() {
    let uses = module_uses();

    let circle = find_circle(&uses);

    assert_eq!(circle, None, "modules in a circle; all uses: {uses:#?}");
}

#[test]
fn the_guard_knows_no_route_and_the_routes_know_not_the_document() {
    let uses = module_uses();

    let guard = &uses["auth"];
    let routes = &uses["routes"];

    for above in ["routes", "openapi", "dashboard", "metrics"] {
        assert!(!guard.contains(above), "auth uses {above}: {guard:?}");
    }
    assert!(
        !routes.contains("openapi"),
        "routes use openapi: {routes:?}"
    );
}

#[test]
fn a_circle_is_found_where_there_is_one() {
    let uses: BTreeMap<String, BTreeSet<String>> = [
        ("auth", vec!["openapi"]),
        ("openapi", vec!["routes"]),
        ("routes", vec!["auth"]),
        ("error", vec![]),
    ]
    .into_iter()
    .map(|(module, used)| (module.into(), used.into_iter().map(String::from).collect()))
    .collect();

    let circle = find_circle(&uses).expect("auth → openapi → routes → auth");

    assert_eq!(circle, ["auth", "openapi", "routes", "auth"]);
}
