//! RoomService calls through `livekit_api::services::room::RoomClient`, each counted and timed
//! (see `metered`).

use std::fmt;

use async_trait::async_trait;
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use livekit_api::services::{ServerError, ServerErrorCode, ServiceError};
use livekit_protocol as proto;
use orchestrator_domain::ports::{MediaError, MediaParticipant, MediaRoom, MediaServer};
use orchestrator_domain::{Identity, RoomName};

use crate::config::LiveKitConfig;
use crate::metered::observed;

/// The room the readiness probe asks LiveKit about: a name no stream is expected to use, so
/// LiveKit answers with an empty list (at most this one room) at the cost of a lookup, whatever
/// the number of rooms.
const PROBE_ROOM: &str = "__orchestrator_readiness_probe";

/// The media-server port on LiveKit's RoomService.
pub struct LiveKitMedia {
    client: RoomClient,
    room_options: CreateRoomOptions,
}

impl fmt::Debug for LiveKitMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKitMedia").finish_non_exhaustive()
    }
}

impl LiveKitMedia {
    /// A client of the RoomService at `config.url`.
    pub fn new(config: &LiveKitConfig) -> Self {
        let client = RoomClient::with_api_key(&config.url, &config.api_key, &config.api_secret)
            .with_request_timeout(config.request_timeout);
        let room_options = CreateRoomOptions {
            empty_timeout: config.empty_timeout_secs,
            departure_timeout: config.departure_timeout_secs,
            max_participants: config.max_participants,
            ..CreateRoomOptions::default()
        };
        Self {
            client,
            room_options,
        }
    }
}

/// Sorts a LiveKit failure into what the domain distinguishes: gone, retry later, or refused.
pub(crate) fn classify(err: ServiceError) -> MediaError {
    match err {
        ServiceError::Twirp(ServerError::Twirp(code)) => match code.code.as_str() {
            ServerErrorCode::NOT_FOUND => MediaError::NotFound(code.msg),
            ServerErrorCode::UNAVAILABLE
            | ServerErrorCode::INTERNAL
            | ServerErrorCode::UNKNOWN
            | ServerErrorCode::DEADLINE_EXCEEDED
            | ServerErrorCode::RESOURCE_EXHAUSTED
            | ServerErrorCode::CANCELED => MediaError::Unavailable(code.to_string()),
            _ => MediaError::Rejected(code.to_string()),
        },
        ServiceError::Twirp(ServerError::Request(err)) => MediaError::Unavailable(err.to_string()),
        ServiceError::Twirp(ServerError::Prost(err)) => {
            MediaError::Unavailable(format!("unreadable answer: {err}"))
        }
        ServiceError::Twirp(ServerError::Url(err)) => {
            MediaError::Rejected(format!("invalid LiveKit URL: {err}"))
        }
        ServiceError::AccessToken(err) => MediaError::Rejected(format!("credentials: {err}")),
        ServiceError::Env(err) => MediaError::Rejected(err.to_string()),
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
        let call = self
            .client
            .create_room(room.as_str(), self.room_options.clone());
        observed("create_room", async {
            call.await.map(media_room).map_err(classify)
        })
        .await
    }

    async fn delete_room(&self, room: &RoomName) -> Result<(), MediaError> {
        let call = self.client.delete_room(room.as_str());
        observed("delete_room", async { call.await.map_err(classify) }).await
    }

    async fn list_rooms(&self) -> Result<Vec<MediaRoom>, MediaError> {
        let call = self.client.list_rooms(Vec::new());
        let rooms = observed("list_rooms", async { call.await.map_err(classify) }).await?;
        Ok(rooms.into_iter().map(media_room).collect())
    }

    async fn list_participants(
        &self,
        room: &RoomName,
    ) -> Result<Vec<MediaParticipant>, MediaError> {
        let call = self.client.list_participants(room.as_str());
        let participants =
            observed("list_participants", async { call.await.map_err(classify) }).await?;
        Ok(participants
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
        let call = self
            .client
            .remove_participant(room.as_str(), identity.as_str());
        observed("remove_participant", async { call.await.map_err(classify) }).await
    }

    async fn update_room_metadata(
        &self,
        room: &RoomName,
        metadata: &str,
    ) -> Result<(), MediaError> {
        let call = self.client.update_room_metadata(room.as_str(), metadata);
        observed("update_room_metadata", async {
            call.await.map(drop).map_err(classify)
        })
        .await
    }

    /// A listing filtered to one unlikely room name: LiveKit checks the credentials and
    /// answers, without returning its rooms.
    async fn reachable(&self) -> Result<(), MediaError> {
        let call = self.client.list_rooms(vec![PROBE_ROOM.to_owned()]);
        observed("probe", async { call.await.map(drop).map_err(classify) }).await
    }
}
