//! Each value read as the service will read it, without connecting anywhere: the Redis URL by
//! the Redis adapter's own parser, the LiveKit URL as its client needs it, the log filter by
//! the logs' own, the listen address as the listeners bind it.

use std::net::IpAddr;

use orchestrator_store_redis::ConnectError;

use super::Problem;
use crate::settings::{BroadcastSettings, HttpSettings, LiveKitSettings, Settings, StorageKind};

/// A problem for each value the service could not use.
pub(super) fn check(settings: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    problems.extend(listeners(&settings.http, settings.grpc.port));
    problems.extend(livekit(&settings.livekit));
    problems.extend(redis_url(&settings.redis.url));
    problems.extend(log_filter(&settings.log.level));
    problems.extend(broadcast(&settings.broadcast));
    problems
}

/// Storage a `[broadcast]` names must be complete; segments and pacing within bounds.
fn broadcast(broadcast: &BroadcastSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    if broadcast.storage == StorageKind::S3 {
        let s3 = &broadcast.s3;
        for (key, value) in [
            ("broadcast.s3.bucket", &s3.bucket),
            ("broadcast.s3.access_key", &s3.access_key),
            ("broadcast.s3.secret", &s3.secret),
        ] {
            if value.trim().is_empty() {
                problems.push(Problem::about(
                    key,
                    format!("broadcast.storage is \"s3\": {key} is required"),
                ));
            }
        }
        let endpoint = s3.endpoint.trim();
        let http = endpoint.starts_with("https://") || endpoint.starts_with("http://");
        if !endpoint.is_empty() && !http {
            problems.push(Problem::about(
                "broadcast.s3.endpoint",
                "broadcast.s3.endpoint must be an http(s):// URL (empty for AWS itself)",
            ));
        }
    }
    let playback = broadcast.playback_base_url.trim();
    if !playback.is_empty()
        && url::Url::parse(playback).map_or(true, |url| !matches!(url.scheme(), "http" | "https"))
    {
        problems.push(Problem::about(
            "broadcast.playback_base_url",
            "broadcast.playback_base_url must be an http(s):// URL (or empty)",
        ));
    }
    if !(1..=60).contains(&broadcast.segment_secs) {
        problems.push(Problem::about(
            "broadcast.segment_secs",
            "broadcast.segment_secs must be between 1 and 60",
        ));
    }
    if broadcast.egress_starts_per_sec == 0 {
        problems.push(Problem::about(
            "broadcast.egress_starts_per_sec",
            "broadcast.egress_starts_per_sec must be at least 1",
        ));
    }
    problems
}

fn listeners(http: &HttpSettings, grpc_port: u16) -> Vec<Problem> {
    let mut problems = Vec::new();
    let host = http.host.as_str();
    if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
        problems.push(Problem::about(
            "http.host",
            format!("http.host must be an IP address or a host name (no port), not {host:?}"),
        ));
    }
    if grpc_port == http.port && grpc_port != 0 {
        problems.push(Problem::about(
            "grpc.port",
            format!("grpc.port and http.port are both {grpc_port}: each listener needs a port"),
        ));
    }
    problems
}

/// Letters, digits and hyphens in dot-separated labels (RFC 1123).
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The schemes LiveKit's server API client reads (it turns `ws` into `http`).
const LIVEKIT_SCHEMES: [&str; 4] = ["http://", "https://", "ws://", "wss://"];

fn livekit(livekit: &LiveKitSettings) -> Vec<Problem> {
    if livekit.embedded() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    // The URL is not repeated: it could carry credentials.
    let url = livekit.url.as_str();
    let has_host =
        url::Url::parse(url).is_ok_and(|url| url.host_str().is_some_and(|h| !h.is_empty()));
    if !LIVEKIT_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) || !has_host {
        problems.push(Problem::about(
            "livekit.url",
            "livekit.url must be a LiveKit server URL: wss://, ws://, https:// or http:// and a \
             host (empty runs the embedded emulator)",
        ));
    }
    if livekit.api_key.is_empty() || livekit.api_secret.is_empty() {
        problems.push(Problem::about(
            "livekit.url",
            "livekit.url is set: livekit.api_key and livekit.api_secret (LIVEKIT_API_KEY, \
             LIVEKIT_API_SECRET) are required too",
        ));
    }
    problems
}

