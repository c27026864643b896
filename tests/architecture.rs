//! The hexagon's dependency rule, checked on the real manifests: the domain depends on no other
//! crate of ours, adapters depend on the domain (and the realtime fan-out where they stream),
//! never on each other; the transports meet in one crate, the servers' assembly; only the
//! `orchestrator` binary knows every crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each library crate of ours → the crates of ours it may depend on (normal dependencies;
/// tests may use more).
const ALLOWED: &[(&str, &[&str])] = &[
    ("orchestrator-domain", &[]),
    ("orchestrator-realtime", &["orchestrator-domain"]),
    ("orchestrator-reconciler", &["orchestrator-domain"]),
    ("orchestrator-store-memory", &["orchestrator-domain"]),
    ("orchestrator-store-redis", &["orchestrator-domain"]),
    ("orchestrator-livekit", &["orchestrator-domain"]),
    ("orchestrator-http", &["orchestrator-domain"]),
    (
        "orchestrator-ws",
        &["orchestrator-domain", "orchestrator-realtime"],
    ),
    (
        "orchestrator-grpc",
        &["orchestrator-domain", "orchestrator-realtime"],
    ),
    // The one place the transports are put together (their ports, the HTTP app's middleware,
    // the WebSocket takeover of actix's socket), so that they never know each other and the
    // binary only wires. It knows no store, no media server, no settings.
    (
        "orchestrator-server",
        &[
            "orchestrator-domain",
            "orchestrator-realtime",
            "orchestrator-http",
            "orchestrator-ws",
            "orchestrator-grpc",
        ],
    ),
    ("livekit-emulator", &[]),
    // A published client of the public contract: no crate of ours (its types are the wire
    // format, read leniently; its proto is compiled from proto/streams.proto).
    ("orchestrator-client", &[]),
    // The benchmark harness is a black box: it speaks the API through the client only.
    ("orchestrator-loadgen", &["orchestrator-client"]),
];

/// `cargo metadata` of the workspace's own packages.
fn metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Package name → the workspace packages it depends on (normal dependencies only).
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let ours: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .map(|dep| dep["name"].as_str().unwrap().to_owned())
                .filter(|name| ours.contains(name))
                .collect();
            (package["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn adapters_depend_on_the_domain_never_on_each_other() {
    let actual = workspace_dependencies();

    for (crate_name, allowed) in ALLOWED {
        let deps = actual
            .get(*crate_name)
            .unwrap_or_else(|| panic!("{crate_name} is a workspace member"));
        let allowed: BTreeSet<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        let forbidden: Vec<&String> = deps.difference(&allowed).collect();
        assert!(
            forbidden.is_empty(),
            "{crate_name} must not depend on {forbidden:?} (allowed: {allowed:?})"
        );
    }
}

#[test]
fn every_library_crate_of_ours_is_held_to_the_rule() {
    let actual = workspace_dependencies();
    let checked: BTreeSet<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    let exempt = [
        "orchestrator",
        "orchestrator-tests",
        "orchestrator-store-contract",
        "redis-harness",
    ];

    let unchecked: Vec<&String> = actual
        .keys()
        .filter(|name| !checked.contains(name.as_str()) && !exempt.contains(&name.as_str()))
        .collect();

    assert!(
        unchecked.is_empty(),
        "add {unchecked:?} to ALLOWED (or to the exempt list if it is a binary or a test helper)"
    );
}

#[test]
fn every_crate_is_licensed_as_the_license_file_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let license = std::fs::read_to_string(root.join("LICENSE")).expect("a LICENSE file");
    let metadata = metadata();

    assert!(license.starts_with("MIT License"), "{license:.40}");
    for package in metadata["packages"].as_array().unwrap() {
        assert_eq!(
            package["license"], "MIT",
            "{} names the license of LICENSE",
            package["name"]
        );
    }
}

#[test]
fn every_crate_is_imported_under_its_own_package_name() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
    let metadata = metadata();

    let aliased_in_workspace: Vec<&str> = manifest
        .lines()
        .filter(|line| line.contains("package =") && !line.trim_start().starts_with('#'))
        .collect();
    let renamed_in_packages: Vec<String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|package| {
            package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| !dependency["rename"].is_null())
                .map(move |dependency| {
                    format!(
                        "{} imports {} as {}",
                        package["name"], dependency["name"], dependency["rename"]
                    )
                })
        })
        .collect();

    assert!(
        aliased_in_workspace.is_empty(),
        "[workspace.dependencies] aliases: {aliased_in_workspace:?}"
    );
    assert!(
        renamed_in_packages.is_empty(),
        "renamed dependencies: {renamed_in_packages:?}"
    );
}

#[test]
fn the_client_crate_packages_the_workspace_contract_itself() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);

    assert!(
        read("crates/client/proto/streams.proto") == read("proto/streams.proto"),
        "crates/client/proto/streams.proto must be the link to proto/streams.proto, not a copy"
    );
}
