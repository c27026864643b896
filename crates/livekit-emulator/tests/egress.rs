//! LiveKit's Egress service: the official `EgressClient` works against the emulator, egresses
//! go through LiveKit's state machine by themselves, and tests can make egress workers fail
//! or the service refuse starts.

mod common;

use std::time::Duration;

use common::*;
use livekit_api::services::egress::{
    EgressClient, EgressListFilter, EgressListOptions, EgressOutput, RoomCompositeOptions,
    TrackCompositeOptions, WebOptions,
};
use livekit_emulator::{BroadcastLimits, EmulatorConfig};
use livekit_protocol as proto;
use proto::EgressStatus as Status;

const TARGET: &str = "rtmp://live.example.com/app/sk_live_0123456789";

fn stream(urls: &[&str]) -> EgressOutput {
    EgressOutput::Stream(proto::StreamOutput {
        protocol: proto::StreamProtocol::Rtmp as i32,
        urls: urls.iter().map(|u| (*u).to_owned()).collect(),
    })
}

fn hls() -> EgressOutput {
    EgressOutput::Segments(proto::SegmentedFileOutput {
        filename_prefix: "show/seg".into(),
        playlist_name: "show/index.m3u8".into(),
        live_playlist_name: "show/live.m3u8".into(),
        ..Default::default()
    })
}

fn recording() -> EgressOutput {
    EgressOutput::File(proto::EncodedFileOutput {
        filepath: "recordings/{room_name}.mp4".into(),
        ..Default::default()
    })
}

async fn room(server: &RunningEmulator, name: &str) -> proto::Room {
    server
        .room_client()
        .create_room(name, Default::default())
        .await
        .expect("create room")
}

async fn start(client: &EgressClient, room: &str, outputs: Vec<EgressOutput>) -> proto::EgressInfo {
    client
        .start_room_composite_egress(room, outputs, RoomCompositeOptions::default())
        .await
        .expect("start egress")
}

fn status(info: &proto::EgressInfo) -> Status {
    Status::try_from(info.status).expect("a known status")
}

fn egress_of(event: &proto::WebhookEvent) -> &proto::EgressInfo {
    event.egress_info.as_ref().expect("egressInfo")
}

fn statuses(events: &[proto::WebhookEvent]) -> Vec<(&str, Status)> {
    events
        .iter()
        .filter(|e| e.egress_info.is_some())
        .map(|e| (e.event.as_str(), status(egress_of(e))))
        .collect()
}

