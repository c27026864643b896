//! Refusals come back as `ClientError::Api` carrying the error envelope: the stable code to
//! branch on, the status, the fields at fault and the request id.

use orchestrator_client::{ClientError, CreateStream, Join, StreamStatus, UpdateStream};
use orchestrator_tests::spawn_app;
use serde_json::json;

use super::meta;

#[tokio::test]
async fn an_invalid_request_names_every_field_at_fault_and_its_request() {
    let app = spawn_app().await;

    let err = app
        .api
        .create_stream(&CreateStream::named("no spaces allowed"))
        .await
        .unwrap_err();

    let ClientError::Api(api) = &err else {
        panic!("an API refusal: {err}")
    };
    assert_eq!((api.status, api.code.as_str()), (400, "invalid_field"));
    assert_eq!(api.field.as_deref(), Some("roomName"));
    assert_eq!(api.fields[0].field, "roomName");
    assert!(!api.message.is_empty());
    assert!(api.request_id.is_some(), "quotable in a report");
}

#[tokio::test]
async fn each_refusal_has_its_code() {
    let app = spawn_app().await;
    let api = &app.api;
    let id = app.new_stream_id().await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let not_found = api.stream(&unknown).await.unwrap_err();
    let stale_etag = api
        .update_stream(&id, &UpdateStream::metadata(meta(json!({"a": 1}))))
        .if_match(7)
        .await
        .unwrap_err();
    let stale_version = api
        .update_stream(
            &id,
            &UpdateStream::metadata(meta(json!({"a": 1}))).at_version(7),
        )
        .await
        .unwrap_err();
    let not_joined = api.leave(&id, "nobody").await.unwrap_err();
    api.stop_stream(&id).await.unwrap();
    let revived = api
        .update_stream(&id, &UpdateStream::status(StreamStatus::Active))
        .await
        .unwrap_err();
    let late = api.join(&id, &Join::viewer("late")).await.unwrap_err();

    let codes = [
        &not_found,
        &stale_etag,
        &stale_version,
        &not_joined,
        &revived,
        &late,
    ]
    .map(|err| (err.status(), err.code().map(str::to_owned)));
    let expected = [
        (404, "stream_not_found"),
        (412, "precondition_failed"),
        (409, "version_conflict"),
        (404, "participant_not_found"),
        (409, "invalid_transition"),
        (409, "stream_not_active"),
    ]
    .map(|(status, code)| (Some(status), Some(code.to_owned())));
    assert_eq!(codes, expected);
}
