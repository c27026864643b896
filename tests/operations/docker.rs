//! The container files, checked without a Docker engine: the Dockerfile's instructions parse,
//! every path it copies exists in the build context, dependencies are built in a layer of
//! their own before the sources are copied, the image runs as a non-root user, and its
//! HEALTHCHECK command really answers against a running orchestrator; the compose file parses,
//! its services reference each other (and the proxy's backends) by names that exist, and
//! only the proxy publishes the API's port.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use orchestrator_tests::spawn_app;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A Dockerfile instruction: its keyword (uppercase) and its arguments.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The instructions of a Dockerfile: comments dropped, continuation lines joined.
fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (keyword, args) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            Instruction {
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            }
        })
        .collect()
}

const KEYWORDS: [&str; 12] = [
    "FROM",
    "WORKDIR",
    "COPY",
    "RUN",
    "USER",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "STOPSIGNAL",
    "ENTRYPOINT",
    "ARG",
    "LABEL",
];

/// The stages: their name (or index) and instructions, in order.
fn stages(instructions: &[Instruction]) -> Vec<(String, Vec<&Instruction>)> {
    let mut stages: Vec<(String, Vec<&Instruction>)> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction.args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => (*name).to_owned(),
                _ => stages.len().to_string(),
            };
            stages.push((name, Vec::new()));
        }
        stages
            .last_mut()
            .expect("a Dockerfile starts with FROM")
            .1
            .push(instruction);
    }
    stages
}

#[test]
fn the_dockerfile_copies_only_what_exists_and_caches_dependencies() {
    let dockerfile = read("docker/Dockerfile");
    let instructions = instructions(&dockerfile);
    for instruction in &instructions {
        assert!(
            KEYWORDS.contains(&instruction.keyword.as_str()),
            "unknown instruction {instruction:?}"
        );
    }
    let stages = stages(&instructions);
    let names: Vec<&str> = stages.iter().map(|(name, _)| name.as_str()).collect();

    for (stage, instructions) in &stages {
        for copy in instructions.iter().filter(|i| i.keyword == "COPY") {
            let words: Vec<&str> = copy.args.split_whitespace().collect();
            if let Some(from) = words[0].strip_prefix("--from=") {
                let earlier = &names[..names.iter().position(|n| n == stage).unwrap()];
                assert!(
                    earlier.contains(&from),
                    "{stage}: COPY from unknown stage {from}"
                );
                continue;
            }
            for source in &words[..words.len() - 1] {
                assert!(
                    repo().join(source).exists(),
                    "{stage}: COPY {source}: not in the build context"
                );
            }
        }
    }
    let (_, build) = stages.iter().find(|(name, _)| name == "build").unwrap();
    let first_build = build
        .iter()
        .position(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .unwrap();
    let sources = build
        .iter()
        .position(|i| i.keyword == "COPY" && i.args == ". .")
        .unwrap();
    assert!(
        first_build < sources,
        "dependencies are built before the sources are copied"
    );
    let (_, runtime) = stages.last().unwrap();
    let user = runtime.iter().rfind(|i| i.keyword == "USER").unwrap();
    assert!(
        !["root", "0", "0:0"].contains(&user.args.as_str()),
        "non-root"
    );
    assert!(runtime.iter().any(|i| i.keyword == "HEALTHCHECK"));
}

#[test]
fn the_dockerignore_keeps_build_output_and_node_modules_out_of_the_context() {
    let ignore = read(".dockerignore");
    let entries: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();

    for needed in ["target/", "**/node_modules/", ".git/"] {
        assert!(entries.contains(needed), "{needed} in .dockerignore");
    }
}

/// The HEALTHCHECK's command (exec form), as the image runs it.
fn healthcheck_command() -> Vec<String> {
    let instructions = instructions(&read("docker/Dockerfile"));
    let healthcheck = instructions
        .iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .unwrap();
    let exec = &healthcheck.args[healthcheck.args.find("CMD ").unwrap() + 4..];
    serde_json::from_str(exec).expect("HEALTHCHECK CMD in exec form (a JSON array)")
}

#[tokio::test]
async fn the_image_health_check_passes_against_a_running_orchestrator_and_fails_without_one() {
    let app = spawn_app().await;
    let command = healthcheck_command();
    let run = |port: u16| {
        Command::new(&command[0])
            .args(&command[1..])
            .env("PORT", port.to_string())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };

    let healthy = run(app.addr.port());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nothing_there = closed.local_addr().unwrap().port();
    drop(closed);
    let unhealthy = run(nothing_there);

    assert!(healthy.success(), "{command:?}");
    assert!(!unhealthy.success());
}

fn compose() -> Yaml {
    let text = read("docker/docker-compose.yml");
    YamlLoader::load_from_str(&text)
        .expect("docker-compose.yml is YAML")
        .remove(0)
}

/// `host` of `scheme://host:port…`.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split([':', '/']).next().unwrap_or_default()
}

