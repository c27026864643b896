//! LiveKit's Egress service: every method needs the `roomRecord` grant.
//!
//! Served: the room composite, web, participant and track composite starts (their output
//! lists and the legacy single output), UpdateStream, ListEgress and StopEgress. The newer
//! StartEgress, StartTrackEgress (direct track files) and UpdateLayout answer
//! `unimplemented`.

use actix_web::HttpResponse;
use livekit_protocol as proto;

use super::{require_or_unauthenticated, Call, Service, TwirpError};
use crate::egress::StartRequest;
use crate::Emulator;

pub(super) const SERVICE: Service = Service {
    name: "Egress",
    methods: &[
        "StartRoomCompositeEgress",
        "StartWebEgress",
        "StartParticipantEgress",
        "StartTrackCompositeEgress",
        "StartTrackEgress",
        "StartEgress",
        "UpdateLayout",
        "UpdateStream",
        "ListEgress",
        "StopEgress",
    ],
    answer,
};

fn answer(emulator: &Emulator, call: &Call<'_>) -> Result<HttpResponse, TwirpError> {
    if let Some(request) = start_request(call)? {
        require_record(call)?;
        return call.encode(&emulator.start_egress(request)?);
    }
    match call.method {
        "UpdateStream" => {
            let r: proto::UpdateStreamRequest = call.decode()?;
            require_record(call)?;
            call.encode(&emulator.update_stream(&r)?)
        }
        "ListEgress" => {
            let r: proto::ListEgressRequest = call.decode()?;
            require_record(call)?;
            call.encode(&proto::ListEgressResponse {
                items: emulator.list_egress(&r)?,
                next_page_token: None,
            })
        }
        "StopEgress" => {
            let r: proto::StopEgressRequest = call.decode()?;
            require_record(call)?;
            call.encode(&emulator.stop_egress(&r.egress_id)?)
        }
        "StartTrackEgress" | "StartEgress" | "UpdateLayout" => {
            require_record(call)?;
            Err(TwirpError::new(
                "unimplemented",
                format!(
                    "the LiveKit emulator does not implement Egress.{}",
                    call.method
                ),
            ))
        }
        _ => Err(call.unknown_method()),
    }
}

/// The decoded request of a Start*Egress method the emulator serves, `None` for others.
fn start_request(call: &Call<'_>) -> Result<Option<StartRequest>, TwirpError> {
    Ok(Some(match call.method {
        "StartRoomCompositeEgress" => StartRequest::RoomComposite(call.decode()?),
        "StartWebEgress" => StartRequest::Web(call.decode()?),
        "StartParticipantEgress" => StartRequest::Participant(call.decode()?),
        "StartTrackCompositeEgress" => StartRequest::TrackComposite(call.decode()?),
        _ => return Ok(None),
    }))
}

fn require_record(call: &Call<'_>) -> Result<(), TwirpError> {
    require_or_unauthenticated(call.claims.video.room_record, "roomRecord")
}
