//! The participant contract: records keyed by (stream, identity) beside counters that always
//! equal what the records say; each change one atomic step that no contention can make fail;
//! no join on a stopped stream; stream changes racing a crowd of joins neither lost nor blocked;
//! seq gapless.

/// Holds a store to the participant contract: `participant_store_contract!(<expression
/// yielding (store, guard)>)`.
#[macro_export]
macro_rules! participant_store_contract {
    ($make:expr) => {
        mod participants {
            use std::sync::Arc;

            // The store-making expression may name helpers of the invoking file.
            #[allow(unused_imports)]
            use super::*;

            use orchestrator_domain::ports::{Clock, SystemClock};
            use orchestrator_domain::ports::{
                ApplyError, EventLog, ListError, ParticipantQuery, StreamRepository,
            };
            use orchestrator_domain::{
                audience::Audience, change::Change, change::ChangeContext, values::Cursor, event::EventType, values::Identity, values::Metadata,
                participant::Participant, membership::ParticipantChange, participant::Role, values::RoomName, stream::Stream, values::StreamId, stream::StreamStatus,
                change::TransitionError,
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
                let room = format!("crowd-{}", Uuid::new_v4().simple());
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

            fn identity(name: &str) -> Identity {
                Identity::new(name).unwrap()
            }

            fn join_as(name: &str, role: Role) -> ParticipantChange {
                ParticipantChange::Join {
                    participant_id: Uuid::new_v4(),
                    identity: identity(name),
                    role,
                    metadata: None,
                }
            }

            fn join(name: &str) -> ParticipantChange {
                join_as(name, Role::Viewer)
            }

            fn leave(name: &str) -> ParticipantChange {
                ParticipantChange::Leave {
                    identity: identity(name),
                }
            }

            fn query(active_only: bool, after: Option<Cursor>, limit: usize) -> ParticipantQuery {
                ParticipantQuery {
                    active_only,
                    after,
                    limit,
                }
            }

            /// Every record of the stream, paging `page` at a time.
            async fn all<S: StreamRepository>(
                store: &S,
                id: StreamId,
                active_only: bool,
                page: usize,
            ) -> Vec<Participant> {
                let mut found = Vec::new();
                let mut after = None;
                for _ in 0..10_000 {
                    let result = store
                        .participants(id, query(active_only, after, page))
                        .await
                        .unwrap();
                    assert!(result.items.len() <= page, "a page holds at most its limit");
                    found.extend(result.items);
                    match result.next {
                        Some(next) => after = Some(next),
                        None => return found,
                    }
                }
                panic!("paging did not terminate");
            }

            async fn seqs<S: EventLog>(store: &S, id: StreamId) -> Vec<u64> {
                let mut seqs = Vec::new();
                loop {
                    let after = seqs.last().copied().unwrap_or(0);
                    let page = store.read_after(id, after, 1000).await.unwrap();
                    if page.is_empty() {
                        return seqs;
                    }
                    seqs.extend(page.iter().map(|e| e.seq));
                }
            }

            fn gapless(seqs: &[u64]) -> bool {
                seqs.iter().copied().eq(1..=seqs.len() as u64)
            }

            /// The counters the records imply.
            fn counted(records: &[Participant]) -> Audience {
                let present: Vec<&Participant> =
                    records.iter().filter(|p| p.is_active()).collect();
                let hosts = present.iter().filter(|p| p.role == Role::Host).count() as u64;
                let connected = present.iter().filter(|p| p.sid.is_some()).count() as u64;
                Audience {
                    active: present.len() as u64,
                    hosts,
                    viewers: present.len() as u64 - hosts,
                    connected,
                    total_joined: records.len() as u64,
                }
            }

            #[tokio::test]
            async fn a_join_is_a_record_the_counters_and_one_numbered_event() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;

                let host = store
                    .apply_participant(stream.id, join_as("ada", Role::Host), ctx())
                    .await
                    .unwrap();
                let viewer = store.apply_participant(stream.id, join("bob"), ctx()).await.unwrap();

                let expected = Audience {
                    active: 2,
                    hosts: 1,
                    viewers: 1,
                    connected: 0,
                    total_joined: 2,
                };
                assert_eq!(viewer.audience, expected);
                let event = viewer.event.clone().unwrap();
                assert_eq!((event.kind, event.seq), (EventType::ParticipantJoined, 3));
                assert_eq!(event.data["audience"]["viewers"], 1);
                assert_eq!(host.participant.unwrap().role, Role::Host);
                let stored = store.get(stream.id).await.unwrap().unwrap();
                assert_eq!((stored.audience, stored.seq), (expected, 3));
                assert_eq!(stored.version, 1, "participants do not bump the stream's version");
                let bob = store.participant(stream.id, &identity("bob")).await.unwrap();
                assert_eq!(bob, viewer.participant);
            }

            #[tokio::test]
            async fn the_log_holds_exactly_the_event_the_change_reported() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;
                let metadata =
                    Metadata::from_value("metadata", serde_json::json!({"seat": [1, {}], "x": []}))
                        .unwrap();
                let change = ParticipantChange::Join {
                    participant_id: Uuid::new_v4(),
                    identity: identity("Zoë \"the\" / host"),
                    role: Role::Host,
                    metadata: Some(metadata.clone()),
                };

                let joined = store.apply_participant(stream.id, change, ctx()).await.unwrap();
                let left = store
                    .apply_participant(stream.id, leave("Zoë \"the\" / host"), ctx())
                    .await
                    .unwrap();

                let log = store.read_after(stream.id, 1, 10).await.unwrap();
                assert_eq!(log, vec![joined.event.unwrap(), left.event.unwrap()]);
                let record = left.participant.unwrap();
                assert_eq!(record.metadata, metadata, "metadata kept byte for byte");
                assert!(record.left_at.is_some());
            }

            #[tokio::test]
            async fn joining_while_present_and_leaving_twice_change_nothing() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;
                store.apply_participant(stream.id, join("ada"), ctx()).await.unwrap();

                let again = store.apply_participant(stream.id, join("ada"), ctx()).await.unwrap();
                let left = store.apply_participant(stream.id, leave("ada"), ctx()).await.unwrap();
                let twice = store.apply_participant(stream.id, leave("ada"), ctx()).await.unwrap();

                assert_eq!(again.event, None);
                assert_eq!(left.event.unwrap().kind, EventType::ParticipantLeft);
                assert_eq!(twice.event, None);
                assert_eq!(twice.audience.active, 0);
                assert_eq!(seqs(&store, stream.id).await, [1, 2, 3]);
            }

            #[tokio::test]
            async fn refused_changes_store_nothing() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;

                let stranger = store.apply_participant(stream.id, leave("ghost"), ctx()).await;
                let unknown = store
                    .apply_participant(StreamId::from_uuid(Uuid::new_v4()), join("ada"), ctx())
                    .await;
                store.apply(stream.id, Change::BeginStop, ctx()).await.unwrap();
                let late = store.apply_participant(stream.id, join("ada"), ctx()).await;

                assert_eq!(
                    stranger,
                    Err(ApplyError::Rejected(TransitionError::ParticipantNotFound(identity(
                        "ghost"
                    ))))
                );
                assert_eq!(unknown, Err(ApplyError::NotFound));
                assert_eq!(
                    late,
                    Err(ApplyError::Rejected(TransitionError::NotActive(
                        StreamStatus::Stopping
                    )))
                );
                assert_eq!(store.participant(stream.id, &identity("ada")).await.unwrap(), None);
                assert_eq!(seqs(&store, stream.id).await, [1, 2]);
            }

            #[tokio::test]
            async fn participants_page_in_order_of_first_join_and_filter_present_ones() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;
                for name in ["a", "b", "c", "d", "e"] {
                    store.apply_participant(stream.id, join(name), ctx()).await.unwrap();
                }
                for name in ["b", "d"] {
                    store.apply_participant(stream.id, leave(name), ctx()).await.unwrap();
                }
                store.apply_participant(stream.id, join("b"), ctx()).await.unwrap();

                let names = |records: Vec<Participant>| -> Vec<String> {
                    records.iter().map(|p| p.identity.to_string()).collect()
                };
                assert_eq!(
                    names(all(&store, stream.id, false, 2).await),
                    ["a", "b", "c", "d", "e"]
                );
                assert_eq!(names(all(&store, stream.id, true, 2).await), ["a", "b", "c", "e"]);
                let empty = store
                    .participants(StreamId::from_uuid(Uuid::new_v4()), query(false, None, 10))
                    .await
                    .unwrap();
                assert!(empty.items.is_empty() && empty.next.is_none());
            }

            #[tokio::test]
            async fn a_participant_cursor_from_elsewhere_is_refused() {
                let (store, _guard) = $make;
                let stream = active_stream(&store).await;
                for bad in ["", "p", "px", "42", "m1", "r1"] {
                    let result = store
                        .participants(stream.id, query(false, Some(Cursor::new(bad)), 1))
                        .await;
                    assert_eq!(result, Err(ListError::InvalidCursor), "{bad:?}");
                }
            }

            #[tokio::test]
            async fn concurrent_joins_of_distinct_identities_are_all_recorded() {
                let (store, _guard) = $make;
                let store = Arc::new(store);
                let stream = active_stream(&*store).await;

                let joins: Vec<_> = (0..200)
                    .map(|n| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            store.apply_participant(stream.id, join(&format!("v{n}")), ctx()).await
                        })
                    })
                    .collect();
                for handle in joins {
                    assert!(handle.await.unwrap().unwrap().event.is_some());
                }

                let records = all(&*store, stream.id, false, 64).await;
                assert_eq!(records.len(), 200);
                let stored = store.get(stream.id).await.unwrap().unwrap();
                assert_eq!(stored.audience, counted(&records));
                let log = seqs(&*store, stream.id).await;
                assert_eq!(log.len(), 201);
                assert!(gapless(&log));
            }

            #[tokio::test]
            async fn concurrent_joins_of_one_identity_make_one_participant_and_one_event() {
                let (store, _guard) = $make;
                let store = Arc::new(store);
                let stream = active_stream(&*store).await;

                let joins: Vec<_> = (0..100)
                    .map(|_| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            store.apply_participant(stream.id, join("ada"), ctx()).await
                        })
                    })
                    .collect();
                let mut events = 0;
                for handle in joins {
                    if handle.await.unwrap().unwrap().event.is_some() {
                        events += 1;
                    }
                }

                assert_eq!(events, 1);
                assert_eq!(all(&*store, stream.id, false, 10).await.len(), 1);
                assert_eq!(seqs(&*store, stream.id).await, [1, 2]);
            }

            #[tokio::test]
            async fn a_join_racing_a_stop_never_leaves_anyone_present_on_the_stopped_stream() {
                let (store, _guard) = $make;
                let store = Arc::new(store);
                let stream = active_stream(&*store).await;

                let joins: Vec<_> = (0..100)
                    .map(|n| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            store.apply_participant(stream.id, join(&format!("v{n}")), ctx()).await
                        })
                    })
                    .collect();
                let begun = store.apply(stream.id, Change::BeginStop, ctx()).await.unwrap();
                let stopped = store.apply(stream.id, Change::FinishStop, ctx()).await.unwrap();
                let stop_seq = begun.event.unwrap().seq;
                for handle in joins {
                    match handle.await.unwrap() {
                        Ok(applied) => assert!(applied.event.unwrap().seq < stop_seq),
                        Err(ApplyError::Rejected(TransitionError::NotActive(_))) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }

                let stored = store.get(stream.id).await.unwrap().unwrap();
                assert_eq!(stored.status, StreamStatus::Stopped);
                assert_eq!(stored.audience.active, 0);
                assert_eq!(stored.audience.hosts + stored.audience.viewers, 0);
                let records = all(&*store, stream.id, false, 50).await;
                assert_eq!(stored.audience.total_joined, records.len() as u64);
                assert!(stopped.stream.is_stopped());
                assert!(gapless(&seqs(&*store, stream.id).await));
            }

            #[tokio::test]
            async fn counters_always_equal_what_the_records_say() {
                let (store, _guard) = $make;
                let store = Arc::new(store);
                let stream = active_stream(&*store).await;

                let changes: Vec<_> = (0..300)
                    .map(|n| {
                        let store = store.clone();
                        let name = format!("p{}", n % 40);
                        let change = match n % 6 {
                            0 | 3 => leave(&name),
                            1 => join_as(&name, Role::Host),
                            5 => ParticipantChange::MediaJoined {
                                participant_id: Uuid::new_v4(),
                                identity: identity(&name),
                                sid: format!("PA_{n}"),
                                role: Role::Viewer,
                                reported_at: None,
                            },
                            _ => join(&name),
                        };
                        tokio::spawn(async move {
                            store.apply_participant(stream.id, change, ctx()).await
                        })
                    })
                    .collect();
                for handle in changes {
                    match handle.await.unwrap() {
                        Ok(_) | Err(ApplyError::Rejected(TransitionError::ParticipantNotFound(_))) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }

                let records = all(&*store, stream.id, false, 7).await;
                let stored = store.get(stream.id).await.unwrap().unwrap();
                assert_eq!(stored.audience, counted(&records));
                let present = all(&*store, stream.id, true, 7).await;
                assert_eq!(present.len() as u64, stored.audience.active);
                assert!(gapless(&seqs(&*store, stream.id).await));
            }

            #[tokio::test]
            async fn stream_changes_racing_a_crowd_of_joins_are_neither_lost_nor_refused() {
                let (store, _guard) = $make;
                let store = Arc::new(store);
                let stream = active_stream(&*store).await;

                let joins: Vec<_> = (0..300)
                    .map(|n| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            store.apply_participant(stream.id, join(&format!("v{n}")), ctx()).await
                        })
                    })
                    .collect();
                for n in 0..20 {
                    let title = Metadata::from_value("metadata", serde_json::json!({ "n": n }))
                        .unwrap();
                    let update = Change::Update {
                        status: None,
                        metadata: Some(title),
                        expected: None,
                    };
                    store.apply(stream.id, update, ctx()).await.unwrap();
                }
                for handle in joins {
                    handle.await.unwrap().unwrap();
                }

                let stored = store.get(stream.id).await.unwrap().unwrap();
                assert_eq!(stored.version, 21, "every update landed");
                assert_eq!(stored.metadata.as_map()["n"], 19);
                assert_eq!(stored.audience.active, 300);
                let log = seqs(&*store, stream.id).await;
                assert_eq!(log.len(), 1 + 300 + 20);
                assert!(gapless(&log));
            }
        }
    };
}
