//! Pages of a listing: a `Link: <…>; rel="next"` header when there is more.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// A 200 with, when there is more, a `Link` header to the next page: this request's query
/// (filters, page size) with `param` set to `next`.
pub(crate) fn paged(
    req: &HttpRequest,
    param: &str,
    next: Option<&str>,
) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    if let Some(next) = next {
        response.insert_header((header::LINK, next_link(req, param, next)));
    }
    response
}

fn next_link(req: &HttpRequest, param: &str, next: &str) -> String {
    let prefix = format!("{param}=");
    let mut query: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with(&prefix))
        .collect();
    let position = format!("{prefix}{}", percent_encode(next));
    query.push(&position);
    format!("<{}?{}>; rel=\"next\"", req.path(), query.join("&"))
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
