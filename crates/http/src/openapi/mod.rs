//! The API described: an OpenAPI 3.1 document generated from the handlers' annotations
//! (utoipa) at `GET /openapi.json`, and an interactive viewer (Swagger UI) at `/docs`.
//!
//! Swagger UI comes from `utoipa-swagger-ui`'s vendored copy: nothing is downloaded when
//! building and nothing is fetched by the page when it runs; its ~4 MB of assets are embedded
//! in the binary. Paths are written as actix writes route patterns (`/streams/{id}`), so a test
//! holds the document to the app's route table ([`UNDOCUMENTED`] lists the deliberate gaps).
//!
//! This module holds the document ([`document`], [`document_json`]) and the routes serving it.
//! The schemas of the shapes the domain serializes itself live beside the other shapes (the
//! `dto` module's `schemas`): the routes that name them need nothing from here, and this module
//! sits above every route it describes.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::dto::schemas::ErrorEnvelope;
use crate::public::{DOCS_PATH, OPENAPI_PATH};

/// Route patterns of the app that are deliberately not in the document, with why.
pub const UNDOCUMENTED: &[(&str, &str)] = &[
    (
        "/docs/{_:.*}",
        "the viewer's own assets (Swagger UI's pages, scripts and styles)",
    ),
    (
        "/dashboard",
        "the dashboard's page (HTML for a browser, not an API)",
    ),
    (
        "/dashboard/",
        "the dashboard's page (HTML for a browser, not an API)",
    ),
    (
        "/dashboard/{file}",
        "the dashboard's own files (its page, scripts and styles; `/dashboard` is the page)",
    ),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Livestream Orchestrator",
        description = "Manage LiveKit livestreams: create, update and stop streams (each a \
            LiveKit room), let people join with least-privilege access tokens, and follow \
            every change live. Every error is one JSON envelope `{\"error\": {\"code\", \
            \"message\", \"statusCode\", …}}`; `code` is stable. Mutating stream routes honour \
            `Idempotency-Key`. Real-time updates: WebSocket on this port (`/ws`), gRPC on \
            `GRPC_PORT` (package `livestream.orchestrator.v1`, with reflection).",
        license(name = "MIT"),
    ),
    paths(
        crate::routes::streams::create,
        crate::routes::streams::list,
        crate::routes::streams::get,
        crate::routes::streams::state,
        crate::routes::streams::update,
        crate::routes::streams::stop,
        crate::routes::streams::join,
        crate::routes::streams::participants,
        crate::routes::streams::leave,
        crate::routes::broadcast::create_ingest,
        crate::routes::broadcast::ingest,
        crate::routes::broadcast::rotate_ingest,
        crate::routes::broadcast::delete_ingest,
        crate::routes::broadcast::outputs,
        crate::routes::broadcast::add_output,
        crate::routes::broadcast::output,
        crate::routes::broadcast::start_output,
        crate::routes::broadcast::stop_output,
        crate::routes::broadcast::remove_output,
        crate::routes::events::events,
        crate::routes::tickets::ws_ticket,
        crate::routes::webhooks::receive,
        crate::routes::health::health,
        crate::routes::health::ready,
        crate::routes::health::ready_alias,
        crate::routes::health::readyz,
        crate::routes::health::livez,
        crate::metrics::metrics,
        openapi_json,
        docs,
        websocket_root,
        websocket,
    ),
    components(schemas(ErrorEnvelope)),
    modifiers(&AccessSchemes),
    security(("operatorKey" = [])),
    tags(
        (name = "streams", description = "Streams: create, read, update, stop"),
        (name = "participants", description = "Joining, leaving, and who is in a stream"),
        (name = "broadcast", description = "Ingest from encoders, outputs to players, platforms and recordings"),
        (name = "webhooks", description = "LiveKit's signed webhooks"),
        (name = "realtime", description = "Live updates over WebSocket (gRPC: see docs/grpc.md)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
struct ApiDoc;

/// The name of the operator-key scheme (`Authorization: Bearer <key>`), as the `security`
/// attributes spell it.
const OPERATOR_KEY: &str = "operatorKey";
/// The name of the WebSocket-ticket scheme (`?ticket=`).
const TICKET: &str = "ticket";

/// How callers prove who they are: an operator key on every route that is not open, or a
/// ticket (`POST /ws-tickets`) on the WebSocket handshake. A service without configured keys
/// accepts every call.
struct AccessSchemes;

impl Modify for AccessSchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let mut key = Http::new(HttpAuthScheme::Bearer);
        key.description = Some(
            "An operator API key (`orchestrator generate-keys`); `read` keys may only read".into(),
        );
        components.add_security_scheme(OPERATOR_KEY, SecurityScheme::Http(key));
        components.add_security_scheme(
            TICKET,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "ticket",
                "A WebSocket ticket from `POST /ws-tickets` (browsers cannot send a header)",
            ))),
        );
    }
}

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as served, serialized once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_pretty_json().unwrap_or_default())
}

/// Mounts `/openapi.json`, `/docs` (redirecting to `/docs/`) and the viewer under `/docs/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(OPENAPI_PATH)
            .route(web::get().to(openapi_json))
            .default_service(crate::allow::not_allowed(&[Method::GET])),
    )
    .service(
        web::resource(DOCS_PATH)
            .route(web::get().to(docs))
            .default_service(crate::allow::not_allowed(&[Method::GET])),
    )
    .service(SwaggerUi::new(format!("{DOCS_PATH}/{{_:.*}}")).config(Config::from(OPENAPI_PATH)));
}

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API",
               content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// The interactive viewer of this document (Swagger UI, embedded: no network needed).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    security(()),
    responses((status = 308, description = "To the viewer at `/docs/`",
               headers(("Location" = String, description = "`/docs/`"))))
)]
pub(crate) async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, format!("{DOCS_PATH}/")))
        .finish()
}

/// The WebSocket API at `/` (as the original product documents it); the same as `/ws`.
#[utoipa::path(
    get,
    path = "/",
    tag = "realtime",
    security(("operatorKey" = []), ("ticket" = [])),
    responses(
        (status = 101, description = "Switched to WebSocket (see `/ws`)"),
        (status = 426, description = "`websocket_upgrade_required`: plain HTTP on the \
         WebSocket path", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)] // Describes a route of the WebSocket crate; never called.
pub(crate) async fn websocket_root() {}

/// The WebSocket API: subscribe to any number of streams and receive every event, with a
/// gapless resume (`afterSeq`). Messages are described in docs/websocket.md.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "realtime",
    security(("operatorKey" = []), ("ticket" = [])),
    responses(
        (status = 101, description = "Switched to WebSocket. Client messages: `subscribe`, \
         `unsubscribe`, `ping`; server messages: `connected`, `subscribed`, `event`, \
         `audience`, `unsubscribed`, `pong`, `error`, `resync_required`"),
        (status = 426, description = "`websocket_upgrade_required`: plain HTTP on the \
         WebSocket path", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)] // Describes a route of the WebSocket crate; never called.
pub(crate) async fn websocket() {}
