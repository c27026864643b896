//! The broadcast contract: a stream's ingest and outputs stored beside it, each change fenced by
//! the record's revision and numbered with the stream's next seq in the same atomic step, the
//! output limit held, and of many concurrent claims of one output exactly one winning.

/// Holds a store to the broadcast contract: `broadcast_store_contract!(<expression yielding
/// (streams, broadcasts, guard)>)`, `streams` a `StreamRepository + EventLog`, `broadcasts` a
/// `BroadcastRepository` on the same data.
#[macro_export]
macro_rules! broadcast_store_contract {
    ($make:expr) => {
        mod broadcast {
            use std::sync::Arc;

            // The store-making expression may name helpers of the invoking file.
            #[allow(unused_imports)]
            use super::*;

            use orchestrator_domain::broadcast::{
                BroadcastRecord, BroadcastRepository, BroadcastWrite, BroadcastWriteError, Ingest,
                IngestKind, IngestState, Observed, Output, OutputCommand, OutputId, OutputKind,
                RtmpTarget, Secret, MAX_OUTPUTS,
            };
            use orchestrator_domain::ports::{Clock, EventLog, StreamRepository, SystemClock};
            use orchestrator_domain::{
                change::Change, change::ChangeContext, event::EventType, values::Metadata, values::RoomName, stream::Stream, values::StreamId,
            };
            use uuid::Uuid;

            fn ctx() -> ChangeContext {
                ChangeContext {
                    event_id: Uuid::new_v4(),
                    at: SystemClock.now(),
                    instance_id: "contract".into(),
                }
            }

            async fn active_stream<S: StreamRepository>(store: &S) -> Stream {
                let id = StreamId::from_uuid(Uuid::new_v4());
                let room = format!("broadcast-{}", Uuid::new_v4().simple());
                let mut stream = Stream::new_active(
                    id,
                    RoomName::new(room).unwrap(),
                    None,
                    Metadata::default(),
                    SystemClock.now(),
                );
                let event = stream.record_creation(&ctx());
                store.insert(stream.clone(), event).await.unwrap();
                stream
            }

            fn restream(name: &str) -> Output {
                let target = RtmpTarget::new("rtmps://live.example.com/app/sk-secret").unwrap();
                let mut output = Output::new(
                    OutputId::new(name).unwrap(),
                    OutputKind::rtmp(vec![target]).unwrap(),
                    true,
                    SystemClock.now(),
                );
                output.revision = 1;
                output
            }

            fn put(output: &Output, expected: Option<u64>, require_active: bool) -> BroadcastWrite {
                BroadcastWrite {
                    record: BroadcastRecord::Output {
                        id: output.id.clone(),
                        output: Some(output.clone()),
                    },
                    expected,
                    event: Some((
                        if expected.is_none() { EventType::OutputAdded } else { EventType::OutputUpdated },
                        serde_json::json!({ "output": { "id": output.id.as_str() } }),
                    )),
                    require_active,
                }
            }

            fn ingest(revision: u64) -> Ingest {
                Ingest {
                    ingress_id: format!("IN_{revision}"),
                    kind: IngestKind::Rtmp,
                    url: "rtmp://media.test/live".into(),
                    stream_key: Secret::new("sk_contract_0123456789"),
                    state: IngestState::Inactive,
                    error: None,
                    revision,
                    created_at: SystemClock.now(),
                    updated_at: SystemClock.now(),
                }
            }

            #[tokio::test]
            async fn an_added_output_is_read_back_whole_and_its_event_takes_the_next_seq() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                let output = restream("restream");

                let event = broadcasts
                    .write_broadcast(stream.id, put(&output, None, true), ctx())
                    .await
                    .unwrap()
                    .expect("an event");

                assert_eq!((event.seq, event.kind), (2, EventType::OutputAdded));
                let state = broadcasts.broadcast(stream.id).await.unwrap();
                assert_eq!(state.outputs, vec![output]);
                let logged = streams.read_after(stream.id, 1, 10).await.unwrap();
                assert_eq!(logged, vec![event]);
                let read = streams.get(stream.id).await.unwrap().unwrap();
                assert_eq!(read.seq, 2, "the stream's seq moved with it");
            }

            #[tokio::test]
            async fn a_change_decided_on_an_old_revision_stores_nothing() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                let output = restream("restream");
                broadcasts
                    .write_broadcast(stream.id, put(&output, None, true), ctx())
                    .await
                    .unwrap();

                let again = broadcasts
                    .write_broadcast(stream.id, put(&output, None, true), ctx())
                    .await;
                let stale = broadcasts
                    .write_broadcast(stream.id, put(&Output { revision: 3, ..output.clone() }, Some(7), true), ctx())
                    .await;

                assert_eq!(again, Err(BroadcastWriteError::Conflict), "it exists");
                assert_eq!(stale, Err(BroadcastWriteError::Conflict));
                assert_eq!(streams.get(stream.id).await.unwrap().unwrap().seq, 2);
                assert_eq!(broadcasts.broadcast(stream.id).await.unwrap().outputs, vec![output]);
            }

            #[tokio::test]
            async fn a_stream_has_at_most_the_output_limit_and_a_removal_frees_a_place() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                for n in 0..MAX_OUTPUTS {
                    broadcasts
                        .write_broadcast(stream.id, put(&restream(&format!("o{n}")), None, true), ctx())
                        .await
                        .unwrap();
                }

                let over = broadcasts
                    .write_broadcast(stream.id, put(&restream("over"), None, true), ctx())
                    .await;
                let removal = BroadcastWrite {
                    record: BroadcastRecord::Output { id: OutputId::new("o0").unwrap(), output: None },
                    expected: Some(1),
                    event: Some((EventType::OutputRemoved, serde_json::json!({ "outputId": "o0" }))),
                    require_active: false,
                };
                broadcasts.write_broadcast(stream.id, removal, ctx()).await.unwrap();
                let after = broadcasts
                    .write_broadcast(stream.id, put(&restream("over"), None, true), ctx())
                    .await;

                assert_eq!(over, Err(BroadcastWriteError::TooManyOutputs));
                assert!(after.is_ok(), "{after:?}");
                assert_eq!(broadcasts.broadcast(stream.id).await.unwrap().outputs.len(), MAX_OUTPUTS);
            }

            #[tokio::test]
            async fn a_stopped_stream_takes_reports_but_no_new_outputs() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                let output = restream("restream");
                broadcasts
                    .write_broadcast(stream.id, put(&output, None, true), ctx())
                    .await
                    .unwrap();
                streams.apply(stream.id, Change::BeginStop, ctx()).await.unwrap();
                streams.apply(stream.id, Change::FinishStop, ctx()).await.unwrap();

                let added = broadcasts
                    .write_broadcast(stream.id, put(&restream("late"), None, true), ctx())
                    .await;
                let completed = Output { observed: Observed::Complete, revision: 2, ..output };
                let reported = broadcasts
                    .write_broadcast(stream.id, put(&completed, Some(1), false), ctx())
                    .await;

                assert!(matches!(added, Err(BroadcastWriteError::NotActive(_))), "{added:?}");
                assert!(reported.is_ok(), "{reported:?}");
                let missing = broadcasts
                    .write_broadcast(StreamId::from_uuid(Uuid::new_v4()), put(&restream("x"), None, false), ctx())
                    .await;
                assert_eq!(missing, Err(BroadcastWriteError::NotFound));
            }

            #[tokio::test]
            async fn an_ingest_is_set_replaced_and_removed_under_its_revision() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                let write = |record: Option<Ingest>, expected| BroadcastWrite {
                    record: BroadcastRecord::Ingest(record),
                    expected,
                    event: Some((EventType::IngestUpdated, serde_json::json!({}))),
                    require_active: false,
                };

                let (first, second) = (ingest(1), ingest(2));

                broadcasts.write_broadcast(stream.id, write(Some(first.clone()), None), ctx()).await.unwrap();
                let read = broadcasts.broadcast(stream.id).await.unwrap().ingest;
                broadcasts.write_broadcast(stream.id, write(Some(second), Some(1)), ctx()).await.unwrap();
                let stale = broadcasts.write_broadcast(stream.id, write(None, Some(1)), ctx()).await;
                broadcasts.write_broadcast(stream.id, write(None, Some(2)), ctx()).await.unwrap();

                assert_eq!(read, Some(first), "the key read back whole");
                assert_eq!(stale, Err(BroadcastWriteError::Conflict));
                assert_eq!(broadcasts.broadcast(stream.id).await.unwrap().ingest, None);
                assert_eq!(streams.get(stream.id).await.unwrap().unwrap().seq, 4);
            }

            #[tokio::test]
            async fn the_live_mark_is_set_once_without_an_event() {
                let (streams, broadcasts, _guard) = $make;
                let stream = active_stream(&streams).await;
                let live = || BroadcastWrite {
                    record: BroadcastRecord::Live,
                    expected: None,
                    event: None,
                    require_active: true,
                };

                let first = broadcasts.write_broadcast(stream.id, live(), ctx()).await;
                let second = broadcasts.write_broadcast(stream.id, live(), ctx()).await;

                assert_eq!(first, Ok(None));
                assert_eq!(second, Err(BroadcastWriteError::Conflict));
                assert!(broadcasts.broadcast(stream.id).await.unwrap().live);
                assert_eq!(streams.get(stream.id).await.unwrap().unwrap().seq, 1);
            }

            #[tokio::test]
            async fn of_many_concurrent_claims_of_one_output_exactly_one_wins() {
                let (streams, broadcasts, _guard) = $make;
                let broadcasts = Arc::new(broadcasts);
                let stream = active_stream(&streams).await;
                let output = restream("restream");
                broadcasts
                    .write_broadcast(stream.id, put(&output, None, true), ctx())
                    .await
                    .unwrap();

                let claims: Vec<_> = (0..24)
                    .map(|_| {
                        let (broadcasts, id) = (broadcasts.clone(), stream.id);
                        tokio::spawn(async move {
                            let state = broadcasts.broadcast(id).await.unwrap();
                            let current = state.outputs[0].clone();
                            let decision = current
                                .decide(&OutputCommand::WentLive, SystemClock.now())
                                .unwrap();
                            let Some(mut claimed) = decision.output else {
                                return false;
                            };
                            claimed.revision = current.revision + 1;
                            broadcasts
                                .write_broadcast(id, put(&claimed, Some(current.revision), true), ctx())
                                .await
                                .is_ok()
                        })
                    })
                    .collect();
                let mut winners = 0;
                for claim in claims {
                    winners += usize::from(claim.await.unwrap());
                }

                assert_eq!(winners, 1);
                let state = broadcasts.broadcast(stream.id).await.unwrap();
                assert_eq!((state.outputs[0].observed, state.outputs[0].attempts), (Observed::Starting, 1));
                assert_eq!(streams.get(stream.id).await.unwrap().unwrap().seq, 3);
            }
        }
    };
}
