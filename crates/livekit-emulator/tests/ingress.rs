//! LiveKit's Ingress service: the official `IngressClient` works against the emulator, and
//! simulated encoders drive the ingress state machine, its room participant and its
//! `ingress_*` webhooks like LiveKit's ingress workers do.

mod common;

use std::collections::HashSet;

use common::*;
use livekit_api::services::ingress::{CreateIngressOptions, IngressClient, IngressListFilter};
use livekit_emulator::{BroadcastLimits, EmulatorError};
use livekit_protocol as proto;
use proto::ingress_state::Status;

fn options(room: &str, identity: &str) -> CreateIngressOptions {
    CreateIngressOptions {
        name: format!("{identity} ingress"),
        room_name: room.into(),
        participant_identity: identity.into(),
        participant_name: format!("{identity} name"),
        ..Default::default()
    }
}

async fn create_rtmp(server: &RunningEmulator, room: &str, identity: &str) -> proto::IngressInfo {
    server
        .ingress_client()
        .create_ingress(proto::IngressInput::RtmpInput, options(room, identity))
        .await
        .expect("create ingress")
}

fn status(info: &proto::IngressInfo) -> Status {
    let raw = info.state.as_ref().map(|s| s.status).unwrap_or_default();
    Status::try_from(raw).expect("a known status")
}

fn error_of(info: &proto::IngressInfo) -> &str {
    info.state
        .as_ref()
        .map(|s| s.error.as_str())
        .unwrap_or_default()
}

