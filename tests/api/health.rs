use orchestrator_tests::{assert_error, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    assert_eq!(response.headers()["allow"], "GET, HEAD, POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn every_405_names_the_methods_the_path_supports() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let cases = [
        (Method::POST, "/health".to_owned(), "GET, HEAD"),
        (Method::DELETE, "/readyz".to_owned(), "GET, HEAD"),
        (Method::GET, "/webhooks/livekit".to_owned(), "POST"),
        (
            Method::PUT,
            format!("/streams/{id}"),
            "GET, HEAD, PATCH, DELETE",
        ),
        (Method::GET, format!("/streams/{id}/join"), "POST"),
        (Method::POST, "/ws".to_owned(), "GET, HEAD"),
        (Method::HEAD, format!("/streams/{id}/leave"), "POST"),
    ];

    for (method, path, allow) in cases {
        let response = app.request(method.clone(), &path).send().await.unwrap();

        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn head_answers_wherever_get_does_with_the_same_head_and_no_body() {
    let app = spawn_app().await;
    app.new_stream_id().await;

    for path in [
        "/health",
        "/livez",
        "/health/ready",
        "/readyz",
        "/streams",
        "/metrics",
        "/openapi.json",
        "/dashboard",
    ] {
        let get = app.request(Method::GET, path).send().await.unwrap();
        let head = app.request(Method::HEAD, path).send().await.unwrap();

        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(head.status(), StatusCode::OK, "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_head_answer_carries_no_body_on_the_wire() {
    let app = spawn_app().await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();

    // Pipelined on one connection: had the first answer a body, the second answer's status
    // line would not follow its head.
    socket
        .write_all(
            b"HEAD /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n\
              GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    socket.read_to_end(&mut received).await.unwrap();

    let text = String::from_utf8_lossy(&received);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("the GET's content-length")
        .parse()
        .unwrap();
    assert!(
        length > 10_000,
        "the document's length, as GET would send it: {length}"
    );
    assert!(
        rest.starts_with("HTTP/1.1 200"),
        "no body before the next answer: {:.80}",
        rest
    );
}
