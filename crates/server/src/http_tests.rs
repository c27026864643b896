//! The API document against the app's route table: every route pattern the HTTP app mounts is
//! a path of `/openapi.json` (or deliberately undocumented, with a reason), and every path
//! accepts exactly the methods the document gives it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::Method;
use actix_web::{test, web, HttpRequest};
use serde_json::Value;

use super::*;
use crate::test_support;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The parts of an app on the in-memory store, with a LiveKit nothing listens on (no route
/// probed below needs it to answer).
fn parts() -> HttpParts {
    let use_cases = test_support::use_cases(test_support::NO_LIVEKIT);
    HttpParts::new(
        &test_support::config(),
        &use_cases,
        None,
        &CancellationToken::new(),
    )
}

/// Answers the app's resource map, as actix prints it.
async fn route_table(req: HttpRequest) -> String {
    format!("{:?}", req.resource_map())
}

/// A string literal as `{:?}` prints it, starting at its opening quote: its text and the index
/// just past its closing quote.
fn debug_string(bytes: &[u8], open: usize) -> (String, usize) {
    let (mut text, mut at) = (Vec::new(), open + 1);
    while at < bytes.len() && bytes[at] != b'"' {
        if bytes[at] == b'\\' {
            at += 1;
        }
        text.push(bytes[at]);
        at += 1;
    }
    (String::from_utf8_lossy(&text).into_owned(), at + 1)
}

/// The full route patterns in a printed resource map: each leaf's patterns (`Single("…")` or
/// `List(["…", …])`) prefixed with its scopes'. The map prints as nested `ResourceMap {
/// pattern: ResourceDef { … patterns: … } … nodes: Some([…]) }`, a leaf with `nodes: None`;
/// the app names no resource, so `named` holds nothing to repeat.
fn patterns(printed: &str) -> BTreeSet<String> {
    const MAP: &[u8] = b"ResourceMap {";
    const PATTERNS: &[u8] = b"patterns: ";
    const LEAF: &[u8] = b"nodes: None";
    struct Open {
        depth: usize,
        prefixes: Vec<String>,
        full: Option<Vec<String>>,
        leaf: bool,
    }
    let bytes = printed.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut found = BTreeSet::new();
    let (mut depth, mut at) = (0_usize, 0);
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.starts_with(MAP) {
            depth += 1;
            let prefixes = open
                .last()
                .and_then(|parent| parent.full.clone())
                .unwrap_or_else(|| vec![String::new()]);
            open.push(Open {
                depth,
                prefixes,
                full: None,
                leaf: false,
            });
            at += MAP.len();
        } else if rest.starts_with(PATTERNS) {
            // `Single("…")` or `List(["…", …])`: every string up to the closing parenthesis.
            let (mut own, mut cursor) = (Vec::new(), at + PATTERNS.len());
            while cursor < bytes.len() && bytes[cursor] != b')' {
                if bytes[cursor] == b'"' {
                    let (text, next) = debug_string(bytes, cursor);
                    own.push(text);
                    cursor = next;
                } else {
                    cursor += 1;
                }
            }
            let top = open.last_mut().expect("patterns belong to a map");
            let full = top
                .prefixes
                .iter()
                .flat_map(|prefix| own.iter().map(move |pattern| format!("{prefix}{pattern}")))
                .collect();
            top.full = Some(full);
            at = cursor;
        } else if rest.starts_with(LEAF) {
            open.last_mut().expect("nodes belong to a map").leaf = true;
            at += LEAF.len();
        } else {
            match bytes[at] {
                b'"' => at = debug_string(bytes, at).1 - 1,
                b'{' => depth += 1,
                b'}' => {
                    if open.last().is_some_and(|map| map.depth == depth) {
                        let map = open.pop().expect("checked above");
                        if map.leaf {
                            found.extend(map.full.expect("every route has a pattern"));
                        }
                    }
                    depth -= 1;
                }
                _ => {}
            }
            at += 1;
        }
    }
    found.retain(|pattern| !pattern.is_empty() && pattern != "/__route_table");
    found
}

