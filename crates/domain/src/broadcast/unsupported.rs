//! [`Unsupported`]: the broadcast ports of a service built without them. A stream then has no
//! ingest or outputs: reads find none, and the service refuses to make one
//! ([`BroadcastError::Unsupported`](super::BroadcastError::Unsupported)) before any of these
//! is asked to.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    BroadcastMedia, BroadcastRepository, BroadcastState, BroadcastWrite, BroadcastWriteError,
    CreatedIngress, EgressReport, IngestKind, IngressReport, Observation, Output, Runtime,
    StartedEgress, Task,
};
use crate::change::ChangeContext;
use crate::event::StreamEvent;
use crate::ports::{MediaError, StoreError};
use crate::values::{RoomName, StreamId};

/// No broadcast: every stream's ingest and outputs are none, and nothing can be made.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unsupported;

const WHY: &str = "this service does not broadcast";

#[async_trait]
impl BroadcastRepository for Unsupported {
    async fn broadcast(&self, _stream: StreamId) -> Result<BroadcastState, StoreError> {
        Ok(BroadcastState::default())
    }

    async fn write_broadcast(
        &self,
        _stream: StreamId,
        _write: BroadcastWrite,
        _ctx: ChangeContext,
    ) -> Result<Option<StreamEvent>, BroadcastWriteError> {
        Err(StoreError::Corrupt(WHY.into()).into())
    }
}

#[async_trait]
impl BroadcastMedia for Unsupported {
    async fn create_ingress(
        &self,
        _room: &RoomName,
        _kind: &IngestKind,
    ) -> Result<CreatedIngress, MediaError> {
        Err(MediaError::Rejected(WHY.into()))
    }

    async fn delete_ingress(&self, _ingress_id: &str) -> Result<(), MediaError> {
        Ok(())
    }

    async fn list_ingress(&self, _room: &RoomName) -> Result<Vec<IngressReport>, MediaError> {
        Ok(Vec::new())
    }

    fn start_turn(&self) -> Duration {
        Duration::ZERO
    }

    async fn start_egress(
        &self,
        _room: &RoomName,
        _stream: StreamId,
        _output: &Output,
    ) -> Result<StartedEgress, MediaError> {
        Err(MediaError::Rejected(WHY.into()))
    }

    async fn stop_egress(&self, _egress_id: &str) -> Result<(), MediaError> {
        Ok(())
    }

    async fn list_egress(&self, _room: &RoomName) -> Result<Vec<EgressReport>, MediaError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Runtime for Unsupported {
    /// Nothing is ever scheduled without outputs; a task that were would simply not run.
    fn spawn(&self, _task: Task) {}

    async fn sleep(&self, _delay: Duration) {}

    fn note(&self, _what: &str) {}

    fn observe(&self, _observation: Observation) {}
}
