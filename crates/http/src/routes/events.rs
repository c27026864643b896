//! `/events/:streamId`: a page of a stream's event log, for clients that poll rather than
//! subscribe (the original product's Postman collection has this request). The log keeps the
//! newest `store.max_events_per_stream` events of each stream; there is no log across streams.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use orchestrator_domain::{
    service::commands::ListEvents, service::StreamService, values::ValidationError,
};
use serde::Deserialize;

use super::paging::paged;
use crate::error::ApiError;
use crate::HttpState;

/// Mounts the event log route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/events/{id}")
            .route(web::get().to(events))
            .default_service(crate::allow::not_allowed(&[Method::GET])),
    );
}

/// `GET /events/:streamId` query, read as text and checked here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventParams {
    /// Events after this seq (default 0: from the oldest kept).
    after_seq: Option<String>,
    /// Page size.
    limit: Option<String>,
}

fn number<T: std::str::FromStr>(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        raw.trim().parse::<T>().map_err(|_| {
            ApiError::from(ValidationError::new(field, "must be a whole number")).in_query()
        })
    })
    .transpose()
}

/// A page of a stream's event log, oldest first (what subscriptions replay), for clients that
/// poll.
#[utoipa::path(
    get,
    path = "/events/{id}",
    tag = "realtime",
    params(
        ("id" = String, Path, description = "The stream's id (a UUID)"),
        ("afterSeq" = Option<u64>, Query, description = "Events after this seq (default 0: from the oldest kept)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"),
    ),
    responses(
        (status = 200, description = "Events, oldest first", body = Vec<crate::dto::schemas::StreamEventDoc>,
         headers(("Link" = String, description = "`<…?afterSeq=…>; rel=\"next\"` when more events follow"))),
        (status = 400, description = "`invalid_query`: a parameter is invalid (`field` names it)", body = crate::dto::schemas::ErrorEnvelope),
        (status = 404, description = "`stream_not_found`", body = crate::dto::schemas::ErrorEnvelope),
        (status = 503, description = "`store_unavailable`: the store is down", body = crate::dto::schemas::ErrorEnvelope,
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn events(
    state: web::Data<HttpState>,
    req: HttpRequest,
    id: web::Path<String>,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, ApiError> {
    let id = StreamService::parse_id(&id)?;
    let request = ListEvents {
        after_seq: number("afterSeq", params.after_seq.as_deref())?.unwrap_or(0),
        limit: number("limit", params.limit.as_deref())?,
    };
    let page = state
        .service
        .events(id, request)
        .await
        .map_err(|err| ApiError::from(err).in_query())?;
    let next = page.next_after_seq.map(|seq| seq.to_string());
    Ok(paged(&req, "afterSeq", next.as_deref()).json(page.items))
}
