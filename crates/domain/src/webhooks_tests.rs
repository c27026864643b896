use std::sync::Arc;

use chrono::Utc;
use mockall::predicate::eq;
use uuid::Uuid;

use super::*;
use crate::broadcast::{MockBroadcastMedia, MockBroadcastRepository, MockRuntime};
use crate::coordination::MockWebhookDedupe;
use crate::ports::{
    MockEventLog, MockMediaServer, MockStreamRepository, MockTokenIssuer, RandomIds, StoreError,
    SystemClock,
};
use crate::service::media::MediaEventKind;
use crate::service::Ports;
use crate::{
    change::ChangeContext, stream::Stream, stream::StreamStatus, values::Metadata,
    values::RoomName, values::StreamId,
};

fn room_started(id: &str) -> VerifiedWebhook {
    VerifiedWebhook {
        id: id.into(),
        kind: "room_started".into(),
        media: Some(MediaEvent {
            room: "studio".into(),
            room_sid: String::new(),
            reported_at: None,
            kind: MediaEventKind::RoomStarted,
        }),
    }
}

/// A repository whose one stream, in room `studio`, is still `creating`.
fn repository_with_a_creating_stream() -> MockStreamRepository {
    let id = StreamId::from_uuid(Uuid::new_v4());
    let mut stream = Stream::new_active(
        id,
        RoomName::new("studio").unwrap(),
        None,
        Metadata::default(),
        Utc::now(),
    );
    stream.status = StreamStatus::Creating;
    let mut repo = MockStreamRepository::new();
    let found = stream.clone();
    repo.expect_find_live_by_room()
        .returning(move |_| Ok(Some(found.clone())));
    repo.expect_apply()
        .returning(move |_, change, ctx: ChangeContext| Ok(stream.apply(&change, &ctx)?));
    repo
}

fn intake(repo: MockStreamRepository, dedupe: MockWebhookDedupe) -> WebhookIntake {
    let service = StreamService::new(
        Ports::new(
            Arc::new(repo),
            Arc::new(MockEventLog::new()),
            Arc::new(MockMediaServer::new()),
            Arc::new(MockTokenIssuer::new()),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        )
        .with_broadcast(
            Arc::new(MockBroadcastRepository::new()),
            Arc::new(MockBroadcastMedia::new()),
            Arc::new(MockRuntime::new()),
        ),
        "test",
    );
    let mut verifier = MockWebhookVerifier::new();
    verifier
        .expect_verify()
        .returning(|_, authorization| match authorization {
            "signed" => Ok(room_started("EV_1")),
            _ => Err(WebhookRejection::Unsigned),
        });
    WebhookIntake::new(
        service,
        Arc::new(verifier),
        Arc::new(dedupe),
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn an_unsigned_delivery_is_refused_before_anything_is_looked_at() {
    let mut dedupe = MockWebhookDedupe::new();
    dedupe.expect_first_delivery().never();
    let intake = intake(MockStreamRepository::new(), dedupe);

    assert_eq!(
        intake.verify(b"{}", "forged"),
        Err(WebhookRejection::Unsigned)
    );
    assert_eq!(intake.verify(b"{}", ""), Err(WebhookRejection::Unsigned));
}

#[tokio::test]
async fn a_first_delivery_is_applied_and_a_redelivery_changes_nothing() {
    let mut dedupe = MockWebhookDedupe::new();
    let mut seen = false;
    dedupe
        .expect_first_delivery()
        .with(eq("EV_1"), eq(Duration::from_secs(60)))
        .returning(move |_, _| Ok(!std::mem::replace(&mut seen, true)));
    let intake = intake(repository_with_a_creating_stream(), dedupe);
    let webhook = intake.verify(b"{}", "signed").unwrap();

    let first = intake.process(webhook.clone()).await;
    let again = intake.process(webhook).await;

    assert_eq!(first, Ok(WebhookOutcome::Applied { seq: 1 }));
    assert_eq!(again, Ok(WebhookOutcome::Duplicate));
}

#[tokio::test]
async fn event_types_not_acted_on_are_acknowledged_without_a_trace() {
    let mut dedupe = MockWebhookDedupe::new();
    dedupe.expect_first_delivery().never();
    let intake = intake(MockStreamRepository::new(), dedupe);
    let track_muted = VerifiedWebhook {
        id: "EV_2".into(),
        kind: "track_muted".into(),
        media: None,
    };

    assert_eq!(
        intake.process(track_muted).await,
        Ok(WebhookOutcome::Ignored)
    );
}

#[tokio::test]
async fn a_report_without_an_event_id_is_applied_without_dedupe() {
    let mut dedupe = MockWebhookDedupe::new();
    dedupe.expect_first_delivery().never();
    let mut repo = MockStreamRepository::new();
    repo.expect_find_live_by_room().returning(|_| Ok(None));
    let intake = intake(repo, dedupe);

    assert_eq!(
        intake.process(room_started("")).await,
        Ok(WebhookOutcome::UnknownRoom)
    );
}

#[tokio::test]
async fn a_failure_forgets_the_event_id_so_the_retry_is_processed() {
    let mut dedupe = MockWebhookDedupe::new();
    dedupe.expect_first_delivery().returning(|_, _| Ok(true));
    dedupe
        .expect_forget()
        .with(eq("EV_1"))
        .times(1)
        .returning(|_| Ok(()));
    let mut repo = MockStreamRepository::new();
    repo.expect_find_live_by_room()
        .returning(|_| Err(StoreError::Unavailable("redis down".into())));
    let intake = intake(repo, dedupe);

    let outcome = intake.process(room_started("EV_1")).await;

    assert_eq!(
        outcome,
        Err(StreamError::StoreUnavailable("redis down".into()))
    );
}

#[tokio::test]
async fn a_dedupe_store_that_is_down_refuses_the_delivery_so_livekit_retries() {
    let mut dedupe = MockWebhookDedupe::new();
    dedupe
        .expect_first_delivery()
        .returning(|_, _| Err(StoreError::Unavailable("redis down".into())));
    let intake = intake(MockStreamRepository::new(), dedupe);

    assert!(matches!(
        intake.process(room_started("EV_1")).await,
        Err(StreamError::StoreUnavailable(_))
    ));
}
