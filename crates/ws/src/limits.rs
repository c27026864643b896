//! WebSocket connections per operator key: a key may hold at most so many at once (a dashboard
//! that leaks connections, or a stolen key, cannot exhaust the instance); beyond, the handshake
//! is refused with `429 too_many_connections`. Counted per instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use orchestrator_domain::policy::access::KeyId;

/// Open connections per key, shared by every worker of the instance.
#[derive(Debug, Clone, Default)]
pub struct KeyConnections {
    open: Arc<Mutex<HashMap<KeyId, usize>>>,
}

/// One connection's place among its key's; given back when dropped.
#[derive(Debug)]
pub(crate) struct KeySlot {
    key: KeyId,
    open: Arc<Mutex<HashMap<KeyId, usize>>>,
}

impl KeyConnections {
    /// A place for a new connection of `key`, unless it already holds `max` (0: no limit).
    pub(crate) fn acquire(&self, key: &KeyId, max: usize) -> Option<KeySlot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(KeySlot {
            key: key.clone(),
            open: self.open.clone(),
        })
    }

    /// Connections `key` holds now.
    pub fn open(&self, key: &KeyId) -> usize {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orchestrator_domain::policy::access::{KeyEntry, Scope};

    use super::*;

    #[test]
    fn a_key_holds_at_most_max_connections_and_gets_them_back_when_they_close() {
        let connections = KeyConnections::default();
        let key = KeyEntry::for_key("k", Scope::Read).id();
        let other = KeyEntry::for_key("other", Scope::Read).id();

        let first = connections.acquire(&key, 2);
        let second = connections.acquire(&key, 2);
        let third = connections.acquire(&key, 2);

        assert!(first.is_some() && second.is_some());
        assert!(third.is_none());
        assert!(
            connections.acquire(&other, 2).is_some(),
            "keys are counted apart"
        );
        drop(first);
        assert_eq!(connections.open(&key), 1);
        assert!(connections.acquire(&key, 2).is_some());
    }

    #[test]
    fn zero_is_no_limit() {
        let connections = KeyConnections::default();
        let key = KeyEntry::for_key("k", Scope::Read).id();

        let slots: Vec<_> = (0..1000).map(|_| connections.acquire(&key, 0)).collect();

        assert!(slots.iter().all(Option::is_some));
    }
}