async fn listed(client: &EgressClient, id: &str) -> proto::EgressInfo {
    let options = EgressListOptions {
        filter: EgressListFilter::Egress(id.into()),
        ..Default::default()
    };
    let mut found = client.list_egress(options).await.expect("list");
    found.pop().expect("the egress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_composite_egress_starts_then_goes_active_by_itself() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        let show = room(&server, "show").await;
        let client = server.egress_client();

        let info = start(&client, "show", vec![stream(&[TARGET]), hls(), recording()]).await;

        assert!(info.egress_id.starts_with("EG_"), "{}", info.egress_id);
        assert_eq!(status(&info), Status::EgressStarting);
        assert_eq!(
            (info.room_id.as_str(), info.room_name.as_str()),
            (show.sid.as_str(), "show")
        );
        assert!(
            info.started_at > 1_000_000_000_000_000_000,
            "in nanoseconds"
        );
        assert_eq!(info.stream_results.len(), 1);
        assert_eq!(
            info.stream_results[0].url,
            "rtmp://live.example.com/app/{sk_...789}"
        );
        assert_eq!(info.file_results[0].filename, "recordings/show.mp4");
        assert_eq!(info.segment_results[0].playlist_name, "show/index.m3u8");
        assert!(
            !format!("{info:?}").contains("sk_live_0123456789"),
            "the key is redacted"
        );

        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            statuses(&events),
            [
                ("egress_started", Status::EgressStarting),
                ("egress_updated", Status::EgressActive)
            ]
        );
        let room_of_event = events[1].room.clone().expect("room");
        assert_eq!(
            (room_of_event.sid, room_of_event.name),
            (show.sid, "show".to_owned())
        );
        let active = listed(&client, &info.egress_id).await;
        assert_eq!(status(&active), Status::EgressActive);
        assert!(active.updated_at >= active.started_at);
        assert!(active.stream_results[0].started_at > 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_active_egress_ends_it_complete_with_its_results() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        room(&server, "show").await;
        let client = server.egress_client();
        let info = start(&client, "show", vec![stream(&[TARGET]), hls(), recording()]).await;
        settled_events(&server.emulator, &mut sink).await;

        let stopping = client.stop_egress(&info.egress_id).await.expect("stop");

        assert_eq!(status(&stopping), Status::EgressEnding);
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            statuses(&events),
            [
                ("egress_updated", Status::EgressEnding),
                ("egress_ended", Status::EgressComplete)
            ]
        );
        let done = egress_of(&events[1]);
        assert!(done.ended_at >= done.started_at);
        assert_eq!(done.details, "End reason: StopEgress API");
        let file = &done.file_results[0];
        assert_eq!(file.location, "recordings/show.mp4");
        assert!(file.duration > 0 && file.ended_at > 0);
        let segments = &done.segment_results[0];
        assert_eq!(segments.playlist_location, "show/index.m3u8");
        assert_eq!(segments.live_playlist_location, "show/live.m3u8");
        assert!(segments.segment_count >= 1);
        let target = &done.stream_results[0];
        assert_eq!(target.status, proto::stream_info::Status::Finished as i32);
        assert!(target.duration > 0);

        let (code, msg) = twirp_error(client.stop_egress(&info.egress_id).await);
        assert_eq!(code, "failed_precondition");
        assert!(msg.contains("EGRESS_COMPLETE"), "{msg}");
        assert_eq!(
            twirp_code(client.stop_egress("EG_unknown").await),
            "not_found"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_stopped_before_its_pipeline_runs_is_aborted() {
    within(async {
        let sink_and_server = {
            let sink = WebhookSink::start();
            let config = EmulatorConfig {
                egress_start_delay: Duration::from_secs(3600),
                ..config().with_webhook_url(sink.url.clone())
            };
            (start_emulator(config), sink)
        };
        let (server, mut sink) = sink_and_server;
        room(&server, "show").await;
        let client = server.egress_client();
        let info = start(&client, "show", vec![recording()]).await;

        let aborted = client.stop_egress(&info.egress_id).await.expect("stop");

        assert_eq!(status(&aborted), Status::EgressAborted);
        assert_eq!(aborted.error, "Stop called before pipeline could start");
        let events = delivered_events(&server.emulator, &mut sink).await;
        assert_eq!(
            statuses(&events),
            [
                ("egress_started", Status::EgressStarting),
                ("egress_ended", Status::EgressAborted)
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_egress_worker_ends_the_egress_failed_with_its_error() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        room(&server, "show").await;
        let info = start(&server.egress_client(), "show", vec![stream(&[TARGET])]).await;
        settled_events(&server.emulator, &mut sink).await;
        let path = format!("/emulator/egress/{}/fail", info.egress_id);

        let failed = server
            .simulate(&path, serde_json::json!({ "reason": "disk full" }))
            .await;

        assert_eq!(failed.status, 200);
        assert_eq!(failed.json()["status"], "EGRESS_FAILED");
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(statuses(&events), [("egress_ended", Status::EgressFailed)]);
        let ended = egress_of(&events[0]);
        assert_eq!(ended.error, "disk full");
        assert_eq!(
            ended.stream_results[0].status,
            proto::stream_info::Status::Failed as i32
        );
        let again = server.simulate(&path, serde_json::json!({})).await;
        assert_eq!(again.json()["code"], "failed_precondition");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_next_makes_the_next_starts_fail_after_starting() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        room(&server, "show").await;
        settled_events(&server.emulator, &mut sink).await;
        let client = server.egress_client();
        let told = server
            .simulate(
                "/emulator/egress/fail-next",
                serde_json::json!({ "count": 1, "reason": "rtmp target refused" }),
            )
            .await;
        assert_eq!(told.status, 200);

        let doomed = start(&client, "show", vec![stream(&[TARGET])]).await;
        let events = settled_events(&server.emulator, &mut sink).await;
        let healthy = start(&client, "show", vec![stream(&[TARGET])]).await;
        let later = settled_events(&server.emulator, &mut sink).await;

        assert_eq!(status(&doomed), Status::EgressStarting);
        assert_eq!(
            statuses(&events),
            [
                ("egress_started", Status::EgressStarting),
                ("egress_ended", Status::EgressFailed)
            ]
        );
        assert_eq!(egress_of(&events[1]).error, "rtmp target refused");
        assert_eq!(
            statuses(&later),
            [
                ("egress_started", Status::EgressStarting),
                ("egress_updated", Status::EgressActive)
            ]
        );
        assert_eq!(egress_of(&later[1]).egress_id, healthy.egress_id);
        assert_eq!(server.emulator.egress_starts("show"), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_next_refuses_start_calls_and_creates_nothing() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let client = server.egress_client();
        let told = server
            .simulate(
                "/emulator/egress/unavailable-next",
                serde_json::json!({ "count": 2 }),
            )
            .await;
        assert_eq!(told.status, 200);

        let first = client
            .start_room_composite_egress("show", vec![recording()], Default::default())
            .await;
        let second = client
            .start_room_composite_egress("show", vec![recording()], Default::default())
            .await;
        let third = client
            .start_room_composite_egress("show", vec![recording()], Default::default())
            .await;

        assert_eq!(twirp_code(first), "unavailable");
        assert_eq!(twirp_code(second), "unavailable");
        assert!(third.is_ok(), "{third:?}");
        assert_eq!(server.emulator.egresses().len(), 1);
        let counted = http_get(&format!(
            "{}/emulator/egress/starts?room=show",
            server.url()
        ))
        .await;
        assert_eq!(
            counted.json(),
            serde_json::json!({ "room": "show", "starts": 1 })
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_on_a_room_that_does_not_exist_is_not_found() {
    within(async {
        let server = start_emulator(config());

        let result = server
            .egress_client()
            .start_room_composite_egress("missing", vec![recording()], Default::default())
            .await;

        let (code, msg) = twirp_error(result);
        assert_eq!(code, "not_found");
        assert_eq!(msg, "requested room does not exist");
        assert_eq!(server.emulator.egress_starts("missing"), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_egress_filters_by_room_by_id_and_by_activity() {
    within(async {
        let server = start_emulator(config());
        room(&server, "a").await;
        room(&server, "b").await;
        let client = server.egress_client();
        let a1 = start(&client, "a", vec![recording()]).await;
        let a2 = start(&client, "a", vec![recording()]).await;
        let b1 = start(&client, "b", vec![recording()]).await;
        assert!(server.emulator.settle(FLUSH_TIMEOUT).await);
        client.stop_egress(&a2.egress_id).await.expect("stop");
        let a2_id = a2.egress_id.clone();
        assert!(server.emulator.settle(FLUSH_TIMEOUT).await);
        let ids = |list: Vec<proto::EgressInfo>| -> Vec<String> {
            list.into_iter().map(|e| e.egress_id).collect()
        };
        let list = |filter: EgressListFilter, active: bool| {
            client.list_egress(EgressListOptions {
                filter,
                active,
                ..Default::default()
            })
        };

        let all = list(EgressListFilter::All, false).await.expect("all");
        let in_a = list(EgressListFilter::Room("a".into()), false)
            .await
            .expect("a");
        let active_in_a = list(EgressListFilter::Room("a".into()), true)
            .await
            .expect("a");
        let one = list(EgressListFilter::Egress(b1.egress_id.clone()), false).await;

        assert_eq!(
            ids(all),
            [a1.egress_id.clone(), a2.egress_id, b1.egress_id.clone()]
        );
        assert_eq!(ids(in_a), [a1.egress_id.clone(), a2_id]);
        assert_eq!(ids(active_in_a), [a1.egress_id]);
        assert_eq!(ids(one.expect("by id")), [b1.egress_id]);
        let unknown = list(EgressListFilter::Egress("EG_nope".into()), false).await;
        assert_eq!(twirp_code(unknown), "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_stream_adds_and_removes_rtmp_targets_and_the_last_removal_ends_it() {
    within(async {
        let (server, mut sink) = start_with_webhooks();
        room(&server, "show").await;
        let client = server.egress_client();
        let info = start(&client, "show", vec![stream(&[TARGET])]).await;
        settled_events(&server.emulator, &mut sink).await;
        let second = "rtmps://backup.example.com:443/live/other_key_987";

        let added = client
            .update_stream(&info.egress_id, vec![second.into()], vec![TARGET.into()])
            .await
            .expect("update");

        let stream_statuses = |info: &proto::EgressInfo| -> Vec<i32> {
            info.stream_results.iter().map(|s| s.status).collect()
        };
        use proto::stream_info::Status as Stream;
        assert_eq!(
            stream_statuses(&added),
            [Stream::Finished as i32, Stream::Active as i32]
        );
        assert_eq!(status(&added), Status::EgressActive);
        let unknown = client
            .update_stream(&info.egress_id, vec![], vec!["rtmp://x/app/never".into()])
            .await;
        assert_eq!(twirp_code(unknown), "not_found");

        let emptied = client
            .update_stream(&info.egress_id, vec![], vec![second.into()])
            .await
            .expect("remove the last");

        assert_eq!(status(&emptied), Status::EgressEnding);
        assert_eq!(emptied.details, "End reason: All streams stopped");
        let events = settled_events(&server.emulator, &mut sink).await;
        assert_eq!(
            statuses(&events),
            [
                ("egress_updated", Status::EgressActive),
                ("egress_updated", Status::EgressEnding),
                ("egress_ended", Status::EgressComplete)
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_stream_is_refused_for_a_recording_and_for_an_ended_egress() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let client = server.egress_client();
        let file_only = start(&client, "show", vec![recording()]).await;
        let streaming = start(&client, "show", vec![stream(&[TARGET])]).await;
        server
            .emulator
            .fail_egress(&streaming.egress_id, "gone")
            .await
            .expect("fail");

        let on_file = client
            .update_stream(&file_only.egress_id, vec![TARGET.into()], vec![])
            .await;
        let on_ended = client
            .update_stream(&streaming.egress_id, vec![TARGET.into()], vec![])
            .await;

        assert_eq!(twirp_code(on_file), "invalid_argument");
        assert_eq!(twirp_code(on_ended), "failed_precondition");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_room_ends_its_active_egresses_and_aborts_starting_ones() {
    within(async {
        let sink = WebhookSink::start();
        let slow_start = EmulatorConfig {
            egress_start_delay: Duration::from_secs(1),
            ..config().with_webhook_url(sink.url.clone())
        };
        let (server, mut sink) = (start_emulator(slow_start), sink);
        room(&server, "show").await;
        let client = server.egress_client();
        let active = start(&client, "show", vec![recording()]).await;
        assert!(server.emulator.settle(FLUSH_TIMEOUT).await);
        sink.drain();
        let starting = start(&client, "show", vec![recording()]).await;

        server
            .room_client()
            .delete_room("show")
            .await
            .expect("delete room");

        let events = settled_events(&server.emulator, &mut sink).await;
        let ids: Vec<(&str, &str, Status)> = events
            .iter()
            .filter_map(|e| e.egress_info.as_ref().map(|i| (e.event.as_str(), i)))
            .map(|(name, info)| (name, info.egress_id.as_str(), status(info)))
            .collect();
        assert_eq!(
            ids,
            [
                (
                    "egress_started",
                    starting.egress_id.as_str(),
                    Status::EgressStarting
                ),
                (
                    "egress_updated",
                    active.egress_id.as_str(),
                    Status::EgressEnding
                ),
                (
                    "egress_ended",
                    starting.egress_id.as_str(),
                    Status::EgressAborted
                ),
                (
                    "egress_ended",
                    active.egress_id.as_str(),
                    Status::EgressComplete
                ),
            ]
        );
        let completed = egress_of(events.last().expect("an event"));
        assert_eq!(completed.details, "End reason: Source closed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_and_track_composite_egresses_start_too() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let client = server.egress_client();

        let web = client
            .start_web_egress(
                "https://example.com/page",
                vec![recording()],
                WebOptions::default(),
            )
            .await
            .expect("web");
        let tracks = client
            .start_track_composite_egress(
                "show",
                vec![hls()],
                TrackCompositeOptions {
                    audio_track_id: "TR_audio".into(),
                    video_track_id: "TR_video".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("track composite");

        assert_eq!(web.room_name, "");
        assert_eq!(web.source_type, proto::EgressSourceType::Web as i32);
        assert_eq!(web.file_results[0].filename, "recordings/web.mp4");
        assert_eq!(tracks.room_name, "show");
        assert_eq!(tracks.source_type, proto::EgressSourceType::Sdk as i32);
        assert_eq!(server.emulator.egress_starts("show"), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_single_output_is_served_with_the_legacy_result() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let token = token_with(|g| g.room_record = true);
        let body = serde_json::json!({ "roomName": "show", "file": { "filepath": "old.mp4" } });

        let started = post_text(
            &server.service_url("Egress", "StartRoomCompositeEgress"),
            "application/json",
            Some(&token),
            &body.to_string(),
        )
        .await;

        assert_eq!(started.status, 200, "{:?}", started.json());
        let json = started.json();
        assert_eq!(json["fileResults"][0]["filename"], "old.mp4");
        assert_eq!(
            json["file"]["filename"], "old.mp4",
            "the deprecated single result"
        );
        assert_eq!(json["roomComposite"]["file"]["filepath"], "old.mp4");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_outputs_are_refused_without_echoing_stream_keys() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let client = server.egress_client();

        let nothing = client
            .start_room_composite_egress("show", vec![], Default::default())
            .await;
        let bad_url = client
            .start_room_composite_egress(
                "show",
                vec![stream(&["rtmp://host-without-app/sk_secret_1"])],
                Default::default(),
            )
            .await;
        let two_files = client
            .start_room_composite_egress("show", vec![recording(), recording()], Default::default())
            .await;

        let (code, msg) = twirp_error(nothing);
        assert_eq!(
            (code.as_str(), msg.as_str()),
            (
                "invalid_argument",
                "request has missing or invalid field: output"
            )
        );
        let (code, msg) = twirp_error(bad_url);
        assert_eq!(code, "invalid_argument");
        assert!(!msg.contains("sk_secret_1"), "{msg}");
        assert_eq!(twirp_code(two_files), "invalid_argument");
        assert!(server.emulator.egresses().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_egress_call_needs_the_room_record_grant_as_livekit_checks_it() {
    within(async {
        let server = start_emulator(config());
        room(&server, "show").await;
        let info = start(&server.egress_client(), "show", vec![stream(&[TARGET])]).await;
        let everything_else = token_with(|g| {
            g.room_admin = true;
            g.room_create = true;
            g.ingress_admin = true;
            g.room = "show".into();
        });
        let client = EgressClient::with_token(&server.url(), &everything_else);

        let start = client
            .start_room_composite_egress("show", vec![recording()], Default::default())
            .await;
        let list = client.list_egress(EgressListOptions::default()).await;
        let update = client.update_stream(&info.egress_id, vec![], vec![]).await;
        let stop = client.stop_egress(&info.egress_id).await;

        for (code, msg) in [
            twirp_error(start),
            twirp_error(list),
            twirp_error(update),
            twirp_error(stop),
        ] {
            assert_eq!(code, "unauthenticated");
            assert!(msg.contains("roomRecord"), "{msg}");
        }
        assert_eq!(server.emulator.egresses().len(), 1);
        assert_eq!(server.emulator.egress_starts("show"), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_egress_caps_are_resource_exhausted_errors() {
    within(async {
        let limits = BroadcastLimits {
            max_active_egresses_per_room: 1,
            ..BroadcastLimits::default()
        };
        let server = start_emulator(EmulatorConfig { limits, ..config() });
        room(&server, "show").await;
        room(&server, "other").await;
        let client = server.egress_client();
        let first = start(&client, "show", vec![recording()]).await;

        let second = client
            .start_room_composite_egress("show", vec![recording()], Default::default())
            .await;
        assert_eq!(twirp_code(second), "resource_exhausted");
        start(&client, "other", vec![recording()]).await;

        server
            .emulator
            .fail_egress(&first.egress_id, "x")
            .await
            .expect("fail");
        start(&client, "show", vec![recording()]).await;
    })
    .await;
}