fn ingress_of(event: &proto::WebhookEvent) -> &proto::IngressInfo {
    event.ingress_info.as_ref().expect("ingressInfo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_rtmp_ingress_waits_for_its_encoder_with_a_key_and_an_rtmp_url() {
    within(async {
        let server = start_emulator(config());

        let info = create_rtmp(&server, "show", "encoder").await;

        assert!(info.ingress_id.starts_with("IN_"), "{}", info.ingress_id);
        assert!(info.stream_key.len() >= 20, "unguessable key");
        assert_eq!(info.url, "rtmp://127.0.0.1:1935/live");
        assert_eq!(info.input_type, proto::IngressInput::RtmpInput as i32);
        assert_eq!(info.room_name, "show");
        assert_eq!(info.participant_identity, "encoder");
        assert!(info.reusable);
        assert_eq!(info.enable_transcoding, Some(true));
        assert_eq!(status(&info), Status::EndpointInactive);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_ingress_gets_the_emulators_whip_url_and_passes_media_through() {
    within(async {
        let server = start_emulator(config());

        let info = server
            .ingress_client()
            .create_ingress(proto::IngressInput::WhipInput, options("show", "cam"))
            .await
            .expect("create");

        assert_eq!(info.url, format!("{}/w", server.url()));
        assert_eq!(info.enable_transcoding, Some(false));
        assert!(!info.stream_key.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_ids_and_stream_keys_are_never_handed_out_twice() {
    within(async {
        let server = start_emulator(config());
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        for n in 0..10 {
            let info = create_rtmp(&server, &format!("room-{n}"), "encoder").await;
            assert!(info.stream_key.chars().all(|c| c.is_ascii_alphanumeric()));
            ids.insert(info.ingress_id.clone());
            keys.insert(info.stream_key.clone());
            server
                .ingress_client()
                .delete_ingress(&info.ingress_id)
                .await
                .expect("delete");
        }
        assert_eq!((ids.len(), keys.len()), (10, 10));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_ingress_returns_all_one_rooms_or_one_by_id() {
    within(async {
        let server = start_emulator(config());
        let client = server.ingress_client();
        let a = create_rtmp(&server, "a", "enc-a").await;
        let b = create_rtmp(&server, "b", "enc-b").await;

        let all = client
            .list_ingress(IngressListFilter::All)
            .await
            .expect("all");
        let by_room = client
            .list_ingress(IngressListFilter::Room("b".into()))
            .await
            .expect("by room");
        let by_id = client
            .list_ingress(IngressListFilter::IngressId(a.ingress_id.clone()))
            .await
            .expect("by id");

        assert_eq!(all, vec![a.clone(), b.clone()]);
        assert_eq!(by_room, vec![b]);
        assert_eq!(by_id, vec![a]);
        let unknown = client
            .list_ingress(IngressListFilter::IngressId("IN_unknown".into()))
            .await;
        assert_eq!(twirp_code(unknown), "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_ingress_answers_it_inactive_and_forgets_it() {
    within(async {
        let server = start_emulator(config());
        let client = server.ingress_client();
        let info = create_rtmp(&server, "show", "encoder").await;

        let deleted = client
            .delete_ingress(&info.ingress_id)
            .await
            .expect("delete");

        assert_eq!(deleted.ingress_id, info.ingress_id);
        assert_eq!(status(&deleted), Status::EndpointInactive);
        assert!(client
            .list_ingress(IngressListFilter::All)
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            twirp_code(client.delete_ingress(&info.ingress_id).await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoder_publishing_with_the_key_joins_the_room_and_starts_the_ingress() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;

        let response = server
            .simulate(
                "/emulator/ingest",
                serde_json::json!({ "streamKey": info.stream_key }),
            )
            .await;

        assert_eq!(response.status, 200, "{:?}", response.json());
        assert_eq!(response.json()["state"]["status"], "ENDPOINT_PUBLISHING");
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "room_started",
                "participant_joined",
                "track_published",
                "track_published",
                "ingress_started"
            ]
        );
        let joined = events[1].participant.clone().expect("participant");
        assert_eq!(joined.identity, "encoder");
        assert_eq!(joined.name, "encoder name");
        assert_eq!(joined.kind, proto::participant_info::Kind::Ingress as i32);
        assert_eq!(
            events[2].participant.as_ref().map(|p| &p.sid),
            Some(&joined.sid)
        );
        let started = ingress_of(&events[4]);
        assert_eq!(started.ingress_id, info.ingress_id);
        assert_eq!(status(started), Status::EndpointPublishing);
        let state = started.state.clone().expect("state");
        assert_eq!(state.tracks.len(), 2);
        assert!(
            state.started_at > 1_000_000_000_000_000_000,
            "in nanoseconds"
        );
        assert_eq!(
            events[4].room.as_ref().map(|r| r.name.as_str()),
            Some("show")
        );

        let listed = server
            .room_client()
            .list_participants("show")
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].is_publisher);
        assert_eq!(listed[0].tracks.len(), 2);
        let rooms = server.emulator.rooms();
        assert_eq!(state.room_id, rooms[0].sid);
        assert_eq!(rooms[0].num_publishers, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_of_a_deleted_ingress_and_an_unknown_key_are_refused() {
    within(async {
        let server = start_emulator(config());
        let old = create_rtmp(&server, "show", "encoder").await;
        server
            .ingress_client()
            .delete_ingress(&old.ingress_id)
            .await
            .expect("delete");
        let current = create_rtmp(&server, "show", "encoder").await;

        let with_old_key = server
            .simulate(
                "/emulator/ingest",
                serde_json::json!({ "streamKey": old.stream_key }),
            )
            .await;
        let with_made_up_key = server
            .simulate(
                "/emulator/ingest",
                serde_json::json!({ "streamKey": "guessed" }),
            )
            .await;

        assert_eq!(with_old_key.status, 403);
        assert_eq!(with_old_key.json()["code"], "permission_denied");
        assert_eq!(with_made_up_key.status, 403);
        assert!(server.emulator.rooms().is_empty(), "nobody joined");
        let with_current_key = server
            .emulator
            .publish_encoder_with_key(&current.stream_key)
            .await
            .expect("the current key works");
        assert_eq!(status(&with_current_key), Status::EndpointPublishing);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_encoder_leaves_the_room_and_ends_the_ingress_with_its_error() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;
        let path = format!("/emulator/ingress/{}", info.ingress_id);
        let published = server
            .simulate(&format!("{path}/publish"), serde_json::json!({}))
            .await;
        assert_eq!(published.status, 200);
        settled_events(&server.emulator, &mut sink).await;

        let failed = server
            .simulate(
                &format!("{path}/fail"),
                serde_json::json!({ "reason": "bitrate too low" }),
            )
            .await;

        assert_eq!(failed.status, 200);
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "track_unpublished",
                "track_unpublished",
                "participant_left",
                "ingress_ended"
            ]
        );
        let ended = ingress_of(&events[3]);
        assert_eq!(status(ended), Status::EndpointError);
        assert_eq!(error_of(ended), "bitrate too low");
        assert!(ended.state.as_ref().is_some_and(|s| s.ended_at > 0));
        assert!(server.emulator.participants("show").is_empty());
        let again = server
            .simulate(&format!("{path}/fail"), serde_json::json!({}))
            .await;
        assert_eq!(again.json()["code"], "failed_precondition");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_encoder_leaves_and_the_reusable_ingress_can_publish_again() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");
        settled_events(&server.emulator, &mut sink).await;

        let stop = format!("/emulator/ingress/{}/stop", info.ingress_id);
        let stopped = server.simulate(&stop, serde_json::json!({})).await;

        assert_eq!(stopped.status, 200);
        let stopped: proto::IngressInfo =
            serde_json::from_value(stopped.json()).expect("proto3 JSON of an IngressInfo");
        assert_eq!(status(&stopped), Status::EndpointInactive);
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "track_unpublished",
                "track_unpublished",
                "participant_left",
                "ingress_ended"
            ]
        );
        assert_eq!(status(ingress_of(&events[3])), Status::EndpointInactive);
        assert_eq!(error_of(ingress_of(&events[3])), "");
        let again = server.emulator.publish_encoder(&info.ingress_id).await;
        assert_eq!(
            again.map(|i| status(&i)).ok(),
            Some(Status::EndpointPublishing)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_encoder_on_a_publishing_ingress_is_refused() {
    within(async {
        let server = start_emulator(config());
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");

        let second = server.emulator.publish_encoder(&info.ingress_id).await;

        assert!(
            matches!(second, Err(EmulatorError::FailedPrecondition(_))),
            "{second:?}"
        );
        assert_eq!(server.emulator.participants("show").len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_room_disconnects_the_ingress_with_an_error() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");
        settled_events(&server.emulator, &mut sink).await;

        server
            .room_client()
            .delete_room("show")
            .await
            .expect("delete room");

        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            [
                "track_unpublished",
                "track_unpublished",
                "participant_left",
                "room_finished",
                "ingress_ended"
            ]
        );
        assert_eq!(status(ingress_of(&events[4])), Status::EndpointError);
        assert_eq!(error_of(ingress_of(&events[4])), "room disconnected");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_publishing_ingress_removes_its_participant_without_ingress_ended() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");
        settled_events(&server.emulator, &mut sink).await;

        server
            .ingress_client()
            .delete_ingress(&info.ingress_id)
            .await
            .expect("delete");

        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            event_names(&events),
            ["track_unpublished", "track_unpublished", "participant_left"]
        );
        assert!(server.emulator.ingresses().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_ingress_refuses_the_encoder_and_records_why() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        // The official client cannot set `enabled` yet; a raw proto3 JSON call can.
        let token = token_with(|g| g.ingress_admin = true);
        let body = serde_json::json!({
            "inputType": "RTMP_INPUT",
            "roomName": "show",
            "participantIdentity": "encoder",
            "enabled": false
        });
        let created = post_text(
            &server.service_url("Ingress", "CreateIngress"),
            "application/json",
            Some(&token),
            &body.to_string(),
        )
        .await;
        assert_eq!(created.status, 200, "{:?}", created.json());
        let id = created.json()["ingressId"].as_str().expect("id").to_owned();

        let refused = server.emulator.publish_encoder(&id).await;

        assert!(
            matches!(refused, Err(EmulatorError::PermissionDenied(_))),
            "{refused:?}"
        );
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(event_names(&events), ["ingress_ended"]);
        assert_eq!(status(ingress_of(&events[0])), Status::EndpointError);
        assert_eq!(error_of(ingress_of(&events[0])), "session is disabled");
        assert!(server.emulator.rooms().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_ingress_pulls_and_publishes_by_itself_and_completes_when_its_media_ends() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let url_options = CreateIngressOptions {
            url: "https://media.example/show.m3u8".into(),
            ..options("show", "puller")
        };

        let created = server
            .ingress_client()
            .create_ingress(proto::IngressInput::UrlInput, url_options)
            .await
            .expect("create");

        assert_eq!(status(&created), Status::EndpointBuffering);
        assert!(created.stream_key.is_empty());
        assert!(!created.reusable);
        assert_eq!(created.url, "https://media.example/show.m3u8");
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(event_names(&events).last(), Some(&"ingress_started"));
        assert_eq!(server.emulator.participants("show").len(), 1);

        let done = server
            .emulator
            .stop_encoder(&created.ingress_id)
            .await
            .expect("stop");
        assert_eq!(status(&done), Status::EndpointComplete);
        let refused = server.emulator.publish_encoder(&created.ingress_id).await;
        assert!(matches!(refused, Err(EmulatorError::FailedPrecondition(_))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_ingress_changes_a_reusable_ingress_and_resets_an_errored_one() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let client = server.ingress_client();
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");
        server
            .emulator
            .fail_encoder(&info.ingress_id, "boom")
            .await
            .expect("fail");
        settled_events(&server.emulator, &mut sink).await;

        let update = livekit_api::services::ingress::UpdateIngressOptions {
            name: "renamed".into(),
            room_name: "other".into(),
            ..Default::default()
        };
        let updated = client
            .update_ingress(&info.ingress_id, update)
            .await
            .expect("update");

        assert_eq!(updated.name, "renamed");
        assert_eq!(updated.room_name, "other");
        assert_eq!(
            updated.participant_identity, "encoder",
            "empty fields are kept"
        );
        assert_eq!(updated.stream_key, info.stream_key);
        assert_eq!(status(&updated), Status::EndpointInactive);
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(event_names(&events), ["ingress_ended"]);
        let unknown = client.update_ingress("IN_nope", Default::default()).await;
        assert_eq!(twirp_code(unknown), "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ingress_requests_are_invalid_arguments() {
    within(async {
        let server = start_emulator(config());
        let client = server.ingress_client();

        let no_url = client
            .create_ingress(proto::IngressInput::UrlInput, options("show", "p"))
            .await;
        let bad_scheme = client
            .create_ingress(
                proto::IngressInput::UrlInput,
                CreateIngressOptions {
                    url: "file:///etc/passwd".into(),
                    ..options("show", "p")
                },
            )
            .await;
        let no_identity = client
            .create_ingress(proto::IngressInput::RtmpInput, options("show", ""))
            .await;
        let rtmp_without_transcoding = client
            .create_ingress(
                proto::IngressInput::RtmpInput,
                CreateIngressOptions {
                    enable_transcoding: Some(false),
                    ..options("show", "p")
                },
            )
            .await;

        for result in [no_url, bad_scheme, no_identity, rtmp_without_transcoding] {
            assert_eq!(twirp_code(result), "invalid_argument");
        }
        assert!(server.emulator.ingresses().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ingress_call_needs_the_ingress_admin_grant_as_livekit_checks_it() {
    within(async {
        let server = start_emulator(config());
        let info = create_rtmp(&server, "show", "encoder").await;
        let everything_else = token_with(|g| {
            g.room_admin = true;
            g.room_create = true;
            g.room_list = true;
            g.room_record = true;
            g.room = "show".into();
        });
        let client = IngressClient::with_token(&server.url(), &everything_else);

        let create = client
            .create_ingress(proto::IngressInput::RtmpInput, options("show", "x"))
            .await;
        let update = client
            .update_ingress(&info.ingress_id, Default::default())
            .await;
        let list = client.list_ingress(IngressListFilter::All).await;
        let delete = client.delete_ingress(&info.ingress_id).await;

        for (code, msg) in [
            twirp_error(create),
            twirp_error(update),
            twirp_error(list),
            twirp_error(delete),
        ] {
            assert_eq!(code, "unauthenticated");
            assert!(msg.contains("ingressAdmin"), "{msg}");
        }
        let wrong_secret = IngressClient::with_api_key(
            &server.url(),
            KEY,
            "a-different-secret-of-at-least-32-chars",
        );
        let result = wrong_secret.list_ingress(IngressListFilter::All).await;
        assert_eq!(twirp_code(result), "unauthenticated");
        assert_eq!(server.emulator.ingresses(), vec![info]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingress_caps_are_resource_exhausted_errors() {
    within(async {
        let limits = BroadcastLimits {
            max_ingresses: 2,
            max_ingresses_per_room: 1,
            ..BroadcastLimits::default()
        };
        let server = start_emulator(livekit_emulator::EmulatorConfig { limits, ..config() });
        let client = server.ingress_client();
        create_rtmp(&server, "a", "x").await;

        let same_room = client
            .create_ingress(proto::IngressInput::RtmpInput, options("a", "y"))
            .await;
        assert_eq!(twirp_code(same_room), "resource_exhausted");
        create_rtmp(&server, "b", "x").await;
        let third = client
            .create_ingress(proto::IngressInput::RtmpInput, options("c", "x"))
            .await;
        assert_eq!(twirp_code(third), "resource_exhausted");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_ingress_participant_disconnects_the_ingress_with_an_error() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let info = create_rtmp(&server, "show", "encoder").await;
        server
            .emulator
            .publish_encoder(&info.ingress_id)
            .await
            .expect("publish");
        settled_events(&server.emulator, &mut sink).await;

        server
            .room_client()
            .remove_participant("show", "encoder")
            .await
            .expect("remove");

        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(event_names(&events).last(), Some(&"ingress_ended"));
        let ended = ingress_of(events.last().expect("an event"));
        assert_eq!(status(ended), Status::EndpointError);
        assert_eq!(error_of(ended), "room disconnected");
        let again = server.emulator.publish_encoder(&info.ingress_id).await;
        assert!(
            again.is_ok(),
            "an errored reusable ingress takes a new encoder: {again:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulation_routes_refuse_bad_requests_with_twirp_style_errors() {
    within(async {
        let server = start_emulator(config());

        let unknown = server
            .simulate("/emulator/ingress/IN_nope/publish", serde_json::json!({}))
            .await;
        let malformed = post_text(
            &format!("{}/emulator/ingest", server.url()),
            "application/json",
            None,
            "{not json",
        )
        .await;
        let no_count = server
            .simulate(
                "/emulator/egress/fail-next",
                serde_json::json!({ "reason": "x" }),
            )
            .await;

        assert_eq!(
            (unknown.status, unknown.json()["code"].clone()),
            (404, "not_found".into())
        );
        assert_eq!(malformed.status, 400);
        assert_eq!(malformed.json()["code"], "malformed");
        assert_eq!(no_count.json()["code"], "malformed");
    })
    .await;
}
