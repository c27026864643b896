use actix_web::dev::ServiceResponse;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{test, web, App};

use super::*;
use crate::cors::{AllowedOrigins, CorsLayer};

/// Sends `request` to the dashboard routes, mounted as `crate::configure` mounts them.
async fn call(request: test::TestRequest) -> ServiceResponse {
    let app = test::init_service(
        App::new()
            .configure(configure)
            .default_service(web::to(crate::not_found)),
    )
    .await;
    test::call_service(&app, request.to_request()).await
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

fn header_of(response: &ServiceResponse, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn the_page_is_html_with_a_restrictive_policy_and_revalidated_caching() {
    let response = call(get("/dashboard")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
    assert_eq!(
        header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    let policy = header_of(&response, header::CONTENT_SECURITY_POLICY);
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let body = test::read_body(response).await;
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains("<script type=\"module\" src=\"/dashboard/app.js\">"),
        "{html}"
    );
}

/// The modules `script` imports (`from "./x.js"`), by file name.
fn imports(script: &str) -> Vec<String> {
    script
        .split("from \"./")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[actix_web::test]
async fn every_module_a_served_script_imports_is_served_as_javascript() {
    let mut imported: Vec<String> = ASSETS
        .iter()
        .filter(|asset| asset.content_type == JS)
        .flat_map(|asset| imports(&String::from_utf8_lossy(asset.body)))
        .collect();
    imported.sort();
    imported.dedup();

    for name in [
        "participants.js",
        "roster.js",
        "search.js",
        "access.js",
        "broadcast.js",
        "broadcast-panel.js",
        "broadcast-view.js",
    ] {
        assert!(imported.iter().any(|i| i == name), "{name} in {imported:?}");
    }
    for name in &imported {
        let uri = format!("/dashboard/{name}");
        let response = call(get(&uri)).await;

        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), JS, "{uri}");
    }
}

#[actix_web::test]
async fn a_browser_holding_the_current_copy_gets_a_304_without_a_body() {
    let first = call(get("/dashboard/style.css")).await;
    let etag = header_of(&first, header::ETAG);

    let response =
        call(get("/dashboard/style.css").insert_header((header::IF_NONE_MATCH, etag.clone())))
            .await;

    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header_of(&response, header::ETAG), etag);
    assert!(test::read_body(response).await.is_empty());
}

#[actix_web::test]
async fn an_outdated_copy_is_answered_in_full() {
    let request = get("/dashboard/app.js").insert_header((header::IF_NONE_MATCH, "\"stale\""));

    let response = call(request).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(!test::read_body(response).await.is_empty());
}

#[actix_web::test]
async fn an_unknown_file_is_a_404_in_the_error_envelope() {
    for uri in [
        "/dashboard/secrets.txt",
        "/dashboard/index.html",
        "/dashboard/a/b.js",
    ] {
        let response = call(get(uri)).await;

        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"]["code"], "route_not_found", "{uri}");
    }
}

#[actix_web::test]
async fn the_page_cannot_be_posted_to() {
    let request = test::TestRequest::default()
        .method(Method::POST)
        .uri("/dashboard");

    let response = call(request).await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn its_files_load_whatever_the_origin_while_the_api_stays_closed_to_other_origins() {
    // Production's default: no browser origin allowed. Chromium still sends `Origin` with the
    // page's module scripts.
    let app = test::init_service(
        App::new()
            .wrap(CorsLayer::new(AllowedOrigins::List(Vec::new())))
            .configure(configure)
            .default_service(web::to(crate::not_found)),
    )
    .await;
    let from = |uri: &str| get(uri).insert_header((header::ORIGIN, "http://elsewhere.example"));

    let script = test::call_service(&app, from("/dashboard/app.js").to_request()).await;
    let api = test::call_service(&app, from("/streams").to_request()).await;

    assert_eq!(script.status(), StatusCode::OK);
    assert!(script
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
}
