//! `HEAD` wherever `GET`: uptime checkers, link checkers and caches ask `HEAD`, and RFC 9110
//! (§9.3.2) wants the same answer as `GET` without its content.
//!
//! The middleware routes a `HEAD` request as the `GET` it mirrors, so no route has to declare
//! both. actix-http's codec remembers that the request came as `HEAD` and writes the answer's
//! head only, with the `Content-Length` the `GET` would have had. The access log and the
//! metrics, outside this middleware, still see `HEAD`.

use std::future::{ready, Ready};

use actix_web::dev::{forward_ready, Service, ServiceRequest, Transform};
use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest};

/// Marks a request that came as `HEAD` and is routed as `GET`.
#[derive(Debug, Clone, Copy)]
struct CameAsHead;

/// The middleware: `App::new().wrap(head::HeadAsGet)`, innermost, so that the guard (which
/// treats `HEAD` as the read it is) and the access log see the method as sent. It adds no
/// future of its own to a request: the wrapped service's is returned as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadAsGet;

impl<S, B> Transform<S, ServiceRequest> for HeadAsGet
where
    S: Service<ServiceRequest, Response = actix_web::dev::ServiceResponse<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Transform = HeadAsGetService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HeadAsGetService { service }))
    }
}

/// [`HeadAsGet`] around a service.
#[derive(Debug)]
pub struct HeadAsGetService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for HeadAsGetService<S>
where
    S: Service<ServiceRequest, Response = actix_web::dev::ServiceResponse<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if req.method() == Method::HEAD {
            req.head_mut().method = Method::GET;
            req.extensions_mut().insert(CameAsHead);
        }
        self.service.call(req)
    }
}

/// The method `req` came with (`HEAD` for one routed as `GET`).
pub fn original_method(req: &HttpRequest) -> Method {
    if req.extensions().get::<CameAsHead>().is_some() {
        Method::HEAD
    } else {
        req.method().clone()
    }
}
