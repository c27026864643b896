//! LiveKit's RoomService: rooms and their participants.

use actix_web::HttpResponse;
use livekit_api::access_token::Claims;
use livekit_protocol as proto;

use super::{require, Call, Service, TwirpError};
use crate::state::{ParticipantUpdate, RoomSpec};
use crate::{Emulator, EmulatorError};

pub(super) const SERVICE: Service = Service {
    name: "RoomService",
    methods: &[
        "CreateRoom",
        "ListRooms",
        "DeleteRoom",
        "ListParticipants",
        "GetParticipant",
        "RemoveParticipant",
        "UpdateRoomMetadata",
        "UpdateParticipant",
        "MutePublishedTrack",
    ],
    answer,
};

fn answer(emulator: &Emulator, call: &Call<'_>) -> Result<HttpResponse, TwirpError> {
    match call.method {
        "CreateRoom" | "ListRooms" | "DeleteRoom" => room_call(emulator, call),
        _ => participant_call(emulator, call),
    }
}

/// The RoomService calls about rooms (they need room grants, not a room's admin grant).
fn room_call(emulator: &Emulator, call: &Call<'_>) -> Result<HttpResponse, TwirpError> {
    let claims = &call.claims;
    match call.method {
        "CreateRoom" => {
            let r: proto::CreateRoomRequest = call.decode()?;
            require(claims.video.room_create, "roomCreate")?;
            call.encode(&emulator.create_room(RoomSpec {
                name: r.name,
                empty_timeout: r.empty_timeout,
                departure_timeout: r.departure_timeout,
                max_participants: r.max_participants,
                metadata: r.metadata,
            })?)
        }
        "ListRooms" => {
            let r: proto::ListRoomsRequest = call.decode()?;
            require(claims.video.room_list, "roomList")?;
            call.encode(&proto::ListRoomsResponse {
                rooms: emulator.list_rooms(&r.names),
            })
        }
        "DeleteRoom" => {
            let r: proto::DeleteRoomRequest = call.decode()?;
            require(claims.video.room_create, "roomCreate")?;
            emulator.delete_room(&r.room)?;
            call.encode(&proto::DeleteRoomResponse {})
        }
        _ => Err(call.unknown_method()),
    }
}

/// The RoomService calls about a room's participants (they need that room's admin grant).
fn participant_call(emulator: &Emulator, call: &Call<'_>) -> Result<HttpResponse, TwirpError> {
    let claims = &call.claims;
    match call.method {
        "ListParticipants" => {
            let r: proto::ListParticipantsRequest = call.decode()?;
            require_admin(claims, &r.room)?;
            call.encode(&proto::ListParticipantsResponse {
                participants: emulator.list_participants(&r.room)?,
            })
        }
        "GetParticipant" => {
            let r: proto::RoomParticipantIdentity = call.decode()?;
            require_admin(claims, &r.room)?;
            call.encode(&emulator.get_participant(&r.room, &r.identity)?)
        }
        "RemoveParticipant" => {
            let r: proto::RoomParticipantIdentity = call.decode()?;
            require_admin(claims, &r.room)?;
            emulator.remove_participant(&r.room, &r.identity)?;
            call.encode(&proto::RemoveParticipantResponse {})
        }
        "UpdateRoomMetadata" => {
            let r: proto::UpdateRoomMetadataRequest = call.decode()?;
            require_admin(claims, &r.room)?;
            call.encode(&emulator.update_room_metadata(&r.room, r.metadata)?)
        }
        "UpdateParticipant" => {
            let r: proto::UpdateParticipantRequest = call.decode()?;
            require_admin(claims, &r.room)?;
            let update = ParticipantUpdate {
                name: r.name,
                metadata: r.metadata,
                permission: r.permission,
                attributes: r.attributes,
            };
            call.encode(&emulator.update_participant(&r.room, &r.identity, update)?)
        }
        "MutePublishedTrack" => {
            let r: proto::MuteRoomTrackRequest = call.decode()?;
            require_admin(claims, &r.room)?;
            let track = emulator.mute_track(&r.room, &r.identity, &r.track_sid, r.muted)?;
            call.encode(&proto::MuteRoomTrackResponse { track: Some(track) })
        }
        _ => Err(call.unknown_method()),
    }
}

/// LiveKit's admin check: roomAdmin for exactly the room the request targets.
fn require_admin(claims: &Claims, room: &str) -> Result<(), TwirpError> {
    require(claims.video.room_admin, "roomAdmin")?;
    if claims.video.room != room {
        return Err(EmulatorError::PermissionDenied(format!(
            "token grants roomAdmin for {:?}, not {room:?}",
            claims.video.room
        ))
        .into());
    }
    Ok(())
}
