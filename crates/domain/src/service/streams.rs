//! Streams themselves: create, list, read, update, stop.

use crate::change::{Change, TransitionError};
use crate::error::StreamError;
use crate::ports::{InsertError, ListQuery, MediaError, Page, ParticipantQuery};
use crate::stream::{Stream, StreamStatus};
use crate::values::{RoomName, StreamId};

use super::commands::{
    CreateStream, EventPage, ListEvents, ListStreams, StreamView, UpdateStream, ViewPage,
};
use super::{list_error, page_limit, StreamService};

impl StreamService {
    /// Creates a stream: reserves nothing until LiveKit has the room, then stores the stream
    /// (active) with its `stream_created` event, then the outputs it declares (each with its
    /// `output_added` event; they were all checked before anything was created).
    ///
    /// # Errors
    /// `Invalid` (an output), `RoomNameTaken`, `MediaUnavailable`, `MediaRejected`,
    /// `StoreUnavailable`, `Internal`.
    pub async fn create(&self, request: CreateStream) -> Result<Stream, StreamError> {
        self.check_declared_outputs(&request.outputs)?;
        let outputs = request.outputs.clone();
        let stream = self.create_stream(request).await?;
        if outputs.is_empty() {
            return Ok(stream);
        }
        for output in outputs {
            self.add_output(stream.id, output).await?;
        }
        self.get(stream.id).await
    }

    async fn create_stream(&self, request: CreateStream) -> Result<Stream, StreamError> {
        let id = StreamId::from_uuid(self.ports.ids.new_id());
        let room = request
            .room_name
            .unwrap_or_else(|| RoomName::for_stream(&id));
        // Checked before calling LiveKit so a taken name costs no LiveKit call; the insert below
        // checks again atomically.
        if self.ports.streams.find_live_by_room(&room).await?.is_some() {
            return Err(StreamError::RoomNameTaken(room));
        }
        let media_room = self.ports.media.create_room(&room).await?;
        let ctx = self.context();
        let mut stream =
            Stream::new_active(id, room, Some(media_room.sid), request.metadata, ctx.at);
        let event = stream.record_creation(&ctx);
        match self.ports.streams.insert(stream.clone(), event).await {
            Ok(()) => Ok(stream),
            Err(InsertError::RoomNameTaken(room)) => Err(StreamError::RoomNameTaken(room)),
            Err(InsertError::DuplicateId(id)) => Err(StreamError::Internal(format!(
                "stream id {id} generated twice"
            ))),
            Err(InsertError::Store(err)) => Err(err.into()),
        }
    }

    /// A page of streams, oldest first.
    ///
    /// # Errors
    /// `Invalid` (limit out of range, unknown cursor), `StoreUnavailable`, `Internal`.
    pub async fn list(&self, request: ListStreams) -> Result<Page, StreamError> {
        let query = ListQuery {
            status: request.status,
            after: request.cursor,
            limit: page_limit(request.limit)?,
        };
        self.ports.streams.list(query).await.map_err(list_error)
    }

    /// A page of streams, each with its participants inline while it has at most
    /// [`StreamView::INLINE_PARTICIPANTS`] (as [`StreamService::view`]), its counters always.
    /// A page costs one read per stream with a small audience, whatever the audiences: a
    /// larger one is shown as counters without reading a participant.
    ///
    /// # Errors
    /// As [`StreamService::list`].
    pub async fn list_views(&self, request: ListStreams) -> Result<ViewPage, StreamError> {
        let page = self.list(request).await?;
        // Concurrent, so that a Redis client pipelines the reads of the page.
        let items = futures_util::future::try_join_all(
            page.items
                .into_iter()
                .map(|stream| self.with_participants(stream)),
        )
        .await?;
        Ok(ViewPage {
            items,
            next: page.next,
        })
    }

    /// The stream with this id.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`, `Internal`.
    pub async fn get(&self, id: StreamId) -> Result<Stream, StreamError> {
        self.ports
            .streams
            .get(id)
            .await?
            .ok_or_else(|| StreamError::NotFound(id.to_string()))
    }

    /// The stream with its participants inline when it has at most
    /// [`StreamView::INLINE_PARTICIPANTS`] (see [`StreamService::with_participants`]), its
    /// counters otherwise.
    ///
    /// # Errors
    /// `NotFound`, `StoreUnavailable`, `Internal`.
    pub async fn view(&self, id: StreamId) -> Result<StreamView, StreamError> {
        let stream = self.get(id).await?;
        self.with_participants(stream).await
    }

