//! Events encoded once: the realtime [`Codec`] turns each domain event into the bytes of its
//! proto `StreamEvent`, and every subscriber streams those same bytes (the generated server
//! takes [`EncodedEvent`] in place of `StreamEvent`, see `build.rs`).

use orchestrator_realtime::{Audience, Codec};
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::events;
use crate::proto;

/// Converts and encodes each event once; subscribers share the bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProtoCodec;

impl Codec for ProtoCodec {
    type Frame = EncodedEvent;

    fn encode(&self, event: &orchestrator_domain::event::StreamEvent) -> Self::Frame {
        EncodedEvent::new(&events::event(event))
    }

    fn encode_audience(
        &self,
        last: &orchestrator_domain::event::StreamEvent,
        audience: Option<&Audience>,
    ) -> Self::Frame {
        EncodedEvent::new(&events::audience_update(last, audience))
    }
}

/// A `StreamEvent` already encoded: cloning it shares the bytes, and encoding it into a
/// response copies them as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedEvent {
    bytes: Bytes,
    kind: proto::StreamEventType,
}

impl EncodedEvent {
    /// Encodes `event`.
    pub fn new(event: &proto::StreamEvent) -> Self {
        Self {
            bytes: event.encode_to_vec().into(),
            kind: event.event_type(),
        }
    }

    /// The event's type.
    pub fn kind(&self) -> proto::StreamEventType {
        self.kind
    }

    /// The event as a message again.
    ///
    /// # Errors
    /// Never for an event this crate encoded.
    pub fn decode(&self) -> Result<proto::StreamEvent, DecodeError> {
        proto::StreamEvent::decode(self.bytes.clone())
    }
}

impl Message for EncodedEvent {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    /// Decoding (which the server never does) goes through `StreamEvent`, so the result is
    /// the same as decoding that.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut event = self.decode()?;
        event.merge_field(tag, wire_type, buf, ctx)?;
        *self = Self::new(&event);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(room_name: &str) -> proto::StreamEvent {
        proto::StreamEvent {
            event_type: proto::StreamEventType::StreamStopped.into(),
            stream_id: "s".into(),
            timestamp: 1,
            event_data: Some(proto::stream_event::EventData::StreamStopped(
                proto::StreamStoppedData {
                    room_name: room_name.into(),
                    previous_status: proto::StreamStatus::Active.into(),
                    stopped_at: 1,
                },
            )),
            seq: 3,
            event_id: "e".into(),
            instance_id: "i".into(),
        }
    }

    #[test]
    fn an_encoded_event_is_written_as_the_bytes_of_its_message() {
        let event = stopped("room");

        let encoded = EncodedEvent::new(&event);

        assert_eq!(encoded.encode_to_vec(), event.encode_to_vec());
        assert_eq!(encoded.kind(), proto::StreamEventType::StreamStopped);
        assert_eq!(EncodedEvent::decode(&encoded), Ok(event.clone()));
        let decoded_as_encoded =
            <EncodedEvent as Message>::decode(event.encode_to_vec().as_slice());
        assert_eq!(decoded_as_encoded, Ok(encoded));
    }
}
