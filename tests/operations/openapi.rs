//! The API document and its viewer, served by the binary itself (no network needed). That the
//! document describes every route is checked against the app's route table in
//! `crates/server/src/http_tests.rs`; that live answers match it, by schemathesis in
//! `.ci/run`.

use orchestrator_tests::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_is_served_as_openapi_3_1() {
    let app = spawn_app().await;

    let response = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let create = &document["paths"]["/streams"]["post"];
    assert!(create["responses"]["201"].is_object(), "{create}");
    assert!(
        document["components"]["schemas"]["Stream"]["properties"]["roomName"].is_object(),
        "the stream's shape is described"
    );
}

#[tokio::test]
async fn the_viewer_is_embedded_in_the_binary_and_reads_the_document() {
    let app = spawn_app().await;
    let no_redirects = orchestrator_tests::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let docs = no_redirects
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    let page = app.request(Method::GET, "/docs/").send().await.unwrap();
    let script = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js")
        .send()
        .await
        .unwrap();
    let initializer = app
        .request(Method::GET, "/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap();

    assert_eq!(docs.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(docs.headers()["location"], "/docs/");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.bytes().await.unwrap().len() > 100_000,
        "the bundle itself"
    );
    assert!(initializer
        .text()
        .await
        .unwrap()
        .contains("\"/openapi.json\""));
}
