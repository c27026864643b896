//! Participants: join, leave, and paging through a stream's participants.

use crate::change::TransitionError;
use crate::error::StreamError;
use crate::membership::ParticipantChange;
use crate::ports::{JoinGrant, MediaError, ParticipantPage, ParticipantQuery};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Identity, RoomName, StreamId};

use super::commands::{Departure, JoinStream, JoinTicket, ListParticipants};
use super::{list_error, page_limit, StreamService};

impl StreamService {
    /// A page of the stream's participants in order of first join, optionally only those
    /// present now.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (limit out of range, unknown cursor), `StoreUnavailable`,
    /// `Internal`.
    pub async fn participants(
        &self,
        id: StreamId,
        request: ListParticipants,
    ) -> Result<ParticipantPage, StreamError> {
        let limit = page_limit(request.limit)?;
        let stream = self.get(id).await?;
        if request.active_only && stream.is_stopped() {
            return Ok(ParticipantPage {
                items: Vec::new(),
                next: None,
            });
        }
        let query = ParticipantQuery {
            active_only: request.active_only,
            after: request.cursor,
            limit,
        };
        self.participant_page(&stream, query).await
    }

    pub(super) async fn participant_page(
        &self,
        stream: &Stream,
        query: ParticipantQuery,
    ) -> Result<ParticipantPage, StreamError> {
        let page = self
            .ports
            .streams
            .participants(stream.id, query)
            .await
            .map_err(list_error)?;
        Ok(ParticipantPage {
            items: page.items.into_iter().map(|p| p.as_of(stream)).collect(),
            next: page.next,
        })
    }

    /// Lets a participant in: a token with the role's grants. Joining again while present
    /// returns a fresh token and records nothing new (unless the role or metadata changed).
    ///
    /// # Errors
    /// `NotFound`, `NotActive`, `StoreUnavailable`, `Internal`.
    pub async fn join(&self, id: StreamId, request: JoinStream) -> Result<JoinTicket, StreamError> {
        let room = self.room_of(id).await?;
        // Signed before the state changes, so a signing failure changes nothing. Whether the
        // stream exists and is active is decided by the atomic step below, not by a read.
        let token = self.ports.tokens.issue(&JoinGrant {
            room,
            identity: request.identity.clone(),
            role: request.role,
            metadata: request.metadata.clone(),
        })?;
        self.apply_participant(
            id,
            ParticipantChange::Join {
                participant_id: self.ports.ids.new_id(),
                identity: request.identity.clone(),
                role: request.role,
                metadata: request.metadata,
            },
        )
        .await?;
        Ok(JoinTicket {
            token,
            stream_id: id,
            identity: request.identity,
            role: request.role,
            ws_url: self.ports.tokens.ws_url(),
        })
    }

    /// The stream's room: remembered after its first read (a room never changes), so a
    /// hot stream's joins do not each read the stream.
    async fn room_of(&self, id: StreamId) -> Result<RoomName, StreamError> {
        if let Some(room) = self.rooms.get(id) {
            return Ok(room);
        }
        let stream = self.get(id).await?;
        if stream.status != StreamStatus::Active {
            return Err(StreamError::Rejected(TransitionError::NotActive(
                stream.status,
            )));
        }
        self.rooms.remember(id, &stream.room_name);
        Ok(stream.room_name)
    }

    /// Lets a participant out and disconnects their media session. Leaving twice succeeds
    /// twice and records one leave.
    ///
    /// # Errors
    /// `NotFound`, `ParticipantNotFound`, `MediaUnavailable`, `MediaRejected`,
    /// `StoreUnavailable`, `Internal`.
    pub async fn leave(&self, id: StreamId, identity: Identity) -> Result<Departure, StreamError> {
        let stream = self.get(id).await?;
        let participant = self
            .ports
            .streams
            .participant(id, &identity)
            .await?
            .ok_or_else(|| {
                StreamError::Rejected(TransitionError::ParticipantNotFound(identity.clone()))
            })?;
        if participant.is_active() && !stream.is_stopped() {
            match self
                .ports
                .media
                .remove_participant(&stream.room_name, &identity)
                .await
            {
                Ok(()) | Err(MediaError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let applied = self
            .apply_participant(id, ParticipantChange::Leave { identity })
            .await?;
        let mut stream = stream;
        stream.audience = applied.audience;
        if let Some(event) = &applied.event {
            stream.seq = stream.seq.max(event.seq);
        }
        let participant = applied.participant.unwrap_or(participant).as_of(&stream);
        Ok(Departure {
            stream,
            participant,
        })
    }
}
