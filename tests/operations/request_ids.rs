//! `X-Request-Id`: accepted from the client when it is short visible ASCII, generated
//! otherwise, returned on every answer and carried in error bodies.

use orchestrator_tests::{assert_error, spawn_app};
use reqwest::{Method, StatusCode};

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_client_request_id_comes_back_in_the_header_and_the_error_body() {
    let app = spawn_app().await;

    let response = app
        .request(Method::GET, "/streams/not-a-stream")
        .header("X-Request-Id", "lb-7f3a:42")
        .send()
        .await
        .unwrap();

    assert_eq!(request_id(&response), "lb-7f3a:42");
    let error = assert_error(response, StatusCode::NOT_FOUND, "stream_not_found").await;
    assert_eq!(error["requestId"], "lb-7f3a:42");
}

#[tokio::test]
async fn without_an_acceptable_request_id_each_request_gets_a_fresh_one() {
    let app = spawn_app().await;

    let without = app.request(Method::GET, "/health").send().await.unwrap();
    let too_long = app
        .request(Method::GET, "/health")
        .header("X-Request-Id", "x".repeat(129))
        .send()
        .await
        .unwrap();
    let with_spaces = app
        .request(Method::GET, "/health")
        .header("X-Request-Id", "two words")
        .send()
        .await
        .unwrap();

    let ids = [&without, &too_long, &with_spaces].map(request_id);
    for id in &ids {
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "{id} is a generated UUID"
        );
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_eq!(without.status(), StatusCode::OK);
}

#[tokio::test]
async fn refusals_before_any_handler_carry_the_request_id_too() {
    let app = spawn_app().await;

    let unknown_route = app
        .request(Method::GET, "/nowhere")
        .header("X-Request-Id", "r-404")
        .send()
        .await
        .unwrap();
    let wrong_method = app
        .request(Method::PUT, "/streams")
        .header("X-Request-Id", "r-405")
        .send()
        .await
        .unwrap();

    let error = assert_error(unknown_route, StatusCode::NOT_FOUND, "route_not_found").await;
    assert_eq!(error["requestId"], "r-404");
    let error = assert_error(
        wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_eq!(error["requestId"], "r-405");
}
