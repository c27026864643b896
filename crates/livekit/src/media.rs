//! RoomService calls over the crate's Twirp client (the grants `livekit_api`'s `RoomClient`
//! asks for each), each counted and timed (see `metered`) and carrying the caller's trace.

use std::fmt;

use async_trait::async_trait;
use livekit_api::access_token::VideoGrants;
use livekit_api::services::ServerErrorCode;
use livekit_protocol as proto;
use orchestrator_domain::ports::{MediaError, MediaParticipant, MediaRoom, MediaServer};
use orchestrator_domain::{values::Identity, values::RoomName};

use crate::config::LiveKitConfig;
use crate::metered::observed;
use crate::twirp::{Twirp, TwirpError};

/// The room the readiness probe asks LiveKit about: a name no stream is expected to use, so
/// LiveKit answers with an empty list (at most this one room) at the cost of a lookup, whatever
/// the number of rooms.
const PROBE_ROOM: &str = "__orchestrator_readiness_probe";

/// The Twirp service of rooms and participants.
const ROOM_SERVICE: &str = "RoomService";

/// The media-server port on LiveKit's RoomService.
pub struct LiveKitMedia {
    twirp: Twirp,
    /// Room settings from the configuration (`CreateRoom` takes the name besides).
    room_options: proto::CreateRoomRequest,
}

impl fmt::Debug for LiveKitMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitMedia").finish_non_exhaustive()
    }
}

impl LiveKitMedia {
    /// A client of the RoomService at `config.url`.
    pub fn new(config: &LiveKitConfig) -> Self {
        let room_options = proto::CreateRoomRequest {
            empty_timeout: config.empty_timeout_secs,
            departure_timeout: config.departure_timeout_secs,
            max_participants: config.max_participants,
            ..proto::CreateRoomRequest::default()
        };
        Self {
            twirp: Twirp::new(config),
            room_options,
        }
    }

    /// Calls `method` of the RoomService, failures sorted for the domain.
    async fn room_service<Q, A>(
        &self,
        method: &str,
        request: &Q,
        grants: VideoGrants,
    ) -> Result<A, MediaError>
    where
        Q: prost::Message,
        A: prost::Message + Default,
    {
        self.twirp
            .call(ROOM_SERVICE, method, request, grants)
            .await
            .map_err(classify)
    }
}

/// Creating, listing or deleting rooms.
fn rooms_grant(list: bool) -> VideoGrants {
    VideoGrants {
        room_create: !list,
        room_list: list,
        ..VideoGrants::default()
    }
}

/// Administering one room (its metadata, its participants).
fn admin_grant(room: &RoomName) -> VideoGrants {
    VideoGrants {
        room_admin: true,
        room: room.as_str().to_owned(),
        ..VideoGrants::default()
    }
}

/// Sorts a LiveKit failure into what the domain distinguishes: gone, retry later, or refused.
pub(crate) fn classify(err: TwirpError) -> MediaError {
    match err {
        TwirpError::Server { code, msg } => match code.as_str() {
            ServerErrorCode::NOT_FOUND => MediaError::NotFound(msg),
            ServerErrorCode::UNAVAILABLE
            | ServerErrorCode::INTERNAL
            | ServerErrorCode::UNKNOWN
            | ServerErrorCode::DEADLINE_EXCEEDED
            | ServerErrorCode::RESOURCE_EXHAUSTED
            | ServerErrorCode::CANCELED => MediaError::Unavailable(format!("{code}: {msg}")),
            _ => MediaError::Rejected(format!("{code}: {msg}")),
        },
        err @ (TwirpError::UnreadableError(_)
        | TwirpError::Transport(_)
        | TwirpError::Decode(_)) => MediaError::Unavailable(err.to_string()),
        err @ (TwirpError::Url(_) | TwirpError::Token(_) | TwirpError::Client(_)) => {
            MediaError::Rejected(err.to_string())
        }
    }
}

fn media_room(room: proto::Room) -> MediaRoom {
    MediaRoom {
        sid: room.sid,
        name: room.name,
        num_participants: room.num_participants,
    }
}

#[async_trait]
impl MediaServer for LiveKitMedia {
    async fn create_room(&self, room: &RoomName) -> Result<MediaRoom, MediaError> {
        let request = proto::CreateRoomRequest {
            name: room.as_str().to_owned(),
            ..self.room_options.clone()
        };
        let call = self.room_service("CreateRoom", &request, rooms_grant(false));
        observed("create_room", async { call.await.map(media_room) }).await
    }

    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError> {
        let request = proto::DeleteRoomRequest {
            room: room.as_str().to_owned(),
        };
        let call = self.room_service("DeleteRoom", &request, rooms_grant(false));
        observed("delete_room", async {
            call.await.map(|_: proto::DeleteRoomResponse| ())
        })
        .await
    }

    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
        let request = proto::ListRoomsRequest::default();
        let call = self.room_service("ListRooms", &request, rooms_grant(true));
        let listed: proto::ListRoomsResponse = observed("list_rooms", call).await?;
        Ok(listed.rooms.into_iter().map(media_room).collect())
    }

    async fn list_participants(
        &self,
        room: &RoomName,
    ) -> Result<Vec<MediaParticipant>, MediaError> {
        let request = proto::ListParticipantsRequest {
            room: room.as_str().to_owned(),
        };
        let call = self.room_service("ListParticipants", &request, admin_grant(room));
        let listed: proto::ListParticipantsResponse = observed("list_participants", call).await?;
        Ok(listed
            .participants
            .into_iter()
            .map(|p| MediaParticipant {
                can_publish: p.permission.as_ref().is_none_or(|perm| perm.can_publish),
                sid: p.sid,
                identity: p.identity,
            })
            .collect())
    }

    async fn remove_participant(
        &self,
        room: &RoomName,
        identity: &Identity,
    ) -> Result<(), MediaError> {
        let request = proto::RoomParticipantIdentity {
            room: room.as_str().to_owned(),
            identity: identity.as_str().to_owned(),
            ..proto::RoomParticipantIdentity::default()
        };
        let call = self.room_service("RemoveParticipant", &request, admin_grant(room));
        observed("remove_participant", async {
            call.await.map(|_: proto::RemoveParticipantResponse| ())
        })
        .await
    }

    async fn update_room_metadata(
        &self,
        room: &RoomName,
        metadata: &str,
    ) -> Result<(), MediaError> {
        let request = proto::UpdateRoomMetadataRequest {
            room: room.as_str().to_owned(),
            metadata: metadata.to_owned(),
        };
        let call = self.room_service("UpdateRoomMetadata", &request, admin_grant(room));
        observed("update_room_metadata", async {
            call.await.map(|_: proto::Room| ())
        })
        .await
    }

    /// A listing filtered to one unlikely room name: LiveKit checks the credentials and
    /// answers, without returning its rooms.
    async fn reachable(&self) -> Result<(), MediaError> {
        let request = proto::ListRoomsRequest {
            names: vec![PROBE_ROOM.to_owned()],
        };
        let call = self.room_service("ListRooms", &request, rooms_grant(true));
        observed("probe", async {
            call.await.map(|_: proto::ListRoomsResponse| ())
        })
        .await
    }
}
