//! The public JSON contract as Rust types: what each operation takes and answers (camelCase
//! on the wire). Answers read unknown fields without complaint and unknown enum values as
//! `Unknown`, so a newer service does not break an older client; written back with serde they
//! read as the service wrote them.

mod broadcast;
mod event;
mod page;
mod participant;
mod requests;
mod service;
mod stream;

pub use broadcast::{
    Desired, Ingest, IngestKind, IngestState, NewIngest, NewOutput, Observed, Output, OutputKind,
};
pub use event::{Event, EventType};
pub(crate) use page::next_of;
pub use page::Page;
pub use participant::{JoinToken, Left, Participant, Role};
pub use requests::{CreateStream, Join, ListEvents, ListParticipants, ListStreams, UpdateStream};
pub use service::{Health, Readiness, ReadyChecks, WsTicket};
pub use stream::{Audience, StateParticipant, Stopped, Stream, StreamState, StreamStatus};

/// Operator or participant metadata: a JSON object.
pub type Metadata = serde_json::Map<String, serde_json::Value>;
