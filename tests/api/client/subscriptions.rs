//! Subscriptions through the client: every event once, in seq order, ending after the stop;
//! across forced disconnects (a proxy cutting every connection) nothing is lost or repeated,
//! on the WebSocket and on gRPC; a position the log cannot resume is `resync_required`.

use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_client::proto::StreamEventType;
use orchestrator_client::{
    Client, ClientError, EventType, Join, Resync, SubscribeOptions, Update, UpdateStream,
};
use orchestrator_tests::proxy::Proxy;
use orchestrator_tests::{spawn_app, TestApp};
use serde_json::json;

use super::{meta, seqs, until_end, until_error, WITHIN};

/// Changes `id` `count` times (metadata), through the app's own client, then stops it.
async fn change_then_stop(app: &TestApp, id: &str, count: u64, between: impl Fn(u64)) {
    for n in 0..count {
        let patch = UpdateStream::metadata(meta(json!({ "n": n })));
        app.api.update_stream(id, &patch).await.unwrap();
        between(n);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    app.api.stop_stream(id).await.unwrap();
}

async fn final_seq(app: &TestApp, id: &str) -> u64 {
    app.api.stream_state(id).await.unwrap().seq
}

#[tokio::test]
async fn a_websocket_subscription_delivers_every_event_once_and_ends_after_the_stop() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let events = tokio::spawn(until_end(
        app.api.subscribe_with(&id, SubscribeOptions::after(0)),
    ));

    for name in ["ada", "bob"] {
        app.api.join(&id, &Join::viewer(name)).await.unwrap();
    }
    app.api.leave(&id, "bob").await.unwrap();
    change_then_stop(&app, &id, 3, |_| {}).await;
    let events = events.await.unwrap();

    let expected: Vec<u64> = (1..=final_seq(&app, &id).await).collect();
    assert_eq!(seqs(&events), expected);
    let kinds: Vec<EventType> = events
        .iter()
        .filter_map(|update| match update {
            Update::Event(event) => Some(event.kind),
            Update::ResyncRequired(_) => None,
        })
        .collect();
    assert_eq!(kinds.first(), Some(&EventType::StreamCreated));
    assert_eq!(kinds.last(), Some(&EventType::StreamStopped));
    assert!(kinds.contains(&EventType::ParticipantLeft));
}

#[tokio::test]
async fn a_live_subscription_starts_with_the_next_change() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let mut subscription = app.api.subscribe(&id);

    // Change the stream until the subscription (set up in the background) sees a change.
    let mut tick = 0;
    let first = loop {
        tick += 1;
        let patch = UpdateStream::metadata(meta(json!({ "tick": tick })));
        app.api.update_stream(&id, &patch).await.unwrap();
        if let Ok(next) =
            tokio::time::timeout(Duration::from_millis(200), subscription.next()).await
        {
            break next.expect("an update").unwrap();
        }
    };

    let Update::Event(first) = first else {
        panic!("an event: {first:?}")
    };
    assert!(
        first.seq > 1,
        "stream_created (seq 1) was before the subscription"
    );
    assert_eq!(first.kind, EventType::StreamUpdated);
    assert_eq!(subscription.last_seq(), Some(first.seq));
}

#[tokio::test]
async fn a_grpc_subscription_delivers_the_same_events() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let events = tokio::spawn(until_end(
        app.api.subscribe_grpc(&id, SubscribeOptions::after(0)),
    ));

    app.api.join(&id, &Join::host("ada")).await.unwrap();
    change_then_stop(&app, &id, 3, |_| {}).await;
    let events = events.await.unwrap();

    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|update| match update {
            Update::Event(event) => Some(event.seq),
            Update::ResyncRequired(_) => None,
        })
        .collect();
    let expected: Vec<u64> = (1..=final_seq(&app, &id).await).collect();
    assert_eq!(seqs, expected);
    assert!(matches!(
        events.last(),
        Some(Update::Event(e)) if e.event_type == StreamEventType::StreamStopped as i32
    ));
}

/// A client of `app` whose REST, WebSocket and gRPC connections go through proxies.
async fn behind_proxies(app: &TestApp) -> (Client, Proxy, Proxy) {
    let http = Proxy::start(app.addr).await;
    let grpc = Proxy::start(app.grpc_addr).await;
    let client = Client::builder(&http.url())
        .grpc_url(grpc.url())
        .build()
        .unwrap();
    (client, http, grpc)
}

