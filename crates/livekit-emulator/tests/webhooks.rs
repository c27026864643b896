//! Webhooks are delivered in order and signed exactly like LiveKit's, so the official
//! `WebhookReceiver` accepts them.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_lifecycle_produces_verifiable_webhooks_in_order() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let client = server.room_client();
        let room = client
            .create_room("show", Default::default())
            .await
            .expect("create");
        let joined = server
            .emulator
            .connect(&join_token("show", "alice"))
            .await
            .expect("connect");
        client
            .remove_participant("show", "alice")
            .await
            .expect("remove");
        client.delete_room("show").await.expect("delete");

        assert!(server.emulator.flush_webhooks(FLUSH_TIMEOUT).await);
        let delivered = sink.drain();
        for webhook in &delivered {
            assert_eq!(webhook.content_type, "application/webhook+json");
            assert!(
                !webhook.authorization.starts_with("Bearer"),
                "LiveKit sends a bare JWT"
            );
        }
        let events: Vec<_> = delivered.iter().map(Delivered::verify).collect();
        assert_eq!(
            event_names(&events),
            [
                "room_started",
                "participant_joined",
                "participant_left",
                "room_finished"
            ]
        );
        for event in &events {
            assert_eq!(
                event.room.as_ref().map(|r| r.sid.as_str()),
                Some(room.sid.as_str())
            );
            assert!(event.id.starts_with("EV_"));
            assert!(event.created_at > 0);
        }
        assert_eq!(
            events[1].participant.as_ref().map(|p| &p.sid),
            Some(&joined.sid)
        );
        assert_eq!(
            events[2].participant.as_ref().map(|p| &p.identity),
            Some(&"alice".to_owned())
        );
        let unique: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(unique.len(), events.len(), "event ids are unique");

        for webhook in &delivered {
            let json = webhook.json();
            assert!(
                json["createdAt"].is_string(),
                "int64 createdAt is a JSON string"
            );
            assert!(json.get("created_at").is_none(), "fields are camelCase");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_room_with_participants_sends_their_departures_first() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        for identity in ["a", "b"] {
            server
                .emulator
                .connect(&join_token("show", identity))
                .await
                .expect("connect");
        }
        server
            .room_client()
            .delete_room("show")
            .await
            .expect("delete");
        let events = delivered_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "room_started",
                "participant_joined",
                "participant_joined",
                "participant_left",
                "participant_left",
                "room_finished"
            ]
        );
        assert!(server.emulator.participants("show").is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_webhooks_are_dropped() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let client = server.room_client();
        client
            .create_room("before", Default::default())
            .await
            .expect("create");
        assert_eq!(
            event_names(&delivered_events(&server.emulator, &mut sink).await),
            ["room_started"]
        );

        server.emulator.set_webhooks_enabled(false);
        client
            .create_room("during", Default::default())
            .await
            .expect("create");
        server
            .emulator
            .connect(&join_token("during", "a"))
            .await
            .expect("connect");
        assert!(delivered_events(&server.emulator, &mut sink)
            .await
            .is_empty());
        // Give a wrongly-delivered webhook a moment to show up before concluding none came.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sink.drain().is_empty());

        server.emulator.set_webhooks_enabled(true);
        client.delete_room("during").await.expect("delete");
        let events = delivered_events(&server.emulator, &mut sink).await;
        assert_eq!(event_names(&events), ["participant_left", "room_finished"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_given_up_on_and_flush_still_completes() {
    within(async {
        // Bind then drop, so the port is very likely closed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/webhook", closed.local_addr().expect("addr"));
        drop(closed);
        let server = start_emulator(config().with_webhook_url(url));
        server
            .room_client()
            .create_room("show", Default::default())
            .await
            .expect("create");
        assert!(server.emulator.flush_webhooks(FLUSH_TIMEOUT).await);
    })
    .await;
}

#[tokio::test]
async fn flush_reports_a_timeout() {
    // A receiver that accepts connections but never answers keeps delivery busy.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/webhook", silent.local_addr().expect("addr"));
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    within(async {
        let server = start_emulator(config().with_webhook_url(url));
        server
            .emulator
            .connect(&join_token("show", "a"))
            .await
            .expect("connect");
        assert!(
            !server
                .emulator
                .flush_webhooks(Duration::from_millis(200))
                .await
        );
    })
    .await;
}
