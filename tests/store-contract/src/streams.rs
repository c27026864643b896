//! The stream contract: `StreamRepository` and `EventLog` for streams themselves (participants
//! have their own contract, `participant_store_contract!`).

/// Holds a store to the stream contract: `stream_store_contract!(<expression yielding
/// (store, guard)>)`.
#[macro_export]
macro_rules! stream_store_contract {
    ($make:expr) => {
        use orchestrator_domain::ports::{Clock, SystemClock};
        use orchestrator_domain::ports::{
            ApplyError, EventLog, InsertError, ListError, ListQuery, StreamRepository,
        };
        use orchestrator_domain::{
            change::Change, change::ChangeContext, values::Cursor, event::EventType, change::ExpectedVersion, values::Metadata, values::RoomName, stream::Stream,
            event::StreamEvent, values::StreamId, stream::StreamStatus,
        };
        use futures_util::StreamExt;
        use uuid::Uuid;

        fn ctx() -> ChangeContext {
            ChangeContext {
                event_id: Uuid::new_v4(),
                at: SystemClock.now(),
                instance_id: "contract".into(),
            }
        }

        fn new_stream(room: &str) -> (Stream, StreamEvent) {
            let id = StreamId::from_uuid(Uuid::new_v4());
            let mut stream = Stream::new_active(
                id,
                RoomName::new(room).unwrap(),
                None,
                Metadata::default(),
                SystemClock.now(),
            );
            let event = stream.record_creation(&ctx());
            (stream, event)
        }

        /// A room name no other test (or test run on a shared Redis) uses.
        fn room(label: &str) -> String {
            format!("{label}-{}", Uuid::new_v4().simple())
        }

        async fn inserted<S: StreamRepository>(store: &S, label: &str) -> Stream {
            let (stream, event) = new_stream(&room(label));
            store.insert(stream.clone(), event).await.unwrap();
            stream
        }

        /// A metadata update: a stream-level change that records one event per new value.
        fn retitle(title: &str) -> Change {
            Change::Update {
                status: None,
                metadata: Some(
                    Metadata::from_value("metadata", serde_json::json!({ "title": title }))
                        .unwrap(),
                ),
                expected: None,
            }
        }

        fn query(limit: usize) -> ListQuery {
            ListQuery {
                status: None,
                after: None,
                limit,
            }
        }

        async fn seqs<S: EventLog>(store: &S, id: StreamId, after: u64) -> Vec<u64> {
            store
                .read_after(id, after, 1000)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        }

        #[tokio::test]
        async fn an_inserted_stream_reads_back_and_is_found_by_room() {
            let (store, _guard) = $make;
            let stream = inserted(&store, "studio").await;

            assert_eq!(store.get(stream.id).await.unwrap(), Some(stream.clone()));
            let by_room = store.find_live_by_room(&stream.room_name).await.unwrap();
            assert_eq!(by_room.map(|s| s.id), Some(stream.id));
            assert_eq!(store.get(StreamId::from_uuid(Uuid::new_v4())).await.unwrap(), None);
            let unused = RoomName::new(room("unused")).unwrap();
            assert_eq!(store.find_live_by_room(&unused).await.unwrap(), None);
        }

        #[tokio::test]
        async fn a_room_name_is_unique_among_streams_that_are_not_stopped() {
            let (store, _guard) = $make;
            let name = room("studio");
            let (first, first_event) = new_stream(&name);
            store.insert(first.clone(), first_event).await.unwrap();
            let (second, event) = new_stream(&name);

            assert_eq!(
                store.insert(second.clone(), event.clone()).await,
                Err(InsertError::RoomNameTaken(second.room_name.clone()))
            );
            assert_eq!(store.get(second.id).await.unwrap(), None, "nothing stored");

            store.apply(first.id, Change::BeginStop, ctx()).await.unwrap();
            store.apply(first.id, Change::FinishStop, ctx()).await.unwrap();
            assert_eq!(store.find_live_by_room(&first.room_name).await.unwrap(), None);
            store.insert(second.clone(), event).await.unwrap();
            let live = store.find_live_by_room(&second.room_name).await.unwrap();
            assert_eq!(live.map(|s| s.id), Some(second.id));
        }

        #[tokio::test]
        async fn a_stopped_stream_stays_its_rooms_latest_until_another_uses_the_room() {
            let (store, _guard) = $make;
            let name = room("studio");
            let (first, first_event) = new_stream(&name);
            store.insert(first.clone(), first_event).await.unwrap();
            store.apply(first.id, Change::BeginStop, ctx()).await.unwrap();
            store.apply(first.id, Change::FinishStop, ctx()).await.unwrap();

            let latest = store.find_latest_by_room(&first.room_name).await.unwrap();
            let (second, event) = new_stream(&name);
            store.insert(second.clone(), event).await.unwrap();
            let after = store.find_latest_by_room(&first.room_name).await.unwrap();

            assert_eq!(latest.map(|s| (s.id, s.is_stopped())), Some((first.id, true)));
            assert_eq!(after.map(|s| s.id), Some(second.id));
            let unused = RoomName::new(room("unused")).unwrap();
            assert_eq!(store.find_latest_by_room(&unused).await.unwrap(), None);
        }

        #[tokio::test]
        async fn inserting_the_same_id_twice_is_refused() {
            let (store, _guard) = $make;
            let (stream, event) = new_stream(&room("studio"));
            store.insert(stream.clone(), event.clone()).await.unwrap();
            let mut renamed = stream.clone();
            renamed.room_name = RoomName::new(room("other")).unwrap();
            let mut other_event = event.clone();
            other_event.id = Uuid::new_v4();

            assert_eq!(
                store.insert(renamed.clone(), other_event).await,
                Err(InsertError::DuplicateId(stream.id))
            );
            assert_eq!(
                store.find_live_by_room(&renamed.room_name).await.unwrap(),
                None,
                "the failed insert released its room"
            );
        }

        #[tokio::test]
        async fn changes_are_stored_with_gapless_events_and_no_ops_store_nothing() {
            let (store, _guard) = $make;
            let stream = inserted(&store, "studio").await;

            let titled = store.apply(stream.id, retitle("a"), ctx()).await.unwrap();
            let again = store.apply(stream.id, retitle("a"), ctx()).await.unwrap();
            let stopping = store.apply(stream.id, Change::BeginStop, ctx()).await.unwrap();

            assert_eq!(titled.event.unwrap().seq, 2);
            assert_eq!(again.event, None);
            assert_eq!(stopping.event.as_ref().unwrap().seq, 3);
            let log = store.read_after(stream.id, 0, 100).await.unwrap();
            let kinds: Vec<EventType> = log.iter().map(|e| e.kind).collect();
            assert_eq!(seqs(&store, stream.id, 0).await, [1, 2, 3]);
            assert_eq!(
                kinds,
                [EventType::StreamCreated, EventType::StreamUpdated, EventType::StreamUpdated]
            );
            assert_eq!(log[2], stopping.event.unwrap(), "the log holds the exact event");
            let stored = store.get(stream.id).await.unwrap().unwrap();
            assert_eq!((stored.seq, stored.version), (3, 3));
            assert_eq!(stored, stopping.stream);
        }

        #[tokio::test]
        async fn a_refused_change_stores_nothing() {
            let (store, _guard) = $make;
            let stream = inserted(&store, "studio").await;
            let refused = Change::Update {
                status: Some(StreamStatus::Creating),
                metadata: None,
                expected: None,
            };
            let stale = Change::Update {
                status: Some(StreamStatus::Error),
                metadata: None,
                expected: Some(ExpectedVersion::Body(9)),
            };

            assert!(matches!(
                store.apply(stream.id, refused, ctx()).await,
                Err(ApplyError::Rejected(_))
            ));
            assert!(matches!(
                store.apply(stream.id, stale, ctx()).await,
                Err(ApplyError::Rejected(_))
            ));
            assert_eq!(store.get(stream.id).await.unwrap(), Some(stream.clone()));
            assert_eq!(seqs(&store, stream.id, 0).await, [1]);
        }

        #[tokio::test]
        async fn applying_to_an_unknown_stream_is_not_found() {
            let (store, _guard) = $make;
            let err = store
                .apply(StreamId::from_uuid(Uuid::new_v4()), Change::BeginStop, ctx())
                .await
                .unwrap_err();
            assert_eq!(err, ApplyError::NotFound);
        }

        #[tokio::test]
        async fn applying_the_same_change_context_twice_records_it_once() {
            let (store, _guard) = $make;
            let stream = inserted(&store, "studio").await;
            let context = ctx();

            let first = store.apply(stream.id, retitle("a"), context.clone()).await.unwrap();
            let replay = store.apply(stream.id, retitle("a"), context).await.unwrap();

            assert!(first.event.is_some());
            assert_eq!(replay.event, None);
            assert_eq!(seqs(&store, stream.id, 0).await, [1, 2]);
        }

        #[tokio::test]
        async fn listing_pages_through_every_stream_in_creation_order() {
            let (store, _guard) = $make;
            let mut created = Vec::new();
            for _ in 0..7 {
                created.push(inserted(&store, "page").await.id);
                // Distinct creation instants keep the expected order unambiguous.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }

            let mut seen = Vec::new();
            let mut page = store.list(query(3)).await.unwrap();
            let mut pages = 1;
            loop {
                seen.extend(page.items.iter().map(|s| s.id));
                let Some(next) = page.next else { break };
                page = store
                    .list(ListQuery {
                        after: Some(next),
                        ..query(3)
                    })
                    .await
                    .unwrap();
                pages += 1;
                assert!(pages < 100, "pagination terminates");
            }

            let ours: Vec<StreamId> = seen.into_iter().filter(|id| created.contains(id)).collect();
            assert_eq!(ours, created);
        }

        #[tokio::test]
        async fn listing_filters_by_status() {
            let (store, _guard) = $make;
            let live = inserted(&store, "live").await;
            let stopping = inserted(&store, "gone").await;
            store.apply(stopping.id, Change::BeginStop, ctx()).await.unwrap();

            let mut found = Vec::new();
            let mut after = None;
            for _ in 0..100 {
                let page = store
                    .list(ListQuery {
                        status: Some(StreamStatus::Stopping),
                        after,
                        limit: 1000,
                    })
                    .await
                    .unwrap();
                assert!(page.items.iter().all(|s| s.status == StreamStatus::Stopping));
                found.extend(page.items.iter().map(|s| s.id));
                after = page.next;
                if after.is_none() {
                    break;
                }
            }

            assert!(found.contains(&stopping.id));
            assert!(!found.contains(&live.id));
        }

        #[tokio::test]
        async fn a_cursor_from_elsewhere_is_refused() {
            let (store, _guard) = $make;
            for bad in ["", "m", "mx", "42", "r1", "rabc:def"] {
                let result = store
                    .list(ListQuery {
                        after: Some(Cursor::new(bad)),
                        ..query(1)
                    })
                    .await;
                assert_eq!(result, Err(ListError::InvalidCursor), "{bad:?}");
            }
        }

        #[tokio::test]
        async fn reading_after_a_seq_returns_only_later_events_up_to_the_limit() {
            let (store, _guard) = $make;
            let stream = inserted(&store, "studio").await;
            for n in 0..5 {
                store.apply(stream.id, retitle(&format!("t{n}")), ctx()).await.unwrap();
            }

            let after_two: Vec<u64> = store
                .read_after(stream.id, 2, 2)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();

            assert_eq!(after_two, [3, 4]);
            assert!(store.read_after(stream.id, 6, 10).await.unwrap().is_empty());
            let unknown = StreamId::from_uuid(Uuid::new_v4());
            assert!(store.read_after(unknown, 0, 10).await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn subscribers_receive_every_later_event_in_order() {
            let (store, _guard) = $make;
            let mut feed = store.subscribe();
            let stream = inserted(&store, "studio").await;
            store.apply(stream.id, retitle("a"), ctx()).await.unwrap();
            store.apply(stream.id, retitle("a"), ctx()).await.unwrap();
            store.apply(stream.id, Change::BeginStop, ctx()).await.unwrap();

            let mut received = Vec::new();
            while received.len() < 3 {
                let event = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
                    .await
                    .expect("event within 5 s")
                    .expect("feed open");
                // A shared Redis may carry other tests' events too.
                if event.stream_id == stream.id {
                    received.push(event.seq);
                }
            }

            assert_eq!(received, [1, 2, 3]);
        }

        #[tokio::test]
        async fn concurrent_updates_with_the_same_expected_version_let_exactly_one_through() {
            let (store, _guard) = $make;
            let store = std::sync::Arc::new(store);
            let stream = inserted(&*store, "studio").await;

            let updates: Vec<_> = (0..50)
                .map(|n| {
                    let store = store.clone();
                    let change = Change::Update {
                        status: None,
                        metadata: Some(
                            Metadata::from_value("metadata", serde_json::json!({ "n": n }))
                                .unwrap(),
                        ),
                        expected: Some(ExpectedVersion::Body(1)),
                    };
                    tokio::spawn(async move { store.apply(stream.id, change, ctx()).await })
                })
                .collect();
            let mut succeeded = 0;
            for handle in updates {
                match handle.await.unwrap() {
                    Ok(_) => succeeded += 1,
                    Err(ApplyError::Rejected(_)) => {}
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }

            assert_eq!(succeeded, 1);
            assert_eq!(seqs(&*store, stream.id, 0).await, [1, 2]);
        }

        #[tokio::test]
        async fn epochs_are_stable_while_the_data_lives() {
            let (store, _guard) = $make;
            assert_eq!(store.epoch().await.unwrap(), store.epoch().await.unwrap());
            store.ping().await.unwrap();
        }
    };
}
