use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn health_reports_status_uptime_and_version() {
    let app = spawn_app().await;

    let response = app.health().await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(body["uptime"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;

    let response = app.list_streams("/x/y").await;

    assert_error(response, StatusCode::NOT_FOUND, "route_not_found").await;
}

#[tokio::test]
async fn a_method_a_route_does_not_support_is_a_json_405() {
    let app = spawn_app().await;

    let response = app
        .send_raw(
            reqwest::Method::PUT,
            "/streams",
            Some("application/json"),
            "{}",
        )
        .await;

    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}
