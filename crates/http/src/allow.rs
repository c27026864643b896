//! The answer of a known path to a method it does not support: 405 `method_not_allowed` with
//! `Allow` naming the methods it does. Every module that mounts a path uses it (the routes, the
//! guard's neighbours, the dashboard, the document), so it sits below all of them.

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest};

use crate::error::ApiError;

/// The answer of a known path to a method it does not support: 405 with `Allow` naming the
/// `methods` it does (and `HEAD` wherever `GET`, see [`crate::head`]).
pub(crate) fn not_allowed(methods: &[Method]) -> actix_web::Route {
    let allow = allow(methods);
    web::to(move |req: HttpRequest| {
        let answer = method_not_allowed(&req, &allow);
        async move { answer }
    })
}

/// 405 for `req`, its path supporting `allow`.
pub(crate) fn method_not_allowed(req: &HttpRequest, allow: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not support {} (it supports {allow})",
            req.path(),
            crate::head::original_method(req)
        ),
    )
    .with_allow(allow)
}

/// The value of `Allow` for `methods`: `HEAD` follows `GET`.
pub(crate) fn allow(methods: &[Method]) -> String {
    let mut names: Vec<&str> = Vec::with_capacity(methods.len() + 1);
    for method in methods {
        names.push(method.as_str());
        if *method == Method::GET && !methods.contains(&Method::HEAD) {
            names.push(Method::HEAD.as_str());
        }
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_names_head_after_get_once() {
        assert_eq!(allow(&[Method::POST, Method::GET]), "POST, GET, HEAD");
        assert_eq!(allow(&[Method::GET, Method::HEAD]), "GET, HEAD");
        assert_eq!(allow(&[Method::POST]), "POST");
    }
}
