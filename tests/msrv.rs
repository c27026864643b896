//! `rust-version` in the workspace's Cargo.toml is the real minimum: the highest `rust-version`
//! that a locked dependency declares for this platform. Bumping a dependency that needs a newer
//! compiler fails here until the workspace says so (and clippy's `incompatible_msrv` then checks
//! our own code against it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

/// `1.89` and `1.89.0` are the same version.
fn version(raw: &str) -> [u64; 3] {
    let mut parts = raw.split('.').map(|part| part.parse::<u64>().unwrap());
    [(); 3].map(|()| parts.next().unwrap_or(0))
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_workspace_rust_version_is_the_highest_one_its_locked_dependencies_need() {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let (needed, by) = packages
        .iter()
        .filter(|p| !p["source"].is_null())
        .filter_map(|p| {
            Some((
                version(p["rust_version"].as_str()?),
                p["name"].as_str()?.to_owned(),
            ))
        })
        .max()
        .expect("dependencies declare rust-version");

    for member in packages.iter().filter(|p| p["source"].is_null()) {
        let declared = member["rust_version"].as_str().expect("rust-version set");
        assert_eq!(
            version(declared),
            needed,
            "{} declares rust-version {declared}; the locked dependencies need {needed:?} ({by})",
            member["name"]
        );
    }
}
