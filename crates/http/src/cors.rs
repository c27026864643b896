//! CORS for browser clients, with actix-cors, on every route of the HTTP port (REST and the
//! WebSocket handshake, which browsers send with an `Origin` too).
//!
//! - Allowed origins come from configuration: a list of `scheme://host[:port]`, or `*` for any.
//! - Preflights are answered (methods of the API; `Content-Type`, `Idempotency-Key`, `If-Match`,
//!   `Authorization`), and answers expose `ETag`, `Location`, `Link`, `Idempotent-Replayed` and
//!   `Retry-After` to scripts.
//! - A page served by this service itself (`Origin` names the request's `Host`, like the
//!   dashboard's) is always allowed.
//! - A request whose `Origin` is not allowed is refused with 403 `origin_not_allowed` before it
//!   reaches a handler: a page of another origin can change nothing, even with a "simple"
//!   request that needs no preflight, and cannot open a WebSocket. Requests without `Origin`
//!   (curl, backend services, LiveKit's webhooks) are not browser requests and pass.
//! - The dashboard's static files (`GET /dashboard…`) are served whatever the `Origin`: they
//!   are public and hold no data; what the page then does goes through this policy.
//! - actix-cors answers its refusals in plain text; [`CorsLayer`] re-renders them in the API's
//!   error envelope.

use std::future::{ready, Ready};

use actix_cors::{Cors, CorsError, CorsMiddleware};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{
    forward_ready, RequestHead, Service, ServiceRequest, ServiceResponse, Transform,
};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::{Error, ResponseError};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: usize = 3600;

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Every origin (development).
    Any,
    /// Exactly these origins, normalized (`scheme://host[:port]`, lowercase, no trailing `/`).
    /// Empty: no browser origin at all.
    List(Vec<String>),
}

/// A configured origin is not `*` nor `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CORS origin {0:?} must be `*` or scheme://host[:port] (no path, query or credentials)")]
pub struct InvalidOrigin(pub String);

impl AllowedOrigins {
    /// Parses configured origins; `*` anywhere allows every origin, blanks are ignored.
    ///
    /// # Errors
    /// [`InvalidOrigin`] for an entry that is not an origin.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidOrigin> {
        let mut origins = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()) {
            match entry {
                "" => {}
                "*" => return Ok(Self::Any),
                origin => origins.push(normalize(origin)?),
            }
        }
        Ok(Self::List(origins))
    }

    /// Whether a browser page from `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(origins) => origins.iter().any(|allowed| allowed == origin),
        }
    }
}

fn normalize(origin: &str) -> Result<String, InvalidOrigin> {
    let invalid = || InvalidOrigin(origin.to_owned());
    let trimmed = origin.strip_suffix('/').unwrap_or(origin);
    let uri: Uri = trimmed.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority = uri.authority().ok_or_else(invalid)?;
    let bare = uri
        .path_and_query()
        .is_none_or(|p| p.as_str().is_empty() || p == "/");
    if !scheme_ok || !bare || authority.as_str().contains('@') {
        return Err(invalid());
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// Whether `origin` names the host the request was sent to (`Host`), whatever the scheme (a
/// TLS-terminating proxy in front changes it): the page was served by this service, like the
/// dashboard, so it needs no entry in the list. A page of another site that had its name
/// resolve to this service (DNS rebinding) passes this check too; what stops it is the API
/// key it does not have, which production requires.
fn same_origin(origin: &str, head: &RequestHead) -> bool {
    let authority = origin.split_once("://").map(|(_, authority)| authority);
    let host = head
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if !a.is_empty() && a.eq_ignore_ascii_case(h))
}

/// The CORS middleware: wrap the whole app with it (`App::new().wrap(CorsLayer::new(..))`).
#[derive(Debug, Clone)]
pub struct CorsLayer {
    origins: AllowedOrigins,
}

impl CorsLayer {
    /// CORS for these origins.
    pub fn new(origins: AllowedOrigins) -> Self {
        Self { origins }
    }

    fn cors(&self) -> Cors {
        let cors = match &self.origins {
            AllowedOrigins::Any => Cors::default().allow_any_origin(),
            // One matching rule for every check ([`AllowedOrigins::allows`]); with an empty list
            // actix-cors refuses every origin.
            list @ AllowedOrigins::List(_) => {
                let list = list.clone();
                Cors::default().allowed_origin_fn(move |origin, head| {
                    origin
                        .to_str()
                        .is_ok_and(|origin| list.allows(origin) || same_origin(origin, head))
                })
            }
        };
        cors.allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_MATCH,
            HeaderName::from_static(IDEMPOTENCY_KEY),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::LINK,
            header::RETRY_AFTER,
            HeaderName::from_static(IDEMPOTENT_REPLAYED),
        ])
        .max_age(PREFLIGHT_MAX_AGE_SECS)
        .block_on_origin_mismatch(true)
    }
}

