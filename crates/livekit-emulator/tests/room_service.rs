//! The official `livekit-api` RoomClient works unchanged against the emulator, and the raw
//! Twirp surface (JSON bodies, errors, auth) behaves like LiveKit's.

mod common;

use common::*;
use livekit_api::access_token::VideoGrants;
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use livekit_api::services::{ServerError, ServiceError};

fn twirp_code(result: Result<impl std::fmt::Debug, ServiceError>) -> String {
    match result {
        Err(ServiceError::Twirp(ServerError::Twirp(code))) => code.code,
        other => panic!("expected a Twirp error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_room_is_get_or_create() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        let options = CreateRoomOptions {
            empty_timeout: 300,
            max_participants: 10,
            metadata: "first".into(),
            ..Default::default()
        };
        let created = client.create_room("show", options).await.expect("create");
        assert!(created.sid.starts_with("RM_"));
        assert_eq!(created.name, "show");
        assert_eq!(created.empty_timeout, 300);
        assert_eq!(created.max_participants, 10);
        assert_eq!(created.metadata, "first");
        assert!(created.creation_time > 0);
        assert!(created.creation_time_ms >= created.creation_time * 1000);

        let again = CreateRoomOptions {
            metadata: "second".into(),
            ..Default::default()
        };
        let existing = client
            .create_room("show", again)
            .await
            .expect("create again");
        assert_eq!(existing, created, "an existing room is returned unchanged");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_rooms_returns_all_or_only_the_named_ones() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        for name in ["a", "b", "c"] {
            client
                .create_room(name, Default::default())
                .await
                .expect("create");
        }
        let all = client.list_rooms(vec![]).await.expect("list all");
        let mut names: Vec<_> = all.iter().map(|r| r.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);

        let some = client
            .list_rooms(vec!["b".into(), "missing".into()])
            .await
            .expect("list some");
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].name, "b");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_room_metadata_changes_the_room() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        client
            .create_room("show", Default::default())
            .await
            .expect("create");
        let updated = client
            .update_room_metadata("show", "{\"live\":true}")
            .await
            .expect("update");
        assert_eq!(updated.metadata, "{\"live\":true}");
        let listed = client.list_rooms(vec!["show".into()]).await.expect("list");
        assert_eq!(listed[0].metadata, "{\"live\":true}");
        assert_eq!(
            twirp_code(client.update_room_metadata("nope", "x").await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_participants_are_listed_and_can_be_removed() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        client
            .create_room("show", Default::default())
            .await
            .expect("create");
        let joined = server
            .emulator
            .connect(&join_token("show", "alice"))
            .await
            .expect("connect");

        let listed = client.list_participants("show").await.expect("list");
        assert_eq!(listed, vec![joined.clone()]);
        assert_eq!(listed[0].identity, "alice");
        assert_eq!(listed[0].name, "alice name");
        let rooms = client.list_rooms(vec![]).await.expect("list rooms");
        assert_eq!(rooms[0].num_participants, 1);

        let fetched = client.get_participant("show", "alice").await.expect("get");
        assert_eq!(fetched.sid, joined.sid);

        client
            .remove_participant("show", "alice")
            .await
            .expect("remove");
        assert!(client
            .list_participants("show")
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            twirp_code(client.remove_participant("show", "alice").await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_participant_changes_metadata_name_and_permission() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        server
            .emulator
            .connect(&join_token("show", "bob"))
            .await
            .expect("connect");
        let permission = livekit_protocol::ParticipantPermission {
            can_subscribe: true,
            ..Default::default()
        };
        let updated = client
            .update_participant(
                "show",
                "bob",
                livekit_api::services::room::UpdateParticipantOptions {
                    metadata: "meta".into(),
                    name: "Bobby".into(),
                    permission: Some(permission.clone()),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
        assert_eq!(updated.metadata, "meta");
        assert_eq!(updated.name, "Bobby");
        assert_eq!(updated.permission, Some(permission));
        assert_eq!(server.emulator.participants("show"), vec![updated]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_room_removes_it_and_a_second_delete_is_not_found() {
    within(async {
        let server = start_emulator(config());
        let client = server.room_client();
        client
            .create_room("show", Default::default())
            .await
            .expect("create");
        client.delete_room("show").await.expect("delete");
        assert!(client.list_rooms(vec![]).await.expect("list").is_empty());
        assert!(server.emulator.rooms().is_empty());
        assert_eq!(twirp_code(client.delete_room("show").await), "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_unauthenticated() {
    within(async {
        let server = start_emulator(config());
        let client = RoomClient::with_api_key(
            &server.url(),
            KEY,
            "a-different-secret-of-at-least-32-chars",
        );
        assert_eq!(
            twirp_code(client.create_room("show", Default::default()).await),
            "unauthenticated"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_needed_grant_is_permission_denied() {
    within(async {
        let server = start_emulator(config());
        let list_only = server_token(VideoGrants {
            room_list: true,
            ..Default::default()
        });
        let client = RoomClient::with_token(&server.url(), &list_only);
        assert_eq!(
            twirp_code(client.create_room("show", Default::default()).await),
            "permission_denied"
        );
        assert!(client
            .list_rooms(vec![])
            .await
            .expect("list allowed")
            .is_empty());

        server
            .emulator
            .connect(&join_token("show", "a"))
            .await
            .expect("connect");
        let admin_elsewhere = server_token(VideoGrants {
            room_admin: true,
            room: "other".into(),
            ..Default::default()
        });
        let client = RoomClient::with_token(&server.url(), &admin_elsewhere);
        assert_eq!(
            twirp_code(client.list_participants("show").await),
            "permission_denied"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_room_name_is_an_invalid_argument() {
    within(async {
        let server = start_emulator(config());
        let result = server
            .room_client()
            .create_room("", Default::default())
            .await;
        assert_eq!(twirp_code(result), "invalid_argument");
    })
    .await;
}

fn create_room_token() -> String {
    server_token(VideoGrants {
        room_create: true,
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_requests_get_proto3_json_responses() {
    within(async {
        let server = start_emulator(config());
        let token = create_room_token();
        let response = post_text(
            &server.twirp_url("CreateRoom"),
            "application/json",
            Some(&token),
            r#"{"name":"json-room","maxParticipants":5}"#,
        )
        .await;
        assert_eq!(response.status, 200);
        let content_type = response.header("content-type").expect("content type");
        assert!(content_type.starts_with("application/json"));
        let room = response.json();
        assert_eq!(room["name"], "json-room");
        assert_eq!(room["maxParticipants"], 5);
        assert!(room["sid"].as_str().expect("sid").starts_with("RM_"));
        assert!(room["creationTime"].is_string(), "int64 is a JSON string");
        assert!(room["creationTimeMs"].is_string(), "int64 is a JSON string");
        assert!(
            room.get("max_participants").is_none(),
            "fields are camelCase"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_is_a_400_malformed_error() {
    within(async {
        let server = start_emulator(config());
        let token = create_room_token();
        let url = server.twirp_url("CreateRoom");
        let response = post_text(&url, "application/json", Some(&token), "{not json").await;
        assert_eq!(response.status, 400);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let error = response.json();
        assert_eq!(error["code"], "malformed");
        assert!(error["msg"].is_string());

        let auth = format!("Bearer {token}");
        let headers = [
            ("Content-Type", "application/protobuf"),
            ("Authorization", auth.as_str()),
        ];
        let response = http_post(&url, &headers, &[0xff, 0xff, 0xff]).await;
        assert_eq!(response.status, 400);
        assert_eq!(response.json()["code"], "malformed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_and_content_types_are_bad_routes() {
    within(async {
        let server = start_emulator(config());
        let token = create_room_token();
        let unknown = post_text(
            &server.twirp_url("LaunchRocket"),
            "application/json",
            Some(&token),
            "{}",
        )
        .await;
        assert_eq!(unknown.status, 404);
        assert_eq!(unknown.json()["code"], "bad_route");

        let text = post_text(
            &server.twirp_url("CreateRoom"),
            "text/plain",
            Some(&token),
            "name=x",
        )
        .await;
        assert_eq!(text.status, 404);
        assert_eq!(text.json()["code"], "bad_route");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_is_a_401() {
    within(async {
        let server = start_emulator(config());
        let response = post_text(
            &server.twirp_url("ListRooms"),
            "application/json",
            None,
            "{}",
        )
        .await;
        assert_eq!(response.status, 401);
        assert_eq!(response.json()["code"], "unauthenticated");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_can_be_simulated_over_http() {
    within(async {
        let server = start_emulator(config());
        let connect_url = format!("{}/emulator/connect", server.url());
        let body = serde_json::json!({ "token": join_token("show", "carol") }).to_string();
        let connected = post_text(&connect_url, "application/json", None, &body).await;
        assert_eq!(connected.status, 200);
        let participant = connected.json();
        assert_eq!(participant["identity"], "carol");
        assert_eq!(participant["state"], "ACTIVE");
        assert_eq!(server.emulator.participants("show").len(), 1);

        let disconnect_url = format!("{}/emulator/disconnect", server.url());
        let body = r#"{"room":"show","identity":"carol"}"#;
        let first = post_text(&disconnect_url, "application/json", None, body).await;
        assert_eq!(first.status, 200);
        assert!(server.emulator.participants("show").is_empty());
        let second = post_text(&disconnect_url, "application/json", None, body).await;
        assert_eq!(second.status, 404);
        assert_eq!(second.json()["code"], "not_found");

        let bad = post_text(
            &connect_url,
            "application/json",
            None,
            r#"{"token":"garbage"}"#,
        )
        .await;
        assert_eq!(bad.status, 401);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_calls_are_remembered_with_their_traceparent() {
    within(async {
        let server = start_emulator(config());
        let token = server_token(VideoGrants {
            room_list: true,
            ..Default::default()
        });
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

        let bearer = format!("Bearer {token}");
        let traced = http_post(
            &server.twirp_url("ListRooms"),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", bearer.as_str()),
                ("traceparent", traceparent),
            ],
            b"{}",
        )
        .await;
        let after_traced = server.emulator.recent_calls();
        for _ in 0..livekit_emulator::emulator::RECENT_CALLS {
            server.room_client().list_rooms(Vec::new()).await.unwrap();
        }
        let plain_calls = server.emulator.recent_calls();

        assert_eq!(traced.status, 200);
        assert_eq!(
            after_traced,
            vec![livekit_emulator::RecordedCall {
                method: "ListRooms".into(),
                traceparent: Some(traceparent.into()),
            }]
        );
        assert_eq!(
            plain_calls.len(),
            livekit_emulator::emulator::RECENT_CALLS,
            "bounded: the oldest are forgotten"
        );
        assert!(plain_calls.iter().all(|call| call.traceparent.is_none()));
        assert!(plain_calls.iter().all(|call| call.method == "ListRooms"));
    })
    .await;
}
