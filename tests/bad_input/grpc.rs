//! gRPC: requests with invalid fields get a client-error status (INVALID_ARGUMENT,
//! NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE), never INTERNAL,
//! UNKNOWN or UNAVAILABLE, and change nothing — also when a string field is not UTF-8.

use orchestrator_grpc::proto::{
    CreateStreamRequest, GetStreamRequest, GetStreamStateRequest, JoinStreamRequest,
    LeaveStreamRequest, ListParticipantsRequest, ListStreamsRequest, ParticipantRole,
    StopStreamRequest, StreamStatus, SubscribeRequest, UpdateStreamRequest,
};
use orchestrator_tests::GrpcClient;
use proptest::prelude::*;
use proptest::sample::select;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as StructValue};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Code;

use crate::inputs::{any_text, invalid_id, invalid_identity, invalid_room_name};
use crate::{runner, Target};

/// Codes that say "your request is wrong", each with a meaning a client can act on.
const CLIENT_ERRORS: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
];

/// One call with invalid input.
#[derive(Debug, Clone)]
enum Call {
    Get(GetStreamRequest),
    State(GetStreamStateRequest),
    Stop(StopStreamRequest),
    Create(CreateStreamRequest),
    Update(UpdateStreamRequest),
    Join(JoinStreamRequest),
    Leave(LeaveStreamRequest),
    List(ListStreamsRequest),
    Participants(ListParticipantsRequest),
    Subscribe(SubscribeRequest),
}

fn value(kind: Kind) -> StructValue {
    StructValue { kind: Some(kind) }
}

fn object(key: &str, inner: StructValue) -> Struct {
    Struct {
        fields: [(key.to_owned(), inner)].into_iter().collect(),
    }
}

/// `levels` Structs nested in each other.
fn nested_struct(levels: usize) -> Struct {
    let mut inner = value(Kind::NumberValue(1.0));
    for _ in 1..levels {
        inner = value(Kind::StructValue(object("d", inner)));
    }
    object("d", inner)
}

/// Metadata no request may carry: too big, numbers JSON or JavaScript cannot hold. (Too deep
/// is not decodable at all — each level is a Struct, a map entry and a Value, and protobuf
/// decoding stops at 100 — see the next property.)
fn invalid_struct() -> impl Strategy<Value = Struct> {
    prop_oneof![
        (16_400usize..40_000).prop_map(|n| object("blob", value(Kind::StringValue("x".repeat(n))))),
        select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            1e16
        ])
        .prop_map(|n| object("n", value(Kind::NumberValue(n)))),
        Just(object(
            "list",
            value(Kind::ListValue(ListValue {
                values: vec![value(Kind::NumberValue(f64::NAN))],
            }))
        )),
    ]
}