impl<S, B> Transform<S, ServiceRequest> for CorsLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type InitError = ();
    type Transform = CorsService<S>;
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        // actix-cors builds its middleware synchronously (a `Ready` future).
        let inner = self.cors().new_transform(service).into_inner();
        ready(inner.map(|inner| CorsService { inner }))
    }
}

/// [`CorsLayer`]'s service: actix-cors, with its refusals in the error envelope.
#[derive(Debug)]
pub struct CorsService<S> {
    inner: CorsMiddleware<S>,
}

impl<S, B> Service<ServiceRequest> for CorsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(inner);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // The dashboard's files are public and hold no data, and Chromium sends `Origin` with
        // module scripts even to their own origin: they are served whatever the origin (without
        // CORS headers, so other origins' pages still cannot read them).
        if crate::public::is_dashboard_file(req.method(), req.path()) {
            req.headers_mut().remove(header::ORIGIN);
        }
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned);
        let answer = self.inner.call(req);
        Box::pin(async move { Ok(envelope_refusal(answer.await?, origin.as_deref())) })
    }
}

/// The response, or the API's error envelope in place of an actix-cors refusal.
fn envelope_refusal<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
    origin: Option<&str>,
) -> ServiceResponse<BoxBody> {
    let refusal = response
        .response()
        .error()
        .and_then(|err| err.as_error::<CorsError>())
        .map(|err| refusal(err, origin));
    let Some(refusal) = refusal else {
        return response.map_into_boxed_body();
    };
    let vary = response.headers().get(header::VARY).cloned();
    let (request, _) = response.into_parts();
    let mut answer = refusal.error_response();
    if let Some(vary) = vary {
        answer.headers_mut().insert(header::VARY, vary);
    }
    ServiceResponse::new(request, answer)
}

fn invalid_preflight(err: &CorsError) -> ApiError {
    ApiError::bad_request("invalid_preflight", format!("invalid preflight: {err}"))
}

fn refusal(err: &CorsError, origin: Option<&str>) -> ApiError {
    match err {
        CorsError::OriginNotAllowed => ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "pages from {} may not call this API: the origin is not in \
                 http.cors_allowed_origins (CORS_ALLOWED_ORIGINS)",
                origin.unwrap_or("this origin")
            ),
        ),
        CorsError::MethodNotAllowed | CorsError::HeadersNotAllowed => ApiError::new(
            StatusCode::FORBIDDEN,
            "cors_preflight_refused",
            format!("the preflight was refused: {err}"),
        ),
        CorsError::WildcardOrigin
        | CorsError::MissingOrigin
        | CorsError::MissingRequestMethod
        | CorsError::BadRequestMethod
        | CorsError::BadRequestHeaders => invalid_preflight(err),
        // `CorsError` is non-exhaustive: whatever it adds is a malformed preflight too.
        _ => invalid_preflight(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_anywhere_allows_every_origin() {
        let origins = AllowedOrigins::parse(&["https://a.example", "*"]).unwrap();

        assert_eq!(origins, AllowedOrigins::Any);
        assert!(origins.allows("http://anything:1234"));
    }

    #[test]
    fn listed_origins_are_normalized_and_matched_exactly() {
        let origins =
            AllowedOrigins::parse(&[" HTTPS://App.Example/ ", "", "http://localhost:5173"])
                .unwrap();

        assert_eq!(
            origins,
            AllowedOrigins::List(vec![
                "https://app.example".into(),
                "http://localhost:5173".into()
            ])
        );
        assert!(origins.allows("https://app.example"));
        assert!(origins.allows("http://localhost:5173"));
        assert!(!origins.allows("http://localhost:5174"));
        assert!(!origins.allows("https://app.example.evil"));
        assert!(!origins.allows("null"));
    }

    #[test]
    fn an_empty_list_allows_no_browser_origin() {
        let origins = AllowedOrigins::parse::<&str>(&[]).unwrap();

        assert!(!origins.allows("http://localhost:3000"));
    }

    #[test]
    fn entries_that_are_not_origins_are_refused() {
        for bad in [
            "localhost:3000",
            "ftp://files.example",
            "https://app.example/path",
            "https://app.example?x=1",
            "https://user@app.example",
        ] {
            assert!(AllowedOrigins::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
