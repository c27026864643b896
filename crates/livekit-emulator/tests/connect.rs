//! Simulated media clients: `Emulator::connect` validates join tokens like LiveKit's signal
//! endpoint and keeps one session per identity.

mod common;

use common::*;
use livekit_emulator::EmulatorError;
use livekit_protocol::participant_info::State;

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthorized() {
    within(async {
        let server = start_emulator(config());
        let token = join_token_with("another-secret-of-at-least-32-chars!", "show", "a", |_| {});
        let result = server.emulator.connect(&token).await;
        assert!(
            matches!(result, Err(EmulatorError::Unauthorized(_))),
            "{result:?}"
        );
        let garbage = server.emulator.connect("not-a-jwt").await;
        assert!(
            matches!(garbage, Err(EmulatorError::Unauthorized(_))),
            "{garbage:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_without_room_join_is_permission_denied() {
    within(async {
        let server = start_emulator(config());
        let token = join_token_with(SECRET, "show", "a", |g| g.room_join = false);
        let result = server.emulator.connect(&token).await;
        assert!(
            matches!(result, Err(EmulatorError::PermissionDenied(_))),
            "{result:?}"
        );
        assert!(server.emulator.rooms().is_empty());
    })
    .await;
}

#[tokio::test]
async fn connecting_auto_creates_the_room_with_an_active_participant() {
    within(async {
        let server = start_emulator(config());
        let joined = server
            .emulator
            .connect(&join_token("fresh", "alice"))
            .await
            .expect("connect");
        assert!(joined.sid.starts_with("PA_"));
        assert_eq!(joined.state, State::Active as i32);
        assert!(joined.joined_at > 0);
        let permission = joined.permission.expect("permission");
        assert!(permission.can_publish && permission.can_subscribe && permission.can_publish_data);
        let rooms = server.emulator.rooms();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].name, "fresh");
        assert_eq!(rooms[0].num_participants, 1);
    })
    .await;
}

#[tokio::test]
async fn a_viewer_token_yields_a_participant_that_cannot_publish() {
    within(async {
        let server = start_emulator(config());
        let token = join_token_with(SECRET, "show", "viewer", |g| {
            g.can_publish = Some(false);
            g.can_subscribe = Some(true);
        });
        let joined = server.emulator.connect(&token).await.expect("connect");
        let permission = joined.permission.expect("permission");
        assert!(!permission.can_publish);
        assert!(
            !permission.can_publish_data,
            "data follows canPublish when unset"
        );
        assert!(permission.can_subscribe);
    })
    .await;
}

#[tokio::test]
async fn reconnecting_with_the_same_identity_replaces_the_session() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let first = server
            .emulator
            .connect(&join_token("show", "host"))
            .await
            .expect("first connect");
        let second = server
            .emulator
            .connect(&join_token("show", "host"))
            .await
            .expect("second connect");
        assert_ne!(first.sid, second.sid);
        let participants = server.emulator.participants("show");
        assert_eq!(participants.len(), 1);
        assert_eq!(participants[0].sid, second.sid);

        let events = delivered_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "room_started",
                "participant_joined",
                "participant_left",
                "participant_joined"
            ]
        );
        let sid_of = |i: usize| {
            events[i]
                .participant
                .as_ref()
                .map(|p| p.sid.clone())
                .expect("participant")
        };
        assert_eq!(sid_of(1), first.sid);
        assert_eq!(sid_of(2), first.sid);
        assert_eq!(sid_of(3), second.sid);
    })
    .await;
}

#[tokio::test]
async fn a_full_room_refuses_new_participants() {
    within(async {
        let server = start_emulator(config());
        server
            .room_client()
            .create_room(
                "tiny",
                livekit_api::services::room::CreateRoomOptions {
                    max_participants: 1,
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        server
            .emulator
            .connect(&join_token("tiny", "a"))
            .await
            .expect("first fits");
        let second = server.emulator.connect(&join_token("tiny", "b")).await;
        assert!(
            matches!(second, Err(EmulatorError::ResourceExhausted(_))),
            "{second:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn disconnecting_an_unknown_participant_is_not_found() {
    within(async {
        let server = start_emulator(config());
        let unknown_room = server.emulator.disconnect("nowhere", "a").await;
        assert!(matches!(unknown_room, Err(EmulatorError::NotFound(_))));
        server
            .emulator
            .connect(&join_token("show", "a"))
            .await
            .expect("connect");
        let unknown_identity = server.emulator.disconnect("show", "b").await;
        assert!(matches!(unknown_identity, Err(EmulatorError::NotFound(_))));
        server
            .emulator
            .disconnect("show", "a")
            .await
            .expect("disconnect");
        assert!(server.emulator.participants("show").is_empty());
    })
    .await;
}
