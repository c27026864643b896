//! HTTP routes that simulate media clients, for driving the binary by hand (curl) where the
//! library's [`Emulator::connect`] is not reachable.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::twirp::{json_response, TwirpError};
use crate::Emulator;

// No Debug derive: the token is a credential.
#[derive(Deserialize)]
struct ConnectBody {
    token: String,
}

#[derive(Debug, Deserialize)]
struct DisconnectBody {
    room: String,
    identity: String,
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, emulator: Emulator) {
    let for_connect = emulator.clone();
    cfg.route(
        "/emulator/connect",
        web::post().to(move |body: web::Bytes| {
            let emulator = for_connect.clone();
            async move {
                let body: ConnectBody = parse(&body)?;
                let participant = emulator.connect(&body.token).await?;
                json_response(&participant)
            }
        }),
    )
    .route(
        "/emulator/disconnect",
        web::post().to(move |body: web::Bytes| {
            let emulator = emulator.clone();
            async move {
                let body: DisconnectBody = parse(&body)?;
                emulator.disconnect(&body.room, &body.identity).await?;
                Ok::<_, TwirpError>(
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body("{}"),
                )
            }
        }),
    );
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TwirpError> {
    serde_json::from_slice(body)
        .map_err(|e| TwirpError::malformed(format!("invalid JSON body: {e}")))
}
