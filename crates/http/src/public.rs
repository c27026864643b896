//! The requests that need no key, by path: the probes, LiveKit's webhooks (signed; the route
//! checks the signature), the dashboard's files and the API's description. The guard
//! ([`crate::auth`]) lets them through and CORS ([`crate::cors`]) treats the dashboard's files
//! as its own; the routes that serve them name their paths from here, so the guard sits below
//! every route it guards and knows none of them.

use actix_web::http::Method;

/// Paths anyone may call with any method: probes, and LiveKit's webhooks (signed).
const OPEN_PATHS: [&str; 5] = [
    "/health",
    "/livez",
    "/ready",
    "/readyz",
    "/webhooks/livekit",
];

/// Where the dashboard's page is served (its files under `/dashboard/`).
pub const DASHBOARD_PATH: &str = "/dashboard";
/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where the document's viewer is served (its assets under `/docs/`).
pub const DOCS_PATH: &str = "/docs";

/// Whether `method path` needs no key.
pub fn is_open(method: &Method, path: &str) -> bool {
    OPEN_PATHS.contains(&path)
        || path.starts_with("/health/")
        || is_dashboard_file(method, path)
        || is_api_description(method, path)
}

/// Whether a request reads one of the dashboard's files (public: they hold no data; a
/// browser navigating to the page sends no key, the page then calls the API with the key its
/// operator typed in).
pub fn is_dashboard_file(method: &Method, path: &str) -> bool {
    is_read(method) && is_at_or_under(path, DASHBOARD_PATH)
}

/// Whether a request reads the OpenAPI document or its viewer (public like the README that
/// describes the same API; the viewer calls the API with a key typed in).
pub fn is_api_description(method: &Method, path: &str) -> bool {
    is_read(method) && (path == OPENAPI_PATH || is_at_or_under(path, DOCS_PATH))
}

fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

fn is_at_or_under(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
