//! Route groups, each with a `configure` that mounts it.

mod by_id;
pub mod events;
pub mod health;
mod paging;
pub mod streams;
pub mod webhooks;

use actix_web::http::StatusCode;

use crate::error::ApiError;

/// Answer for a known path with a method it does not support.
pub(crate) async fn method_not_allowed(req: actix_web::HttpRequest) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not support {}", req.path(), req.method()),
    )
}
