//! REST: bodies, paths, queries and headers that are not a valid request get a 4xx in the
//! error envelope and change nothing.

use orchestrator_tests::assert_error_envelope;
use proptest::prelude::*;
use proptest::sample::select;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::inputs::{
    any_text, invalid_id_in_path, invalid_identity, invalid_json_in_an_unknown_field,
    invalid_limit, invalid_metadata, invalid_room_name, invalid_status, json_non_object,
    malformed_json, wrong_type_for,
};
use crate::{runner, Target};

/// One request as the property sends it.
#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    fn json(method: Method, path: String, body: Vec<u8>) -> Self {
        Self {
            method,
            path,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body,
        }
    }
}

/// Sends `request` and asserts a 4xx whose body, when JSON, is the error envelope.
fn refused(target: &Target, request: Request) -> Result<StatusCode, TestCaseError> {
    let (status, body) = target.runtime.block_on(async {
        let mut builder = target
            .app
            .request(request.method.clone(), &request.path)
            .body(request.body.clone());
        if let Some(content_type) = request.content_type {
            builder = builder.header("Content-Type", content_type);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.clone());
        }
        let response = builder
            .send()
            .await
            .expect("an answer, not a dropped connection");
        let status = response.status();
        (status, response.bytes().await.expect("a whole body"))
    });
    prop_assert!(
        status.is_client_error(),
        "{} {} answered {status}: {}",
        request.method,
        request.path.chars().take(200).collect::<String>(),
        String::from_utf8_lossy(&body)
            .chars()
            .take(500)
            .collect::<String>()
    );
    if let Ok(envelope) = serde_json::from_slice::<Value>(&body) {
        let code = envelope["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_error_envelope(&envelope, status, &code);
    }
    Ok(status)
}

fn body(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Bodies no create may accept.
fn invalid_create_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        malformed_json(),
        json_non_object(),
        invalid_room_name().prop_map(|name| body(json!({ "roomName": name }))),
        wrong_type_for("string").prop_map(|name| body(json!({ "roomName": name }))),
        invalid_metadata().prop_map(|metadata| body(json!({ "metadata": metadata }))),
        invalid_metadata()
            .prop_map(|metadata| body(json!({ "roomName": "fine", "metadata": metadata }))),
        Just(body(json!({ "roomName": "witness" }))),
    ]
}

#[test]
fn create_refuses_every_body_that_is_not_a_valid_stream() {
    let target = Target::new();
    runner()
        .run(&invalid_create_body(), |bytes| {
            target.unchanged(|| {
                refused(
                    &target,
                    Request::json(Method::POST, "/streams".into(), bytes),
                )?;
                Ok(())
            })
        })
        .unwrap();
}

/// Bodies no PATCH of the witness may accept (its version is 1, its status active).
fn invalid_update_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        malformed_json(),
        json_non_object(),
        invalid_status().prop_map(|status| body(json!({ "status": status }))),
        Just(body(json!({ "status": "creating" }))),
        wrong_type_for("string").prop_map(|status| body(json!({ "status": status }))),
        invalid_metadata().prop_map(|metadata| body(json!({ "metadata": metadata }))),
        wrong_type_for("u64").prop_map(|version| body(json!({ "version": version }))),
        select(vec![0u64, 2, 99, u64::MAX]).prop_map(|version| body(json!({
            "version": version,
            "metadata": { "late": true },
        }))),
    ]
}

