//! HTTP routes that play the media workers LiveKit runs beside its server: encoders pushing
//! to an ingress, and egress workers failing. They call the [`Emulator`] methods of the same
//! names, for tests out of process, scripts (curl) and the dashboard.
//!
//! | route | effect |
//! |---|---|
//! | `POST /emulator/ingress/{id}/publish` | an encoder starts publishing to the ingress |
//! | `POST /emulator/ingest` `{"streamKey"}` | the same, found by stream key |
//! | `POST /emulator/ingress/{id}/stop` | the encoder stops |
//! | `POST /emulator/ingress/{id}/fail` `{"reason"}` | the encoder fails |
//! | `POST /emulator/egress/{id}/fail` `{"reason"}` | the egress fails |
//! | `POST /emulator/egress/fail-next` `{"count", "reason"}` | the next starts fail |
//! | `POST /emulator/egress/unavailable-next` `{"count"}` | the next starts are refused |
//! | `GET /emulator/egress/starts?room=` | egresses started for a room |
//!
//! Answers are the ingress or egress as proto3 JSON; refusals are Twirp-style errors.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::clients::parse;
use crate::twirp::{json_response, TwirpError};
use crate::Emulator;

/// What a failure says when the caller gives no reason.
const DEFAULT_REASON: &str = "simulated failure";

// No Debug derive: the stream key is a secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestBody {
    stream_key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FailBody {
    reason: String,
}

#[derive(Debug, Deserialize)]
struct CountBody {
    count: u32,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
struct StartsQuery {
    room: String,
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, emulator: Emulator) {
    let data = web::Data::new(emulator);
    cfg.app_data(data)
        .route("/emulator/ingress/{id}/publish", web::post().to(publish))
        .route("/emulator/ingest", web::post().to(ingest))
        .route("/emulator/ingress/{id}/stop", web::post().to(stop))
        .route("/emulator/ingress/{id}/fail", web::post().to(fail_ingress))
        .route("/emulator/egress/fail-next", web::post().to(fail_next))
        .route(
            "/emulator/egress/unavailable-next",
            web::post().to(unavailable_next),
        )
        .route("/emulator/egress/starts", web::get().to(starts))
        .route("/emulator/egress/{id}/fail", web::post().to(fail_egress));
}

async fn publish(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, TwirpError> {
    json_response(&emulator.publish_encoder(&id).await?)
}

async fn ingest(
    emulator: web::Data<Emulator>,
    body: web::Bytes,
) -> Result<HttpResponse, TwirpError> {
    let body: IngestBody = parse(&body)?;
    json_response(&emulator.publish_encoder_with_key(&body.stream_key).await?)
}

async fn stop(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
) -> Result<HttpResponse, TwirpError> {
    json_response(&emulator.stop_encoder(&id).await?)
}

async fn fail_ingress(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, TwirpError> {
    let reason = reason(&body)?;
    json_response(&emulator.fail_encoder(&id, &reason).await?)
}

async fn fail_egress(
    emulator: web::Data<Emulator>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, TwirpError> {
    let reason = reason(&body)?;
    json_response(&emulator.fail_egress(&id, &reason).await?)
}

async fn fail_next(
    emulator: web::Data<Emulator>,
    body: web::Bytes,
) -> Result<HttpResponse, TwirpError> {
    let body: CountBody = parse(&body)?;
    emulator.fail_next_egress_starts(body.count, &body.reason);
    json_response(&serde_json::json!({ "count": body.count }))
}

async fn unavailable_next(
    emulator: web::Data<Emulator>,
    body: web::Bytes,
) -> Result<HttpResponse, TwirpError> {
    let body: CountBody = parse(&body)?;
    emulator.refuse_next_egress_starts(body.count);
    json_response(&serde_json::json!({ "count": body.count }))
}

async fn starts(
    emulator: web::Data<Emulator>,
    query: web::Query<StartsQuery>,
) -> Result<HttpResponse, TwirpError> {
    let starts = emulator.egress_starts(&query.room);
    json_response(&serde_json::json!({ "room": query.room, "starts": starts }))
}

/// The failure reason of an optional `{"reason": ...}` body.
fn reason(body: &[u8]) -> Result<String, TwirpError> {
    let body: FailBody = if body.iter().all(u8::is_ascii_whitespace) {
        FailBody::default()
    } else {
        parse(body)?
    };
    Ok(if body.reason.trim().is_empty() {
        DEFAULT_REASON.to_owned()
    } else {
        body.reason
    })
}
