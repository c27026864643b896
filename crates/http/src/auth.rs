//! Who may use the HTTP port, checked once in front of every route: operator API keys
//! (`Authorization: Bearer <key>`, through the domain's [`Access`] policy), the rate limits and
//! the per-address connection limit of [`crate::limits`]. Which paths are open is
//! [`crate::public`]'s; `POST /ws-tickets` (a key traded for a WebSocket ticket) is a route like
//! any other (`routes::tickets`): the guard knows no route.
//!
//! What each request needs ([`requirement`]):
//! - nothing: `/health`, `/health/*`, `/livez`, `/ready`, `/readyz` (probes) and `POST /webhooks/livekit` (LiveKit
//!   signs its webhooks; the route checks the signature), and the dashboard's files (`GET
//!   /dashboard…`: a browser navigating to a page sends no key; the page then calls the API
//!   with the key its operator typed in), and the API's description (`GET /openapi.json`,
//!   `/docs…`: what the README says too; its viewer calls the API with a key typed in);
//! - a key of any scope: reads (`GET`, `HEAD`), `/metrics`, `POST /ws-tickets`;
//! - a key or a ticket (`?ticket=`) of any scope: the WebSocket handshake (`GET /`, `GET /ws`);
//! - a key with the write scope: every other request (changes).
//!
//! The caller ([`Principal`]) goes into the request's extensions for the handlers (the
//! WebSocket transport counts connections per key with it). A refusal is the error envelope:
//! `401 unauthorized` with `WWW-Authenticate: Bearer`, `403 forbidden` for a read-only key,
//! `429` beyond a limit. Keys are never logged, echoed or counted by value: only their
//! [`KeyId`](orchestrator_domain::policy::access::KeyId).

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, ResponseError};
use orchestrator_domain::policy::access::{Access, AccessError, Principal, Scope};
use orchestrator_domain::policy::limits::RateLimits;

use crate::error::ApiError;
use crate::limits::{too_many_connections, Admit, OverConnectionLimit};

/// What the HTTP port checks before a route runs; one per process, shared by every worker.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The operator keys and the ticket signer.
    pub access: Access,
    /// Requests per second per key and per address.
    pub rate_limits: Arc<RateLimits>,
}

impl Guard {
    /// No key, no limit (tests, embedding).
    pub fn open() -> Self {
        Self {
            access: Access::open(),
            rate_limits: Arc::new(RateLimits::off()),
        }
    }
}

/// What a request needs to be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing.
    Open,
    /// A key with this scope.
    Key(Scope),
    /// A key or a ticket, of any scope (the WebSocket handshake).
    KeyOrTicket,
}

/// What `method path` needs.
pub fn requirement(method: &Method, path: &str) -> Requirement {
    if crate::public::is_open(method, path) {
        return Requirement::Open;
    }
    let read = *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS;
    match path {
        "/" | "/ws" if *method == Method::GET => Requirement::KeyOrTicket,
        "/ws-tickets" => Requirement::Key(Scope::Read),
        _ if read => Requirement::Key(Scope::Read),
        _ => Requirement::Key(Scope::Write),
    }
}

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        let message = err.to_string();
        match err {
            AccessError::Missing
            | AccessError::Malformed
            | AccessError::InvalidKey
            | AccessError::InvalidTicket
            | AccessError::ExpiredTicket => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            AccessError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
        }
    }
}

/// Mounts the guard's state (the middleware reads it, and so does `POST /ws-tickets`).
pub fn configure(guard: Guard) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(guard));
    }
}

/// The middleware: wrap the whole app with `from_fn(auth::middleware)`, inside CORS (so
/// preflights are answered and refusals stay readable by allowed pages).
///
/// # Errors
/// Whatever the wrapped service fails with.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let admitted = match req.app_data::<web::Data<Guard>>() {
        Some(guard) => admit(guard, &req),
        // Mounted without its state: refuse rather than let everyone in.
        None => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )),
    };
    match admitted {
        Ok(principal) => {
            if let Some(principal) = principal {
                req.extensions_mut().insert(principal);
            }
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(refusal) => {
            tracing::debug!(code = refusal.code, path = %req.path(), "request refused");
            Ok(req.into_response(refusal.error_response()))
        }
    }
}