    /// `stream` with its participants inline when it has at most
    /// [`StreamView::INLINE_PARTICIPANTS`] (one store read then, none otherwise).
    ///
    /// # Errors
    /// `StoreUnavailable`, `Internal`.
    pub async fn with_participants(&self, stream: Stream) -> Result<StreamView, StreamError> {
        let total = usize::try_from(stream.audience.total_joined).unwrap_or(usize::MAX);
        if total == 0 || total > StreamView::INLINE_PARTICIPANTS {
            return Ok(StreamView {
                truncated: total > 0,
                participants: Vec::new(),
                stream,
            });
        }
        let query = ParticipantQuery {
            active_only: false,
            after: None,
            limit: StreamView::INLINE_PARTICIPANTS,
        };
        let page = self.participant_page(&stream, query).await?;
        Ok(StreamView {
            truncated: page.next.is_some(),
            participants: page.items,
            stream,
        })
    }

    /// Changes status and/or metadata. A target of `stopping` or `stopped` applies the rest of
    /// the request, then runs [`StreamService::stop`].
    ///
    /// # Errors
    /// `NotFound`, `InvalidTransition`, `VersionConflict`, `PreconditionFailed`, plus those of
    /// `stop` when stopping.
    pub async fn update(&self, id: StreamId, request: UpdateStream) -> Result<Stream, StreamError> {
        match request.status {
            Some(StreamStatus::Stopping | StreamStatus::Stopped) => {
                let current = self.get(id).await?;
                if !current.is_stopped() && !current.status.can_become(StreamStatus::Stopping) {
                    return Err(StreamError::Rejected(TransitionError::InvalidTransition {
                        from: current.status,
                        to: StreamStatus::Stopped,
                    }));
                }
                self.apply(
                    id,
                    Change::Update {
                        status: None,
                        metadata: request.metadata,
                        expected: request.expected,
                    },
                )
                .await?;
                self.stop(id).await
            }
            Some(StreamStatus::Creating | StreamStatus::Active | StreamStatus::Error) | None => {
                let applied = self
                    .apply(
                        id,
                        Change::Update {
                            status: request.status,
                            metadata: request.metadata,
                            expected: request.expected,
                        },
                    )
                    .await?;
                Ok(applied.stream)
            }
        }
    }

    /// Stops a stream: `stopping`, the LiveKit room deleted, `stopped`. Stopping a stopped
    /// stream returns it unchanged with no new event; a stop interrupted by a LiveKit outage
    /// resumes where it was when called again.
    ///
    /// # Errors
    /// `NotFound`, `InvalidTransition` (a `creating` stream), `MediaUnavailable`,
    /// `MediaRejected`, `StoreUnavailable`, `Internal`.
    pub async fn stop(&self, id: StreamId) -> Result<Stream, StreamError> {
        let begun = self.apply(id, Change::BeginStop).await?;
        if begun.stream.is_stopped() {
            return Ok(begun.stream);
        }
        // Before the room goes: egresses finish their files rather than being aborted.
        self.stop_broadcast(&begun.stream).await;
        match self.ports.media.delete_room(&begun.stream.room_name).await {
            Ok(()) | Err(MediaError::NotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
        Ok(self.apply(id, Change::FinishStop).await?.stream)
    }

    /// Whether the service can serve: the store answers.
    ///
    /// # Errors
    /// `StoreUnavailable` when it does not.
    pub async fn ready(&self) -> Result<(), StreamError> {
        Ok(self.ports.streams.ping().await?)
    }

    /// A page of the stream's event log after a seq, oldest first: what the WebSocket and gRPC
    /// subscriptions replay, for clients that poll.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (limit out of range), `StoreUnavailable`, `Internal`.
    pub async fn events(
        &self,
        id: StreamId,
        request: ListEvents,
    ) -> Result<EventPage, StreamError> {
        let limit = page_limit(request.limit)?;
        self.get(id).await?;
        let mut items = self
            .ports
            .events
            .read_after(id, request.after_seq, limit + 1)
            .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_after_seq = more.then(|| items.last().map(|e| e.seq)).flatten();
        Ok(EventPage {
            items,
            next_after_seq,
        })
    }
}
