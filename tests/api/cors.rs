//! Browsers: CORS on every route and the WebSocket handshake, one origin policy for both.

use orchestrator::Settings;
use orchestrator_tests::{assert_error, assert_error_envelope, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;

const DASHBOARD: &str = "http://dashboard.example:8080";
const STRANGER: &str = "https://evil.example";

/// An app that lets only [`DASHBOARD`]'s pages in, as configured in production.
async fn app_for_the_dashboard() -> TestApp {
    let mut settings = Settings::for_tests();
    settings.http.cors_allowed_origins = vec![DASHBOARD.to_owned()];
    spawn_app_with(settings).await
}

/// An app with production's default: no browser origin at all.
async fn app_for_no_browser() -> TestApp {
    let mut settings = Settings::for_tests();
    settings.http.cors_allowed_origins = Vec::new();
    spawn_app_with(settings).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.request(Method::OPTIONS, path)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "content-type,idempotency-key,if-match,authorization",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

fn lowercase_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_the_api_methods_and_headers() {
    let app = app_for_the_dashboard().await;

    let response = preflight(&app, "/streams/some-id", DASHBOARD, "PATCH").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), DASHBOARD);
    let methods = lowercase_list(header(&response, "access-control-allow-methods"));
    for method in ["get", "post", "patch", "delete"] {
        assert!(
            methods.contains(&method.to_owned()),
            "{method} in {methods:?}"
        );
    }
    let headers = lowercase_list(header(&response, "access-control-allow-headers"));
    for allowed in [
        "content-type",
        "idempotency-key",
        "if-match",
        "authorization",
    ] {
        assert!(
            headers.contains(&allowed.to_owned()),
            "{allowed} in {headers:?}"
        );
    }
    assert!(!header(&response, "access-control-max-age").is_empty());
}

#[tokio::test]
async fn answers_to_an_allowed_origin_expose_the_api_headers_to_scripts() {
    let app = app_for_the_dashboard().await;

    let response = app
        .request(Method::POST, "/streams")
        .header("Origin", DASHBOARD)
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "access-control-allow-origin"), DASHBOARD);
    let exposed = lowercase_list(header(&response, "access-control-expose-headers"));
    for name in [
        "etag",
        "location",
        "link",
        "idempotent-replayed",
        "retry-after",
    ] {
        assert!(exposed.contains(&name.to_owned()), "{name} in {exposed:?}");
    }
}

#[tokio::test]
async fn error_answers_carry_cors_headers_so_a_page_can_read_the_message() {
    let app = app_for_the_dashboard().await;

    let response = app
        .request(Method::GET, "/streams/00000000-0000-4000-8000-000000000000")
        .header("Origin", DASHBOARD)
        .send()
        .await
        .unwrap();

    assert_eq!(header(&response, "access-control-allow-origin"), DASHBOARD);
    assert_error(response, StatusCode::NOT_FOUND, "stream_not_found").await;
}

#[tokio::test]
async fn in_development_pages_of_any_origin_may_call_the_api() {
    let app = spawn_app().await;

    let preflight = preflight(&app, "/streams", STRANGER, "POST").await;
    let listed = app
        .request(Method::GET, "/streams")
        .header("Origin", STRANGER)
        .send()
        .await
        .unwrap();

    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(header(&preflight, "access-control-allow-origin"), STRANGER);
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(header(&listed, "access-control-allow-origin"), STRANGER);
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_in_the_error_envelope() {
    let app = app_for_the_dashboard().await;

    let response = preflight(&app, "/streams", STRANGER, "POST").await;

    assert!(header(&response, "access-control-allow-origin").is_empty());
    let error = assert_error(response, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    assert!(
        error["message"].as_str().unwrap().contains(STRANGER),
        "{error}"
    );
}

#[tokio::test]
async fn a_simple_request_from_another_origin_is_refused_and_changes_nothing() {
    let app = app_for_the_dashboard().await;

    // A form-like POST needs no preflight: refusing it server-side is what protects the API.
    let response = app
        .request(Method::POST, "/streams")
        .header("Origin", STRANGER)
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    let all = app.streams().await;
    assert!(all.is_empty(), "nothing was created");
}

#[tokio::test]
async fn with_no_origin_configured_browsers_are_refused_but_other_clients_are_not() {
    let app = app_for_no_browser().await;

    let from_a_page = app
        .request(Method::GET, "/health")
        .header("Origin", DASHBOARD)
        .send()
        .await
        .unwrap();
    let without_origin = app.health().await;

    assert_error(from_a_page, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    assert_eq!(without_origin.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_websocket_handshake_admits_an_allowed_origin_and_clients_without_one() {
    let app = app_for_the_dashboard().await;

    let from_the_dashboard = app.ws_from_origin("/ws", DASHBOARD).await;
    let from_a_backend = app.ws("/").await;

    assert!(from_the_dashboard.is_ok(), "{:?}", from_the_dashboard.err());
    drop(from_a_backend);
}

#[tokio::test]
async fn the_websocket_handshake_refuses_another_origin_with_a_403_envelope() {
    let app = app_for_the_dashboard().await;
    for path in ["/", "/ws"] {
        let refused = app.ws_from_origin(path, STRANGER).await;

        let Err(tungstenite::Error::Http(response)) = refused else {
            panic!("the handshake on {path} from {STRANGER} must fail with an HTTP answer");
        };
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
        assert_error_envelope(&body, StatusCode::FORBIDDEN, "origin_not_allowed");
    }
}

#[tokio::test]
async fn a_page_the_service_served_itself_is_let_in_without_being_listed() {
    let app = app_for_no_browser().await;
    let own_origin = format!("http://{}", app.addr);

    let created = app
        .request(Method::POST, "/streams")
        .header("Origin", &own_origin)
        .json(&json!({"name": "from the dashboard"}))
        .send()
        .await
        .unwrap();
    let socket = app.ws_from_origin("/ws", &own_origin).await;

    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(socket.is_ok(), "{:?}", socket.err());
}

#[tokio::test]
async fn another_port_of_the_same_host_is_another_origin() {
    let app = app_for_no_browser().await;
    let neighbour = format!("http://{}:{}", app.addr.ip(), app.addr.port() ^ 1);

    let response = app
        .request(Method::POST, "/streams")
        .header("Origin", &neighbour)
        .json(&json!({"name": "from a neighbour"}))
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    let all = app.streams().await;
    assert!(all.is_empty(), "nothing was created");
}
