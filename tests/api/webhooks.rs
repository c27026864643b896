use livekit_api::services::room::RoomClient;
use livekit_emulator::{DEV_API_KEY, DEV_API_SECRET};
use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn participant_left(room: &str, identity: &str) -> String {
    json!({
        "event": "participant_left",
        "room": {"name": room},
        "participant": {"sid": "PA_x", "identity": identity},
        "id": format!("EV_{}", uuid::Uuid::new_v4().simple()),
        "createdAt": "1700000000"
    })
    .to_string()
}

#[tokio::test]
async fn an_unsigned_or_wrongly_signed_webhook_is_a_401_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;
    let body = participant_left(&format!("room-{id}"), "ada");

    let unsigned = app
        .send_raw(
            reqwest::Method::POST,
            "/webhooks/livekit",
            Some("application/webhook+json"),
            body.clone(),
        )
        .await;
    let forged = app
        .post_webhook(&body, "not-the-secret-but-32-characters-long")
        .await;

    assert_error(unsigned, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    assert_error(forged, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let state = app.state(&id).await;
    assert_eq!(state["activeParticipants"], 1);
    assert_eq!(state["seq"], 2);
}

#[tokio::test]
async fn a_signed_webhook_with_application_json_is_accepted_too() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;
    let body = participant_left(&format!("room-{id}"), "ada");
    let signed = app.post_webhook(&body, DEV_API_SECRET).await;

    assert_eq!(signed.status(), StatusCode::OK);
    let receipt: Value = signed.json().await.unwrap();
    assert_eq!(receipt["status"], "applied");
    assert_eq!(app.state(&id).await["activeParticipants"], 0);
}

#[tokio::test]
async fn a_media_session_round_trips_through_emulator_webhooks() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let joined = app
        .joined(&id, json!({"participantName": "ada", "role": "host"}))
        .await;

    let session = app
        .emulator()
        .connect(joined["token"].as_str().unwrap())
        .await
        .unwrap();
    let connected = app
        .wait_for_stream(&id, |s| s["participants"][0]["sid"].is_string())
        .await;

    assert_eq!(connected["participants"][0]["sid"], session.sid.as_str());
    assert_eq!(connected["participants"][0]["leftAt"], Value::Null);

    app.emulator()
        .disconnect(&format!("room-{id}"), "ada")
        .await
        .unwrap();
    let left = app
        .wait_for_stream(&id, |s| s["participants"][0]["leftAt"].is_string())
        .await;
    assert_eq!(left["status"], "active");
}

#[tokio::test]
async fn a_walk_in_reported_by_livekit_becomes_a_participant() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let token = livekit_api::access_token::AccessToken::with_api_key(DEV_API_KEY, DEV_API_SECRET)
        .with_identity("walk-in")
        .with_grants(livekit_api::access_token::VideoGrants {
            room_join: true,
            room: format!("room-{id}"),
            can_publish: Some(false),
            ..Default::default()
        })
        .to_jwt()
        .unwrap();

    app.emulator().connect(&token).await.unwrap();

    let stream = app
        .wait_for_stream(&id, |s| {
            s["participants"].as_array().is_some_and(|p| p.len() == 1)
        })
        .await;
    assert_eq!(stream["participants"][0]["identity"], "walk-in");
    assert_eq!(stream["participants"][0]["role"], "viewer");
}

#[tokio::test]
async fn a_room_closed_in_livekit_stops_its_stream() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let livekit = RoomClient::with_api_key(&app.livekit_url, DEV_API_KEY, DEV_API_SECRET);

    livekit.delete_room(&format!("room-{id}")).await.unwrap();

    let stream = app.wait_for_stream(&id, |s| s["status"] == "stopped").await;
    assert!(stream["stoppedAt"].is_string());
}