#[tokio::test]
async fn forced_disconnects_lose_and_repeat_nothing_on_the_websocket() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let (client, http, _grpc) = behind_proxies(&app).await;
    let subscription = client.subscribe_with(&id, SubscribeOptions::after(0));
    let (events, reconnects) = {
        let collecting = tokio::spawn(async move {
            let mut subscription = subscription;
            let mut updates = Vec::new();
            while let Some(update) = subscription.next().await {
                updates.push(update.unwrap());
            }
            (updates, subscription.reconnects())
        });
        change_then_stop(&app, &id, 30, |n| {
            if n % 6 == 5 {
                http.cut();
            }
        })
        .await;
        tokio::time::timeout(WITHIN, collecting)
            .await
            .unwrap()
            .unwrap()
    };

    let expected: Vec<u64> = (1..=final_seq(&app, &id).await).collect();
    assert_eq!(
        seqs(&events),
        expected,
        "every event exactly once, in order"
    );
    assert!(reconnects >= 1, "the cuts forced reconnects: {reconnects}");
}

#[tokio::test]
async fn forced_disconnects_lose_and_repeat_nothing_on_grpc() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let (client, _http, grpc) = behind_proxies(&app).await;
    let subscription = client.subscribe_grpc(&id, SubscribeOptions::after(0));
    let collecting = tokio::spawn(async move {
        let mut subscription = subscription;
        let mut seqs = Vec::new();
        while let Some(update) = subscription.next().await {
            if let Update::Event(event) = update.unwrap() {
                seqs.push(event.seq);
            }
        }
        (seqs, subscription.reconnects())
    });

    change_then_stop(&app, &id, 30, |n| {
        if n % 6 == 5 {
            grpc.cut();
        }
    })
    .await;
    let (seqs, reconnects) = tokio::time::timeout(WITHIN, collecting)
        .await
        .unwrap()
        .unwrap();

    let expected: Vec<u64> = (1..=final_seq(&app, &id).await).collect();
    assert_eq!(seqs, expected, "every event exactly once, in order");
    assert!(reconnects >= 1, "the cuts forced reconnects: {reconnects}");
}

#[tokio::test]
async fn an_unknown_stream_ends_the_subscription_with_stream_not_found() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let (_, on_ws) =
        until_error(app.api.subscribe_with(&unknown, SubscribeOptions::after(0))).await;
    let (_, on_grpc) =
        until_error(app.api.subscribe_grpc(&unknown, SubscribeOptions::after(0))).await;

    assert!(
        matches!(&on_ws, ClientError::Subscription { code, .. } if code == "stream_not_found"),
        "{on_ws}"
    );
    assert_eq!(on_grpc.code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_position_the_log_cannot_resume_is_resync_required_and_ends_the_subscription() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let on_ws = until_end(app.api.subscribe_with(&id, SubscribeOptions::after(1000))).await;
    let on_grpc = until_end(app.api.subscribe_grpc(&id, SubscribeOptions::after(1000))).await;

    for updates in [on_ws.len(), on_grpc.len()] {
        assert_eq!(updates, 1, "the resync, then the end");
    }
    assert!(
        matches!(&on_ws[0], Update::ResyncRequired(r) if r.stream_id == id && r.state.is_none())
    );
    assert!(
        matches!(&on_grpc[0], Update::ResyncRequired(r) if r.message.starts_with("resync_required"))
    );
}

#[tokio::test]
async fn with_resync_from_state_the_subscription_goes_on_after_the_state() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.api.join(&id, &Join::viewer("ada")).await.unwrap();
    let options = SubscribeOptions::after(1000).on_resync(Resync::FromState);
    let updates = tokio::spawn(until_end(app.api.subscribe_with(&id, options)));

    tokio::time::sleep(Duration::from_millis(300)).await;
    change_then_stop(&app, &id, 2, |_| {}).await;
    let updates = updates.await.unwrap();

    let Update::ResyncRequired(resync) = &updates[0] else {
        panic!("the resync first: {updates:?}")
    };
    let state = resync.state.as_ref().expect("the state to rebuild from");
    assert_eq!(state.active_participants, 1);
    let expected: Vec<u64> = (state.seq + 1..=final_seq(&app, &id).await).collect();
    assert_eq!(
        seqs(&updates),
        expected,
        "on after the state's seq, nothing before it"
    );
}
