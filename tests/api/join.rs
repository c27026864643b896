use livekit_api::access_token::TokenVerifier;
use livekit_emulator::{DEV_API_KEY, DEV_API_SECRET};
use orchestrator_tests::{assert_error, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn verifier() -> TokenVerifier {
    TokenVerifier::with_api_key(DEV_API_KEY, DEV_API_SECRET)
}

#[tokio::test]
async fn join_returns_a_token_the_livekit_verifier_accepts_with_the_seed_fields() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let joined = app
        .joined(
            &id,
            json!({"participantName": "ada", "metadata": {"seat": 7}}),
        )
        .await;

    assert_eq!(joined["streamId"], id.as_str());
    assert_eq!(joined["participantName"], "ada");
    assert_eq!(joined["role"], "viewer");
    assert_eq!(joined["wsUrl"], app.livekit_url.replace("http://", "ws://"));
    let claims = verifier()
        .verify(joined["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, "ada");
    assert_eq!(claims.name, "ada");
    assert_eq!(
        serde_json::from_str::<Value>(&claims.metadata).unwrap(),
        json!({"seat": 7})
    );
    assert!(claims.video.room_join);
    assert_eq!(claims.video.room, format!("room-{id}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as usize;
    let ttl = claims.exp - now;
    assert!(
        (21_600 - 60..=21_600).contains(&ttl),
        "the configured 6 h TTL, got {ttl} s"
    );
}

#[tokio::test]
async fn a_viewer_token_may_only_subscribe() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let joined = app
        .joined(
            &id,
            json!({"participantName": "viewer-1", "role": "viewer"}),
        )
        .await;

    let grants = verifier()
        .verify(joined["token"].as_str().unwrap())
        .unwrap()
        .video;
    assert!(grants.room_join && grants.can_subscribe());
    assert!(!grants.can_publish(), "viewers cannot publish media");
    assert!(!grants.can_publish_data(), "viewers cannot publish data");
    assert!(!grants.room_admin && !grants.room_create && !grants.room_list);
}

#[tokio::test]
async fn a_host_token_may_publish_and_subscribe_but_not_administer() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    let joined = app
        .joined(&id, json!({"participantName": "host-1", "role": "host"}))
        .await;

    let grants = verifier()
        .verify(joined["token"].as_str().unwrap())
        .unwrap()
        .video;
    assert!(grants.can_publish() && grants.can_subscribe() && grants.can_publish_data());
    assert!(!grants.room_admin && !grants.room_create && !grants.room_list);
}

#[tokio::test]
async fn the_emulator_admits_a_token_holder_with_exactly_the_granted_permissions() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    let viewer = app.joined(&id, json!({"participantName": "v"})).await;

    let info = app
        .emulator()
        .connect(viewer["token"].as_str().unwrap())
        .await
        .unwrap();

    assert_eq!(info.identity, "v");
    assert!(!info.permission.unwrap().can_publish);
}

#[tokio::test]
async fn joining_again_returns_a_valid_token_keeps_joined_at_and_records_nothing() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.joined(&id, json!({"participantName": "ada"})).await;
    let before = app.state(&id).await;

    let again = app.joined(&id, json!({"participantName": "ada"})).await;

    assert!(verifier().verify(again["token"].as_str().unwrap()).is_ok());
    let after = app.state(&id).await;
    assert_eq!(after["seq"], before["seq"], "no second participant_joined");
    assert_eq!(after["participants"], before["participants"]);
    assert_eq!(after["participants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn joining_a_stream_that_is_not_active_is_a_409_without_a_token() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;
    app.stopped(&id).await;

    let response = app.join(&id, json!({"participantName": "late"})).await;

    let body = assert_error(response, StatusCode::CONFLICT, "stream_not_active").await;
    assert!(body.get("token").is_none());
    assert_eq!(app.state(&id).await["participants"], json!([]));
}

#[tokio::test]
async fn join_refuses_a_missing_or_blank_name_and_an_unknown_role() {
    let app = spawn_app().await;
    let id = app.new_stream_id().await;

    assert_error(
        app.join(&id, json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    let blank = assert_error(
        app.join(&id, json!({"participantName": "  "})).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(blank["field"], "participantName");
    let role = assert_error(
        app.join(&id, json!({"participantName": "ada", "role": "admin"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(role["field"], "role");
    assert_eq!(app.state(&id).await["participants"], json!([]));
}

#[tokio::test]
async fn joining_an_unknown_stream_is_a_404() {
    let app = spawn_app().await;

    let response = app
        .join(
            &uuid::Uuid::new_v4().to_string(),
            json!({"participantName": "ada"}),
        )
        .await;

    assert_error(response, StatusCode::NOT_FOUND, "stream_not_found").await;
}
