//! Stream changes of one instance take turns per stream.
//!
//! A stream change is optimistic: read the stream, decide, write only if its version did not
//! move. Changes of one stream racing each other retry, and with dozens of writers on one
//! stream (PATCHes of a popular show from several operator tools, while joins pour in) the
//! retries piled up until some gave up with 503. Waiting for a turn in the instance first leaves
//! only other instances' changes to race. Participant changes never wait here: each is one
//! script and never conflicts.
//!
//! Turns are a fixed set of fair (FIFO) locks chosen by the stream id, so memory does not grow
//! with the number of streams; two streams sharing a lock only wait for each other's changes.

use tokio::sync::{Mutex, MutexGuard};

use orchestrator_domain::values::StreamId;

/// Locks; stream ids are random, so streams spread evenly over them.
const LOCKS: usize = 256;

pub(crate) struct Turns {
    locks: Box<[Mutex<()>]>,
}

impl Default for Turns {
    fn default() -> Self {
        Self {
            locks: (0..LOCKS).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns").field("locks", &LOCKS).finish()
    }
}

impl Turns {
    /// Waits for `id`'s turn; the turn ends when the guard drops.
    pub(crate) async fn take(&self, id: &StreamId) -> MutexGuard<'_, ()> {
        let at = usize::try_from(id.as_uuid().as_u128() % LOCKS as u128).unwrap_or(0);
        self.locks[at].lock().await
    }
}