fn names(yaml: &Yaml) -> Vec<String> {
    match yaml {
        Yaml::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Yaml::Hash(map) => map
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        Yaml::Real(_)
        | Yaml::Integer(_)
        | Yaml::String(_)
        | Yaml::Boolean(_)
        | Yaml::Alias(_)
        | Yaml::Null
        | Yaml::BadValue => Vec::new(),
    }
}

#[test]
fn the_compose_file_wires_redis_livekit_two_instances_and_one_proxy() {
    let compose = compose();
    let services = &compose["services"];
    let service_names: BTreeSet<String> = names(services).into_iter().collect();
    let docker_dir = repo().join("docker");

    for name in &service_names {
        let service = &services[name.as_str()];
        for dependency in names(&service["depends_on"]) {
            assert!(service_names.contains(&dependency), "{name} → {dependency}");
        }
        if let Some(context) = service["build"]["context"].as_str() {
            let context = docker_dir.join(context);
            let dockerfile = service["build"]["dockerfile"].as_str().unwrap();
            assert!(context.join(dockerfile).exists(), "{name}: {dockerfile}");
        }
        for volume in names(&service["volumes"]) {
            let source = volume.split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(docker_dir.join(source).exists(), "{name}: {source}");
            } else {
                assert!(
                    !compose["volumes"][source].is_badvalue(),
                    "{name}: volume {source} is declared"
                );
            }
        }
    }
    let instances: Vec<&String> = service_names
        .iter()
        .filter(|name| name.starts_with("orchestrator-"))
        .collect();
    assert_eq!(instances.len(), 2, "two orchestrator instances");
    for instance in &instances {
        let env = &services[instance.as_str()]["environment"];
        let redis = env["REDIS_URL"].as_str().expect("REDIS_URL is set");
        assert!(
            service_names.contains(host_of(redis)),
            "{instance}: {redis}"
        );
        let livekit = env["LIVEKIT_URL"].as_str().unwrap();
        assert!(
            service_names.contains(host_of(livekit)),
            "{instance}: {livekit}"
        );
    }
    let webhooks = services["livekit"]["environment"]["LIVEKIT_WEBHOOK_URLS"]
        .as_str()
        .unwrap();
    assert!(service_names.contains(host_of(webhooks)), "{webhooks}");
    let publishing_3000: Vec<&String> = service_names
        .iter()
        .filter(|name| {
            names(&services[name.as_str()]["ports"])
                .iter()
                .any(|port| port.starts_with("3000:") || port.starts_with("127.0.0.1:3000:"))
        })
        .collect();
    assert_eq!(publishing_3000, vec!["proxy"], "one port for the API");
    for name in &service_names {
        for port in names(&services[name.as_str()]["ports"]) {
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} beyond the host's loopback (an open demo API)"
            );
        }
    }
}

#[test]
fn the_proxy_sends_traffic_to_the_compose_instances_by_readiness() {
    let services: BTreeSet<String> = names(&compose()["services"]).into_iter().collect();
    let haproxy = read("docker/haproxy.cfg");

    let backends: Vec<&str> = haproxy
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("server "))
        .map(|rest| rest.split_whitespace().nth(1).unwrap())
        .collect();

    assert_eq!(backends.len(), 4, "two instances, HTTP and gRPC");
    for backend in backends {
        assert!(services.contains(host_of(backend)), "{backend}");
    }
    assert!(haproxy.contains("option httpchk GET /health/ready"));
}