#[test]
fn update_refuses_every_body_that_is_not_a_valid_change() {
    let target = Target::new();
    let path = format!("/streams/{}", target.witness);
    runner()
        .run(&invalid_update_body(), |bytes| {
            target.unchanged(|| {
                refused(&target, Request::json(Method::PATCH, path.clone(), bytes))?;
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn bodies_that_hide_invalid_json_in_an_unknown_field_are_refused() {
    let target = Target::new();
    let witness = target.witness.clone();
    let routes = select(vec![
        (Method::POST, String::from("/streams")),
        (Method::PATCH, format!("/streams/{witness}")),
        (Method::POST, format!("/streams/{witness}/join")),
    ]);
    runner()
        .run(
            &(routes, invalid_json_in_an_unknown_field()),
            |((method, path), bytes)| {
                target.unchanged(|| {
                    let status = refused(&target, Request::json(method, path, bytes))?;
                    prop_assert_eq!(status, StatusCode::BAD_REQUEST);
                    Ok(())
                })
            },
        )
        .unwrap();
}

/// Header values a client may put on the wire (visible ASCII, tabs, obs-text).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![0x20u8..=0x7E, 0x80u8..=0xFF, Just(b'\t')],
        0..max,
    )
}

#[test]
fn a_stale_or_malformed_if_match_and_an_invalid_idempotency_key_change_nothing() {
    let target = Target::new();
    let path = format!("/streams/{}", target.witness);
    let header = prop_oneof![
        header_bytes(40)
            .prop_filter("not the current ETag", |v| v != b"\"1\"" && v != b"*")
            .prop_map(|value| ("If-Match", value)),
        prop_oneof![
            Just(Vec::new()),
            // HTTP strips the spaces and tabs around a value: a fault must be inside it.
            header_bytes(40).prop_filter("not visible ASCII", |v| v
                .trim_ascii()
                .iter()
                .any(|b| !(0x21..=0x7E).contains(b))),
            (256usize..1000).prop_map(|n| vec![b'k'; n]),
        ]
        .prop_map(|value| ("Idempotency-Key", value)),
    ];
    runner()
        .run(&header, |(name, value)| {
            let mut request = Request::json(
                Method::PATCH,
                path.clone(),
                body(json!({ "metadata": { "changed": true } })),
            );
            request.headers.push((name, value));
            target.unchanged(|| {
                refused(&target, request)?;
                Ok(())
            })
        })
        .unwrap();
}

/// Bodies no join of the witness may accept.
fn invalid_join_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        malformed_json(),
        json_non_object(),
        Just(body(json!({}))),
        invalid_identity().prop_map(|name| body(json!({ "participantName": name }))),
        wrong_type_for("string").prop_map(|name| body(json!({ "participantName": name }))),
        any_text()
            .prop_filter("not a role", |role| role != "host" && role != "viewer")
            .prop_map(|role| body(json!({ "participantName": "bob", "role": role }))),
        invalid_metadata()
            .prop_map(|metadata| body(json!({ "participantName": "bob", "metadata": metadata }))),
    ]
}

#[test]
fn join_refuses_every_body_that_is_not_a_valid_participant() {
    let target = Target::new();
    let path = format!("/streams/{}/join", target.witness);
    runner()
        .run(&invalid_join_body(), |bytes| {
            target.unchanged(|| {
                refused(&target, Request::json(Method::POST, path.clone(), bytes))?;
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn leave_refuses_invalid_names_and_names_that_never_joined() {
    let target = Target::new();
    let path = format!("/streams/{}/leave", target.witness);
    let bodies = prop_oneof![
        malformed_json(),
        json_non_object(),
        invalid_identity().prop_map(|name| body(json!({ "participantName": name }))),
        "[a-z]{1,20}"
            .prop_filter("never joined", |name| name != "ada")
            .prop_map(|name| body(json!({ "participantName": name }))),
    ];
    runner()
        .run(&bodies, |bytes| {
            target.unchanged(|| {
                refused(&target, Request::json(Method::POST, path.clone(), bytes))?;
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn every_route_refuses_an_invalid_or_unknown_stream_id() {
    let target = Target::new();
    let routes = select(vec![
        (Method::GET, ""),
        (Method::GET, "/state"),
        (Method::GET, "/participants"),
        (Method::PATCH, ""),
        (Method::DELETE, ""),
        (Method::POST, "/join"),
        (Method::POST, "/leave"),
    ]);
    runner()
        .run(&(routes, invalid_id_in_path()), |((method, suffix), id)| {
            let request = Request::json(
                method,
                format!("/streams/{id}{suffix}"),
                body(json!({ "participantName": "bob", "metadata": { "k": 1 } })),
            );
            target.unchanged(|| {
                refused(&target, request)?;
                Ok(())
            })
        })
        .unwrap();
}

/// `raw` percent-encoded for a query string.
fn query_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[test]
fn listings_refuse_invalid_limits_statuses_and_flags() {
    let target = Target::new();
    let participants = format!("/streams/{}/participants", target.witness);
    let queries = prop_oneof![
        (invalid_limit(), any_text()).prop_map(|(limit, cursor)| format!(
            "/streams?limit={limit}&cursor={}",
            query_encode(&cursor)
        )),
        invalid_status().prop_map(|status| format!("/streams?status={}", query_encode(&status))),
        invalid_limit().prop_map(move |limit| format!("{participants}?limit={limit}")),
        any_text()
            .prop_filter("not a flag", |flag| flag != "true" && flag != "false")
            .prop_map({
                let witness = target.witness.clone();
                move |flag| {
                    format!(
                        "/streams/{witness}/participants?active={}",
                        query_encode(&flag)
                    )
                }
            }),
    ];
    runner()
        .run(&queries, |path| {
            target.unchanged(|| {
                let mut request = Request::json(Method::GET, path, Vec::new());
                request.content_type = None;
                refused(&target, request)?;
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn a_forged_cursor_never_fails_the_server() {
    let target = Target::new();
    let witness = target.witness.clone();
    let paths = (any_text(), any::<bool>()).prop_map(move |(cursor, streams)| {
        let cursor = query_encode(&cursor);
        if streams {
            format!("/streams?cursor={cursor}")
        } else {
            format!("/streams/{witness}/participants?cursor={cursor}")
        }
    });
    runner()
        .run(&paths, |path| {
            target.unchanged(|| {
                let status = target.runtime.block_on(async {
                    target
                        .app
                        .request(Method::GET, &path)
                        .send()
                        .await
                        .unwrap()
                        .status()
                });
                prop_assert!(
                    status == StatusCode::OK || status.is_client_error(),
                    "{path}: {status}"
                );
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn bodies_of_other_content_types_are_refused_even_when_empty() {
    let target = Target::new();
    let witness = target.witness.clone();
    let requests = (
        select(vec![
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/html",
            "application/xml",
        ]),
        select(vec!["", "{}", "roomName=x"]),
        select(vec![
            (Method::POST, String::from("/streams")),
            (Method::PATCH, format!("/streams/{witness}")),
            (Method::POST, format!("/streams/{witness}/join")),
        ]),
    );
    runner()
        .run(&requests, |(content_type, payload, (method, path))| {
            let mut request = Request::json(method, path, payload.as_bytes().to_vec());
            request.content_type = Some(content_type);
            target.unchanged(|| {
                let status = refused(&target, request)?;
                prop_assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn unsigned_forged_or_garbage_webhooks_are_refused() {
    let target = Target::new();
    let requests = (
        prop_oneof![
            Just(None),
            header_bytes(300).prop_map(Some),
            Just(Some(
                b"Bearer eyJhbGciOiJub25lIn0.eyJzaGEyNTYiOiIifQ.".to_vec()
            )),
        ],
        prop_oneof![
            malformed_json(),
            Just(body(
                json!({"event": "room_finished", "room": {"name": "witness"}})
            )),
        ],
    );
    runner()
        .run(&requests, |(authorization, bytes)| {
            let mut request = Request::json(Method::POST, "/webhooks/livekit".into(), bytes);
            request.content_type = Some("application/webhook+json");
            if let Some(value) = authorization {
                request.headers.push(("Authorization", value));
            }
            target.unchanged(|| {
                refused(&target, request)?;
                Ok(())
            })
        })
        .unwrap();
}

/// A body LiveKit signed is trusted, and an object of an event type the orchestrator does not
/// act on is answered 200 (so LiveKit does not retry it for ever); a body that is not a JSON
/// object at all is a 400.
#[test]
fn correctly_signed_webhooks_that_are_not_json_objects_are_refused() {
    let target = Target::new();
    let not_objects = prop_oneof![malformed_json(), json_non_object()]
        .prop_filter("not a JSON object", |bytes| {
            !bytes.trim_ascii_start().starts_with(b"{")
        });
    runner()
        .run(&not_objects, |bytes| {
            let Ok(text) = String::from_utf8(bytes) else {
                return Ok(());
            };
            target.unchanged(|| {
                let status = target.runtime.block_on(async {
                    target
                        .app
                        .post_webhook(&text, livekit_emulator::DEV_API_SECRET)
                        .await
                        .status()
                });
                prop_assert!(status.is_client_error(), "{text}: {status}");
                Ok(())
            })
        })
        .unwrap();
}