fn invalid_call(witness: String) -> impl Strategy<Value = Call> {
    let id = move || Just(witness.clone());
    prop_oneof![
        invalid_id().prop_map(|stream_id| Call::Get(GetStreamRequest { stream_id })),
        invalid_id().prop_map(|stream_id| Call::State(GetStreamStateRequest { stream_id })),
        invalid_id().prop_map(|stream_id| Call::Stop(StopStreamRequest { stream_id })),
        // Empty asks for the default room name (room-<id>) on gRPC.
        invalid_room_name()
            .prop_filter("not empty", |name| !name.is_empty())
            .prop_map(|room_name| Call::Create(CreateStreamRequest {
                room_name,
                ..CreateStreamRequest::default()
            })),
        Just(Call::Create(CreateStreamRequest {
            room_name: "witness".into(),
            ..CreateStreamRequest::default()
        })),
        invalid_struct().prop_map(|metadata| Call::Create(CreateStreamRequest {
            metadata: Some(metadata),
            ..CreateStreamRequest::default()
        })),
        (id(), invalid_struct()).prop_map(|(stream_id, metadata)| Call::Update(
            UpdateStreamRequest {
                stream_id,
                metadata: Some(metadata),
                ..UpdateStreamRequest::default()
            }
        )),
        (id(), select(vec![0u64, 2, 99, u64::MAX])).prop_map(|(stream_id, version)| {
            Call::Update(UpdateStreamRequest {
                stream_id,
                version: Some(version),
                metadata: Some(object("late", value(Kind::BoolValue(true)))),
                ..UpdateStreamRequest::default()
            })
        }),
        id().prop_map(|stream_id| Call::Update(UpdateStreamRequest {
            stream_id,
            status: StreamStatus::Creating.into(),
            ..UpdateStreamRequest::default()
        })),
        invalid_id().prop_map(|stream_id| Call::Update(UpdateStreamRequest {
            stream_id,
            metadata: Some(object("k", value(Kind::NumberValue(1.0)))),
            ..UpdateStreamRequest::default()
        })),
        (id(), invalid_identity()).prop_map(|(stream_id, identity)| Call::Join(
            JoinStreamRequest {
                stream_id,
                identity,
                ..JoinStreamRequest::default()
            }
        )),
        (id(), 3i32..1000).prop_map(|(stream_id, role)| Call::Join(JoinStreamRequest {
            stream_id,
            identity: "bob".into(),
            role,
            metadata: None,
        })),
        (id(), invalid_struct()).prop_map(|(stream_id, metadata)| Call::Join(JoinStreamRequest {
            stream_id,
            identity: "bob".into(),
            role: ParticipantRole::Host.into(),
            metadata: Some(metadata),
        })),
        invalid_id().prop_map(|stream_id| Call::Join(JoinStreamRequest {
            stream_id,
            identity: "bob".into(),
            ..JoinStreamRequest::default()
        })),
        (
            id(),
            prop_oneof![invalid_identity(), "[b-z]{1,12}".prop_map(String::from)]
        )
            .prop_map(|(stream_id, identity)| Call::Leave(LeaveStreamRequest {
                stream_id,
                identity,
            })),
        (1001u32..=u32::MAX, any_text()).prop_map(|(limit, cursor)| Call::List(
            ListStreamsRequest {
                status: 0,
                limit,
                cursor,
            }
        )),
        (id(), 1001u32..=u32::MAX).prop_map(|(stream_id, limit)| Call::Participants(
            ListParticipantsRequest {
                stream_id,
                limit,
                ..ListParticipantsRequest::default()
            }
        )),
        invalid_id().prop_map(|stream_id| Call::Participants(ListParticipantsRequest {
            stream_id,
            ..ListParticipantsRequest::default()
        })),
        invalid_id().prop_map(|stream_id| Call::Subscribe(SubscribeRequest {
            stream_id,
            ..SubscribeRequest::default()
        })),
        (id(), prop_oneof![0u32..50, 60_001u32..=u32::MAX]).prop_map(|(stream_id, ms)| {
            Call::Subscribe(SubscribeRequest {
                stream_id,
                audience_interval_ms: Some(ms),
                ..SubscribeRequest::default()
            })
        }),
    ]
}

/// The status the call failed with (`Ok` is a failure of the property).
async fn call(client: &mut GrpcClient, call: Call) -> Result<(), tonic::Status> {
    match call {
        Call::Get(r) => client.get_stream(r).await.map(drop),
        Call::State(r) => client.get_stream_state(r).await.map(drop),
        Call::Stop(r) => client.stop_stream(r).await.map(drop),
        Call::Create(r) => client.create_stream(r).await.map(drop),
        Call::Update(r) => client.update_stream(r).await.map(drop),
        Call::Join(r) => client.join_stream(r).await.map(drop),
        Call::Leave(r) => client.leave_stream(r).await.map(drop),
        Call::List(r) => client.list_streams(r).await.map(drop),
        Call::Participants(r) => client.list_participants(r).await.map(drop),
        Call::Subscribe(r) => {
            let mut events = client.subscribe(r).await?.into_inner();
            let first = tokio::time::timeout(std::time::Duration::from_secs(5), events.message())
                .await
                .map_err(|_| tonic::Status::deadline_exceeded("no answer within 5 s"))?;
            first.map(drop)
        }
    }
}