/// The caller (none on the open routes), if every limit and the access policy let the
/// request through.
fn admit(guard: &Guard, req: &ServiceRequest) -> Result<Option<Principal>, ApiError> {
    if let Some(over) = req.conn_data::<OverConnectionLimit>() {
        return Err(too_many_connections(*over));
    }
    let requirement = requirement(req.method(), req.path());
    if requirement == Requirement::Open {
        return Ok(None);
    }
    guard.rate_limits.admit_address(req.peer_addr())?;
    let principal = authenticate(&guard.access, req.request(), requirement)?;
    if let Some(key) = principal.key() {
        guard.rate_limits.admit_key(key)?;
    }
    Ok(Some(principal))
}

fn authenticate(
    access: &Access,
    req: &HttpRequest,
    requirement: Requirement,
) -> Result<Principal, ApiError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().map_err(|_| AccessError::Malformed))
        .transpose()?;
    match requirement {
        Requirement::Open => Ok(Principal::anonymous()),
        Requirement::Key(scope) => Ok(access.check(authorization, scope)?),
        Requirement::KeyOrTicket => match (authorization, ticket_of(req)) {
            (None, Some(ticket)) if !access.is_open() => {
                Ok(access.redeem_ticket(ticket, chrono::Utc::now())?)
            }
            (authorization, _) => Ok(access.check(authorization, Scope::Read)?),
        },
    }
}

/// The `ticket` query parameter (tickets are URL-safe: no decoding needed).
fn ticket_of(req: &HttpRequest) -> Option<&str> {
    req.query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("ticket="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_files_are_open_but_not_what_the_page_calls() {
        for path in ["/dashboard", "/dashboard/app.js"] {
            assert_eq!(requirement(&Method::GET, path), Requirement::Open, "{path}");
        }
        assert_eq!(
            requirement(&Method::POST, "/dashboard"),
            Requirement::Key(Scope::Write)
        );
        assert_eq!(
            requirement(&Method::GET, "/streams"),
            Requirement::Key(Scope::Read)
        );
    }

    #[test]
    fn the_api_document_and_its_viewer_are_open() {
        for path in ["/openapi.json", "/docs", "/docs/index.html"] {
            assert_eq!(requirement(&Method::GET, path), Requirement::Open, "{path}");
        }
        assert_eq!(
            requirement(&Method::POST, "/openapi.json"),
            Requirement::Key(Scope::Write)
        );
    }

    #[test]
    fn probes_and_webhooks_are_open() {
        let probes = ["/health", "/health/ready", "/livez", "/ready", "/readyz"];
        for path in probes.into_iter().chain(["/webhooks/livekit"]) {
            assert_eq!(requirement(&Method::GET, path), Requirement::Open, "{path}");
            assert_eq!(
                requirement(&Method::HEAD, path),
                Requirement::Open,
                "{path}"
            );
        }
        assert_eq!(
            requirement(&Method::POST, "/webhooks/livekit"),
            Requirement::Open
        );
    }

    #[test]
    fn reads_need_a_read_key_and_changes_a_write_key() {
        assert_eq!(
            requirement(&Method::GET, "/streams"),
            Requirement::Key(Scope::Read)
        );
        assert_eq!(
            requirement(&Method::GET, "/metrics"),
            Requirement::Key(Scope::Read)
        );
        assert_eq!(
            requirement(&Method::POST, "/ws-tickets"),
            Requirement::Key(Scope::Read)
        );
        for method in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
            assert_eq!(
                requirement(&method, "/streams/x"),
                Requirement::Key(Scope::Write),
                "{method}"
            );
        }
        assert_eq!(
            requirement(&Method::GET, "/no-such-route"),
            Requirement::Key(Scope::Read),
            "unknown routes tell nothing to strangers"
        );
    }

    #[test]
    fn the_websocket_handshake_takes_a_key_or_a_ticket() {
        assert_eq!(requirement(&Method::GET, "/"), Requirement::KeyOrTicket);
        assert_eq!(requirement(&Method::GET, "/ws"), Requirement::KeyOrTicket);
        assert_eq!(
            requirement(&Method::POST, "/ws"),
            Requirement::Key(Scope::Write)
        );
    }

    #[test]
    fn refusals_are_401_with_a_bearer_challenge_or_403() {
        let unauthorized = ApiError::from(AccessError::InvalidKey).error_response();
        let forbidden = ApiError::from(AccessError::Forbidden);

        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert!(unauthorized
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")));
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert_eq!(forbidden.code, "forbidden");
    }
}