#[tokio::test]
async fn webhooks_for_unknown_rooms_and_unused_event_types_are_acknowledged() {
    let app = spawn_app().await;

    let unknown_room = app
        .post_webhook(&participant_left("nobody-here", "x"), DEV_API_SECRET)
        .await;
    let track =
        json!({"event": "track_published", "room": {"name": "r"}, "id": "EV_t"}).to_string();
    let unused = app.post_webhook(&track, DEV_API_SECRET).await;

    assert_eq!(unknown_room.status(), StatusCode::OK);
    assert_eq!(
        unknown_room.json::<Value>().await.unwrap()["status"],
        "unknown_room"
    );
    assert_eq!(unused.status(), StatusCode::OK);
    assert_eq!(unused.json::<Value>().await.unwrap()["status"], "ignored");
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_webhook_event_is_a_400() {
    let app = spawn_app().await;

    let response = app.post_webhook("[not an event]", DEV_API_SECRET).await;

    assert_error(response, StatusCode::BAD_REQUEST, "malformed_webhook").await;
}

#[tokio::test]
async fn a_redelivered_webhook_changes_nothing_and_is_counted() {
    let app = spawn_app().await;
    // The recorder is the process's: other tests count too, so counts are compared, never
    // read as absolute values.
    let duplicates = "orchestrator_webhooks_total{outcome=\"duplicate\"}";
    let applied = "orchestrator_webhooks_total{outcome=\"applied\"}";
    let (duplicates_before, applied_before) =
        (app.metric(duplicates).await, app.metric(applied).await);
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;
    let body = participant_left(&format!("room-{id}"), "ada");
    let first = app.post_webhook(&body, DEV_API_SECRET).await;
    assert_eq!(first.json::<Value>().await.unwrap()["status"], "applied");
    let seq = app.state(&id).await["seq"].clone();
    app.joined(&id, json!({"participantName": "ada"})).await; // back in
    let seq_after_rejoin = app.state(&id).await["seq"].clone();

    let redelivered = app.post_webhook(&body, DEV_API_SECRET).await;

    assert_eq!(redelivered.status(), StatusCode::OK);
    assert_eq!(
        redelivered.json::<Value>().await.unwrap()["status"],
        "duplicate"
    );
    assert_ne!(seq, seq_after_rejoin);
    assert_eq!(
        app.state(&id).await["seq"],
        seq_after_rejoin,
        "the rejoin stands"
    );
    assert!(app.metric(duplicates).await > duplicates_before);
    assert!(app.metric(applied).await > applied_before);
}

#[tokio::test]
async fn track_and_egress_webhooks_are_recorded_on_the_stream() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let room = format!("room-{id}");
    let event = |body: Value| body.to_string();
    let joined = event(json!({
        "event": "participant_joined", "id": "EV_j", "createdAt": "100",
        "room": {"name": room}, "participant": {"sid": "PA_1", "identity": "ada"}
    }));
    let track = event(json!({
        "event": "track_published", "id": "EV_t", "createdAt": "101",
        "room": {"name": room}, "participant": {"sid": "PA_1", "identity": "ada"},
        "track": {"sid": "TR_1"}
    }));
    let egress = event(json!({
        "event": "egress_started", "id": "EV_e", "createdAt": "102",
        "egressInfo": {"egressId": "EG_1", "roomName": room, "status": "EGRESS_ACTIVE"}
    }));
    let aborted = event(json!({
        "event": "participant_connection_aborted", "id": "EV_a", "createdAt": "103",
        "room": {"name": room}, "participant": {"sid": "PA_1", "identity": "ada"}
    }));

    for body in [&joined, &track, &egress] {
        let receipt: Value = app
            .post_webhook(body, DEV_API_SECRET)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(receipt["status"], "applied", "{body}");
    }
    let recorded = app.stream(&id).await;
    app.post_webhook(&aborted, DEV_API_SECRET).await;

    assert_eq!(recorded["participants"][0]["tracks"], json!(["TR_1"]));
    assert_eq!(recorded["egress"], json!({"EG_1": "EGRESS_ACTIVE"}));
    let after = app.stream(&id).await;
    assert!(
        after["participants"][0]["leftAt"].is_string(),
        "an aborted connection is a departure"
    );
}

#[tokio::test]
async fn a_late_webhook_about_an_older_session_never_removes_a_newer_one() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let room = format!("room-{id}");
    let report = |event: &str, id: &str, sid: &str, at: &str| {
        json!({
            "event": event, "id": id, "createdAt": at,
            "room": {"name": room}, "participant": {"sid": sid, "identity": "ada"}
        })
        .to_string()
    };
    app.post_webhook(
        &report("participant_joined", "EV_1", "PA_old", "100"),
        DEV_API_SECRET,
    )
    .await;
    app.post_webhook(
        &report("participant_joined", "EV_2", "PA_new", "200"),
        DEV_API_SECRET,
    )
    .await;

    let stale_left = app
        .post_webhook(
            &report("participant_left", "EV_3", "PA_old", "150"),
            DEV_API_SECRET,
        )
        .await;
    let stale_join = app
        .post_webhook(
            &report("participant_joined", "EV_4", "PA_older", "50"),
            DEV_API_SECRET,
        )
        .await;

    assert_eq!(
        stale_left.json::<Value>().await.unwrap()["status"],
        "unchanged"
    );
    assert_eq!(
        stale_join.json::<Value>().await.unwrap()["status"],
        "unchanged"
    );
    let stream = app.stream(&id).await;
    assert_eq!(stream["participants"][0]["sid"], "PA_new");
    assert_eq!(stream["participants"][0]["leftAt"], Value::Null);
}

#[tokio::test]
async fn a_late_room_started_never_revives_a_stopped_stream() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.stopped(&id).await;
    let late =
        json!({"event": "room_started", "id": "EV_late", "room": {"name": format!("room-{id}")}})
            .to_string();

    let response = app.post_webhook(&late, DEV_API_SECRET).await;

    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "unknown_room"
    );
    assert_eq!(app.stream(&id).await["status"], "stopped");
}

#[tokio::test]
async fn a_webhook_body_over_64_kib_is_a_413_even_when_signed() {
    let app = spawn_app().await;
    let huge = json!({"event": "room_started", "id": "EV_big", "room": {"name": "x", "metadata": "y".repeat(70 * 1024)}})
        .to_string();

    let response = app.post_webhook(&huge, DEV_API_SECRET).await;

    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