fn redis_url(url: &str) -> Option<Problem> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    // The adapter's reason never repeats the URL (it may hold a password).
    let why = match orchestrator_store_redis::client::check_url(url).err()? {
        ConnectError::Config(why) | ConnectError::Unreachable(why) => why,
    };
    Some(Problem::about(
        "redis.url",
        format!(
            "redis.url is not a usable Redis URL: {why}; expected \
             redis://[:password@]host:port[/db] or \
             redis-cluster://host:port?node=host:port&node=host:port (empty: in memory)"
        ),
    ))
}

fn log_filter(directive: &str) -> Option<Problem> {
    let err = crate::telemetry::filter(directive).err()?;
    Some(Problem::about(
        "log.level",
        format!("log.level is not a valid log filter ({err}): {directive:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(settings: &Settings) -> Vec<String> {
        check(settings).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn the_test_settings_are_usable() {
        assert_eq!(refused(&Settings::for_tests()), Vec::<String>::new());
    }

    #[test]
    fn s3_storage_needs_its_bucket_and_credentials_and_playback_an_http_url() {
        let mut settings = Settings::for_tests();
        settings.broadcast.storage = StorageKind::S3;
        settings.broadcast.s3.bucket = "streams".into();
        settings.broadcast.s3.endpoint = "minio:9000".into();
        settings.broadcast.playback_base_url = "cdn.example.com".into();
        settings.broadcast.segment_secs = 0;

        let problems = refused(&settings).join("\n");

        for named in [
            "broadcast.s3.access_key",
            "broadcast.s3.secret",
            "broadcast.s3.endpoint",
            "broadcast.playback_base_url",
            "broadcast.segment_secs",
        ] {
            assert!(problems.contains(named), "{named} in {problems}");
        }
        assert!(!problems.contains("broadcast.s3.bucket"), "{problems}");
        settings.broadcast.s3.access_key = "AKIA".into();
        settings.broadcast.s3.secret = "s3cr3t".into();
        settings.broadcast.s3.endpoint = "https://minio:9000".into();
        settings.broadcast.playback_base_url = "https://cdn.example.com/live".into();
        settings.broadcast.segment_secs = 4;
        assert_eq!(refused(&settings), Vec::<String>::new());
    }

    #[test]
    fn a_listen_address_is_an_ip_or_a_host_name_without_a_port() {
        for (host, usable) in [
            ("0.0.0.0", true),
            ("::", true),
            ("localhost", true),
            ("orchestrator-1.internal", true),
            ("0.0.0.0:3000", false),
            ("[::1]", false),
            ("", false),
            ("http://0.0.0.0", false),
        ] {
            let mut settings = Settings::for_tests();
            settings.http.host = host.into();

            assert_eq!(refused(&settings).is_empty(), usable, "{host:?}");
        }
    }

    #[test]
    fn the_two_listeners_cannot_share_a_port_unless_it_is_picked_for_them() {
        let mut shared = Settings::for_tests();
        (shared.http.port, shared.grpc.port) = (3000, 3000);

        let problems = refused(&shared);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("both 3000"), "{problems:?}");
    }

    #[test]
    fn a_livekit_url_needs_a_websocket_or_http_scheme_and_a_host() {
        for (url, usable) in [
            ("wss://x.livekit.cloud", true),
            ("ws://127.0.0.1:7880", true),
            ("https://x.livekit.cloud/", true),
            ("http://localhost:7880", true),
            ("notaurl", false),
            ("x.livekit.cloud", false),
            ("ftp://x.livekit.cloud", false),
            ("wss://", false),
            (" wss://x.livekit.cloud", false),
        ] {
            let mut settings = Settings::for_tests();
            settings.livekit.url = url.into();
            settings.livekit.api_key = "key".into();
            settings.livekit.api_secret = "secret-of-a-project".into();

            assert_eq!(refused(&settings).is_empty(), usable, "{url:?}");
        }
    }

    #[test]
    fn a_redis_url_is_read_by_the_adapters_parser_and_never_repeated() {
        let mut settings = Settings::for_tests();
        settings.redis.url = "redis://:hunter2@127.0.0.1:notaport".into();

        let problems = refused(&settings);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("redis.url is not a usable Redis URL"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("hunter2"), "{problems:?}");
    }

    #[test]
    fn a_log_filter_is_read_as_the_logs_read_it() {
        let mut settings = Settings::for_tests();
        settings.log.level = "[[[".into();

        let problems = refused(&settings);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("log.level is not a valid log filter"),
            "{problems:?}"
        );
    }
}
