//! `GET /dashboard`: the operator's live dashboard, a page of plain HTML, CSS and JavaScript
//! modules embedded in the binary (no build step, no CDN, nothing fetched from elsewhere).
//!
//! The page is a client of the public API like any other: it lists streams over REST (a page
//! at a time, following `Link`), follows them over the WebSocket (`afterSeq`, resumed after a
//! drop), pages a stream's participants with their cursor, reads a stream's ingest and outputs
//! once when it is shown and follows them by its events, and acts through the same routes an
//! operator's scripts use. Nothing here reads the domain: the page has no privileges the API
//! does not give it.
//!
//! The scripts (`assets/`): `app.js` the controller; `api.js` REST calls and settings;
//! `live.js` the WebSocket; `model.js` each stream's state; `participants.js` and `roster.js`
//! the selected stream's roster, a page at a time; `broadcast.js` (its state),
//! `broadcast-panel.js` (reads and actions) and `broadcast-view.js` (its DOM) the selected
//! stream's ingest and outputs; `search.js` the search over loaded streams; `access.js` what to
//! say when the key is refused; `view.js` and `chart.js` the DOM.
//!
//! Every asset is answered with a strong `ETag` (a hash of its bytes) and `Cache-Control:
//! no-cache`, so browsers revalidate cheaply (304) and never run a stale script after an
//! upgrade, and with a Content-Security-Policy that lets the page load only its own scripts and
//! styles and connect only to its own origin.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::public::DASHBOARD_PATH;

/// What the page may do: its own scripts, styles and images, API calls and the WebSocket to its
/// own origin (`'self'` covers `ws:`/`wss:` of the same host), nothing inline, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("access.js", JS),
    asset!("api.js", JS),
    asset!("live.js", JS),
    asset!("model.js", JS),
    asset!("participants.js", JS),
    asset!("roster.js", JS),
    asset!("broadcast.js", JS),
    asset!("broadcast-panel.js", JS),
    asset!("broadcast-view.js", JS),
    asset!("search.js", JS),
    asset!("view.js", JS),
    asset!("chart.js", JS),
];

/// Each asset's strong ETag, in [`ASSETS`] order, hashed once per process.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// Mounts `/dashboard` (the page) and `/dashboard/{file}` (its assets).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let not_allowed = || crate::allow::not_allowed(&[Method::GET]);
    cfg.service(
        web::resource([DASHBOARD_PATH.to_owned(), format!("{DASHBOARD_PATH}/")])
            .route(web::get().to(page))
            .route(web::head().to(page))
            .default_service(not_allowed()),
    )
    .service(
        web::resource(format!("{DASHBOARD_PATH}/{{file}}"))
            .route(web::get().to(file))
            .route(web::head().to(file))
            .default_service(not_allowed()),
    );
}

async fn page(req: HttpRequest) -> HttpResponse {
    serve(&req, "index.html").unwrap_or_else(|| HttpResponse::NotFound().finish())
}

async fn file(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    // The page has one address, `/dashboard`, not a second one under its file name.
    let found = (name.as_str() != "index.html")
        .then(|| serve(&req, &name))
        .flatten();
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("the dashboard has no file {name:?}"),
        )
    })
}

/// The asset called `name` (304 when the browser's copy is current), or `None`.
fn serve(req: &HttpRequest, name: &str) -> Option<HttpResponse> {
    let (asset, etag) = ASSETS
        .iter()
        .zip(ETAGS.iter())
        .find(|(asset, _)| asset.name == name)?;
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ));
    Some(if fresh {
        response.finish()
    } else {
        response.content_type(asset.content_type).body(asset.body)
    })
}

#[cfg(test)]
mod tests;