fn assert_client_error(outcome: Result<(), tonic::Status>) -> Result<(), TestCaseError> {
    let Err(status) = outcome else {
        return Err(TestCaseError::fail("an invalid request succeeded"));
    };
    prop_assert!(
        CLIENT_ERRORS.contains(&status.code()),
        "a client error, not {:?}: {}",
        status.code(),
        status.message().chars().take(300).collect::<String>()
    );
    prop_assert!(
        status.message().len() < 1_000,
        "the message does not echo the input back: {} bytes",
        status.message().len()
    );
    Ok(())
}

#[test]
fn requests_with_invalid_fields_get_a_client_error_status_and_change_nothing() {
    let target = Target::new();
    let client = target.runtime.block_on(target.app.grpc());
    runner()
        .run(&invalid_call(target.witness.clone()), |request| {
            target.unchanged(|| {
                let mut client = client.clone();
                let outcome = target.runtime.block_on(call(&mut client, request));
                assert_client_error(outcome)
            })
        })
        .unwrap();
}

/// A request whose string fields travel as raw bytes, so they can be invalid UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    #[prost(bytes = "vec", tag = "1")]
    first: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    second: Vec<u8>,
}

/// Byte strings that are not UTF-8.
fn not_utf8() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..40),
        select(vec![0x80u8, 0xC0, 0xFF, 0xED]),
    )
        .prop_map(|(mut bytes, bad)| {
            bytes.push(bad);
            bytes
        })
        .prop_filter("not UTF-8", |bytes| std::str::from_utf8(bytes).is_err())
}

#[test]
fn metadata_nested_beyond_the_limit_is_invalid_argument() {
    let target = Target::new();
    let client = target.runtime.block_on(target.app.grpc());
    let witness = target.witness.clone();
    let calls = (33usize..2_000, 0..3).prop_map(move |(levels, which)| {
        let metadata = Some(nested_struct(levels));
        match which {
            0 => Call::Create(CreateStreamRequest {
                metadata,
                ..CreateStreamRequest::default()
            }),
            1 => Call::Update(UpdateStreamRequest {
                stream_id: witness.clone(),
                metadata,
                ..UpdateStreamRequest::default()
            }),
            _ => Call::Join(JoinStreamRequest {
                stream_id: witness.clone(),
                identity: "bob".into(),
                role: 0,
                metadata,
            }),
        }
    });
    runner()
        .run(&calls, |request| {
            target.unchanged(|| {
                let mut client = client.clone();
                let outcome = target.runtime.block_on(call(&mut client, request));
                let Err(status) = outcome else {
                    return Err(TestCaseError::fail("an invalid request succeeded"));
                };
                prop_assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn string_fields_that_are_not_utf8_are_invalid_argument() {
    let target = Target::new();
    let channel = target.runtime.block_on(target.app.grpc_channel());
    let methods = select(vec![
        "GetStream",
        "GetStreamState",
        "StopStream",
        "CreateStream",
        "JoinStream",
        "LeaveStream",
    ]);
    runner()
        .run(
            &(methods, not_utf8(), any::<bool>()),
            |(method, bytes, first)| {
                // Only joins and leaves have a second string field (tag 2).
                let first = first || !matches!(method, "JoinStream" | "LeaveStream");
                let request = if first {
                    RawRequest {
                        first: bytes,
                        second: b"bob".to_vec(),
                    }
                } else {
                    RawRequest {
                        first: target.witness.as_bytes().to_vec(),
                        second: bytes,
                    }
                };
                target.unchanged(|| {
                    let status = target.runtime.block_on(async {
                        let mut grpc = tonic::client::Grpc::new(channel.clone());
                        grpc.ready().await.unwrap();
                        let path = PathAndQuery::try_from(format!(
                            "/livestream.orchestrator.v1.StreamService/{method}"
                        ))
                        .unwrap();
                        let codec = tonic_prost::ProstCodec::<RawRequest, RawRequest>::default();
                        grpc.unary(tonic::Request::new(request), path, codec)
                            .await
                            .map(drop)
                    });
                    let Err(status) = status else {
                        return Err(TestCaseError::fail("a request that is not UTF-8 succeeded"));
                    };
                    prop_assert_eq!(
                        status.code(),
                        Code::InvalidArgument,
                        "{} with invalid UTF-8: {}",
                        method,
                        status.message()
                    );
                    Ok(())
                })
            },
        )
        .unwrap();
}
