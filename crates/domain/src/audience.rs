//! A stream's audience counters: kept beside the stream, moved by every participant change in
//! the same atomic step, so nobody ever has to count participant records.

use serde::{Deserialize, Serialize};

use crate::participant::Role;

/// How many people are in a stream right now, by role, and how many ever joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    /// Participants present now.
    pub active: u64,
    /// Present hosts (may publish).
    pub hosts: u64,
    /// Present viewers (subscribe only).
    pub viewers: u64,
    /// Present participants with a media session LiveKit reported (the others hold a token but
    /// are not connected, or LiveKit's report has not arrived yet).
    #[serde(default)]
    pub connected: u64,
    /// Distinct identities that ever joined (a participant returning is not counted twice).
    pub total_joined: u64,
}

impl Audience {
    /// The counters after `delta`. Counters never go below zero, whatever a caller passes.
    #[must_use]
    pub fn moved(self, delta: AudienceDelta) -> Self {
        let add = |count: u64, by: i64| count.saturating_add_signed(by);
        Self {
            active: add(self.active, delta.active),
            hosts: add(self.hosts, delta.hosts),
            viewers: add(self.viewers, delta.viewers),
            connected: add(self.connected, delta.connected),
            total_joined: add(self.total_joined, delta.total_joined),
        }
    }

    /// Nobody present any more (the room is gone); `total_joined` is history and stays.
    #[must_use]
    pub fn emptied(self) -> Self {
        Self {
            active: 0,
            hosts: 0,
            viewers: 0,
            connected: 0,
            total_joined: self.total_joined,
        }
    }
}

/// How one participant change moves the [`Audience`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudienceDelta {
    /// Change of [`Audience::active`].
    pub active: i64,
    /// Change of [`Audience::hosts`].
    pub hosts: i64,
    /// Change of [`Audience::viewers`].
    pub viewers: i64,
    /// Change of [`Audience::connected`].
    pub connected: i64,
    /// Change of [`Audience::total_joined`] (1 for a first join, else 0).
    pub total_joined: i64,
}

/// How a present participant counts: their role, and whether LiveKit reported their media
/// session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// The participant's role.
    pub role: Role,
    /// Whether a media session is known.
    pub connected: bool,
}

impl AudienceDelta {
    /// The delta between a participant's presence before and after a change (`None`: absent).
    /// `first_join` counts a new identity.
    pub fn between(before: Option<Presence>, after: Option<Presence>, first_join: bool) -> Self {
        let mut delta = Self {
            total_joined: i64::from(first_join),
            ..Self::default()
        };
        if let Some(presence) = before {
            delta.count(presence, -1);
        }
        if let Some(presence) = after {
            delta.count(presence, 1);
        }
        delta
    }

    fn count(&mut self, presence: Presence, by: i64) {
        self.active += by;
        match presence.role {
            Role::Host => self.hosts += by,
            Role::Viewer => self.viewers += by,
        }
        if presence.connected {
            self.connected += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(role: Role) -> Option<Presence> {
        Some(Presence {
            role,
            connected: false,
        })
    }

    fn connected(role: Role) -> Option<Presence> {
        Some(Presence {
            role,
            connected: true,
        })
    }

    #[test]
    fn a_first_join_counts_the_person_once_in_their_role() {
        let delta = AudienceDelta::between(None, present(Role::Host), true);
        let audience = Audience::default().moved(delta);
        assert_eq!(
            audience,
            Audience {
                active: 1,
                hosts: 1,
                viewers: 0,
                connected: 0,
                total_joined: 1
            }
        );
    }

    #[test]
    fn a_media_session_reported_counts_as_connected_until_the_person_leaves() {
        let connecting =
            AudienceDelta::between(present(Role::Viewer), connected(Role::Viewer), false);
        let leaving = AudienceDelta::between(connected(Role::Viewer), None, false);
        let start = Audience {
            active: 1,
            viewers: 1,
            total_joined: 1,
            ..Audience::default()
        };
        let on_air = start.moved(connecting);
        assert_eq!((on_air.active, on_air.connected), (1, 1));
        assert_eq!(on_air.moved(leaving).connected, 0);
    }

    #[test]
    fn a_role_change_moves_one_person_between_roles() {
        let start = Audience {
            active: 2,
            hosts: 1,
            viewers: 1,
            connected: 0,
            total_joined: 2,
        };
        let moved = start.moved(AudienceDelta::between(
            present(Role::Viewer),
            present(Role::Host),
            false,
        ));
        assert_eq!((moved.active, moved.hosts, moved.viewers), (2, 2, 0));
    }

    #[test]
    fn leaving_and_emptying_keep_the_history() {
        let start = Audience {
            active: 3,
            hosts: 1,
            viewers: 2,
            connected: 2,
            total_joined: 5,
        };
        let left = start.moved(AudienceDelta::between(connected(Role::Viewer), None, false));
        assert_eq!((left.active, left.viewers, left.total_joined), (2, 1, 5));
        assert_eq!(
            left.emptied(),
            Audience {
                total_joined: 5,
                ..Audience::default()
            }
        );
    }

    #[test]
    fn counters_never_go_below_zero() {
        let moved =
            Audience::default().moved(AudienceDelta::between(connected(Role::Host), None, false));
        assert_eq!(moved, Audience::default());
    }
}
