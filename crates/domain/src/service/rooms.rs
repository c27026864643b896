//! Room names this process has seen, by stream: a join signs its token for the stream's room,
//! and reading the whole stream document for that on every join cost a store round trip (and
//! its decoding) per join. A stream's room is fixed when the stream is created and a stream id
//! is never reused, so an entry can never go stale, on this instance or any other. Whether the
//! stream still exists and is active is not remembered: the store's atomic join step decides.
//!
//! Bounded: past [`RoomNames::CAPACITY`] entries the memo starts over, so its memory never
//! grows with the number of streams ever joined (a miss only costs the read it saves).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::values::{RoomName, StreamId};

/// Streams' room names, remembered on first read.
#[derive(Debug, Default)]
pub(super) struct RoomNames {
    known: Mutex<HashMap<StreamId, RoomName>>,
}

impl RoomNames {
    /// Most entries held before the memo starts over: ≈ 100 bytes each for the default
    /// `room-<uuid>` names, ≈ 200 for the longest custom ones (6.5–13 MB at most).
    pub(super) const CAPACITY: usize = 65_536;

    pub(super) fn get(&self, id: StreamId) -> Option<RoomName> {
        self.lock().get(&id).cloned()
    }

    pub(super) fn remember(&self, id: StreamId, room: &RoomName) {
        let mut known = self.lock();
        if known.len() >= Self::CAPACITY && !known.contains_key(&id) {
            known.clear();
        }
        known.insert(id, room.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, RoomName>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> StreamId {
        StreamId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn room(name: &str) -> RoomName {
        RoomName::try_from(name.to_owned()).unwrap()
    }

    #[test]
    fn a_remembered_room_is_returned_and_an_unknown_stream_has_none() {
        let rooms = RoomNames::default();
        rooms.remember(id(1), &room("show-1"));

        assert_eq!(rooms.get(id(1)), Some(room("show-1")));
        assert_eq!(rooms.get(id(2)), None);
    }

    #[test]
    fn the_memo_never_holds_more_than_its_capacity() {
        let rooms = RoomNames::default();
        for n in 0..=RoomNames::CAPACITY as u128 {
            rooms.remember(id(n), &room("r"));
        }

        assert!(rooms.lock().len() <= RoomNames::CAPACITY);
        assert_eq!(
            rooms.get(id(RoomNames::CAPACITY as u128)),
            Some(room("r")),
            "the newest entry survives a restart of the memo"
        );
    }
}
