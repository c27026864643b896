//! Participants: join, leave, and paging through a stream's participants.

use crate::change::TransitionError;
use crate::error::StreamError;
use crate::membership::ParticipantChange;
use crate::ports::{JoinGrant, MediaError, ParticipantPage, ParticipantQuery};
use crate::stream::{Stream, StreamStatus};
use crate::values::{Identity, StreamId};

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
        let stream = self.get(id).await?;
        if stream.status != StreamStatus::Active {
            return Err(StreamError::Rejected(TransitionError::NotActive(
                stream.status,
            )));
        }
        // Signed before the state changes, so a signing failure changes nothing.
        let token = self.ports.tokens.issue(&JoinGrant {
            room: stream.room_name.clone(),
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