// `test` here is actix-web's module; this one needs no runtime.
#[::std::prelude::v1::test]
fn route_patterns_are_read_through_scopes_and_lists() {
    let printed = r#"ResourceMap { pattern: ResourceDef { patterns: Single("") }, nodes: Some([
        ResourceMap { pattern: ResourceDef { patterns: List(["/a", "/a/"]), re: Regex("{x}") }, nodes: None },
        ResourceMap { pattern: ResourceDef { patterns: Single("/s/{id}") }, nodes: Some([
            ResourceMap { pattern: ResourceDef { patterns: Single("") }, nodes: None },
            ResourceMap { pattern: ResourceDef { patterns: Single("/j\\d\"q") }, nodes: None }]) }]) }"#;

    let found: Vec<String> = patterns(printed).into_iter().collect();

    assert_eq!(found, ["/a", "/a/", "/s/{id}", "/s/{id}/j\\d\"q"]);
}

/// The document's paths and the methods of each, lowercase.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let document: Value =
        serde_json::from_str(orchestrator_http::openapi::document_json()).unwrap();
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().unwrap().keys().cloned().collect();
            (path.clone(), methods)
        })
        .collect()
}

/// A concrete path for a pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{id}", "0b5a3c9e-58f4-4a84-9f3e-2f1d6c7b8a90")
        .replace("{_:.*}", "index.html")
}

#[actix_web::test]
async fn every_route_the_app_mounts_is_in_the_api_document() {
    let app =
        test::init_service(app(&parts()).route("/__route_table", web::get().to(route_table))).await;
    let printed = test::call_and_read_body(
        &app,
        test::TestRequest::get().uri("/__route_table").to_request(),
    )
    .await;
    let mounted = patterns(std::str::from_utf8(&printed).unwrap());
    let undocumented: BTreeSet<String> = orchestrator_http::openapi::UNDOCUMENTED
        .iter()
        .map(|(pattern, _why)| (*pattern).to_owned())
        .collect();
    let documented: BTreeSet<String> = documented().into_keys().collect();

    assert!(mounted.contains("/streams/{id}/join"), "{mounted:?}");
    let missing: Vec<&String> = mounted
        .difference(&documented)
        .filter(|pattern| !undocumented.contains(*pattern))
        .collect();
    assert!(
        missing.is_empty(),
        "mounted but not documented: {missing:?}"
    );
    let phantom: Vec<&String> = documented.difference(&mounted).collect();
    assert!(
        phantom.is_empty(),
        "documented but not mounted: {phantom:?}"
    );
}

#[actix_web::test]
async fn every_documented_path_accepts_exactly_its_documented_methods() {
    let app = test::init_service(app(&parts())).await;

    for (path, methods) in documented() {
        for method in METHODS {
            let request = test::TestRequest::default()
                .method(method.clone())
                .uri(&concrete(&path))
                .insert_header(("content-type", "application/json"))
                .set_payload("{")
                .to_request();
            let response = test::call_service(&app, request).await;
            let status = response.status();
            let allow = response.headers().get("allow").cloned();
            let body: Value =
                serde_json::from_slice(&test::read_body(response).await).unwrap_or_default();
            let code = body["error"]["code"].as_str().unwrap_or_default();
            let accepted = !matches!(code, "method_not_allowed" | "route_not_found");
            assert_eq!(
                accepted,
                answered_by(&methods).contains(method.as_str()),
                "{method} {path}: {status} {body}"
            );
            if status == actix_web::http::StatusCode::METHOD_NOT_ALLOWED {
                let allow = allow.unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"));
                let allowed: BTreeSet<String> = allow
                    .to_str()
                    .unwrap()
                    .split(", ")
                    .map(str::to_owned)
                    .collect();
                assert_eq!(allowed, answered_by(&methods), "Allow of {path}");
            }
        }
    }
}

/// The methods a path answers: its documented ones, and `HEAD` wherever `GET`.
fn answered_by(documented: &BTreeSet<String>) -> BTreeSet<String> {
    let mut methods: BTreeSet<String> = documented.iter().map(|m| m.to_ascii_uppercase()).collect();
    if methods.contains("GET") {
        methods.insert("HEAD".to_owned());
    }
    methods
}
