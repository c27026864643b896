//! The API key goes on every REST call, on the WebSocket handshake (or as a ticket) and on
//! every gRPC call.

use orchestrator::Settings;
use orchestrator_client::proto::GetStreamRequest;
use orchestrator_client::{Client, ClientError, CreateStream, SubscribeOptions, Update, WsAuth};
use orchestrator_domain::policy::access::{KeyEntry, Scope};
use orchestrator_tests::{spawn_app_with, TestApp};

use super::{seqs, until_end, until_error};

const WRITER: &str = "lso_writer-key-of-the-client-tests";
const READER: &str = "lso_reader-key-of-the-client-tests";

async fn app_with_keys() -> TestApp {
    let mut settings = Settings::for_tests();
    settings.auth.api_keys = vec![
        KeyEntry::for_key(WRITER, Scope::Write).to_string(),
        KeyEntry::for_key(READER, Scope::Read).to_string(),
    ];
    spawn_app_with(settings).await
}

fn client(app: &TestApp, key: Option<&str>, ws_auth: WsAuth) -> Client {
    let builder = Client::builder(&app.base)
        .grpc_url(format!("http://{}", app.grpc_addr))
        .ws_auth(ws_auth);
    match key {
        Some(key) => builder.api_key(key),
        None => builder,
    }
    .build()
    .unwrap()
}

#[tokio::test]
async fn a_writer_key_changes_a_reader_key_reads_and_no_key_is_unauthorized() {
    let app = app_with_keys().await;
    let (writer, reader, nobody) = (
        client(&app, Some(WRITER), WsAuth::Header),
        client(&app, Some(READER), WsAuth::Header),
        client(&app, None, WsAuth::Header),
    );

    let created = writer
        .create_stream(&CreateStream::default())
        .await
        .unwrap();
    let read = reader.stream(&created.id).await.unwrap();
    let refused = reader
        .create_stream(&CreateStream::default())
        .await
        .unwrap_err();
    let anonymous = nobody.stream(&created.id).await.unwrap_err();

    assert_eq!(read.id, created.id);
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(403), Some("forbidden"))
    );
    assert_eq!(
        (anonymous.status(), anonymous.code()),
        (Some(401), Some("unauthorized"))
    );
}

#[tokio::test]
async fn subscriptions_present_the_key_on_the_handshake_or_as_a_ticket() {
    let app = app_with_keys().await;
    let writer = client(&app, Some(WRITER), WsAuth::Header);
    let id = writer
        .create_stream(&CreateStream::default())
        .await
        .unwrap()
        .id;
    writer.stop_stream(&id).await.unwrap();

    let by_header = until_end(writer.subscribe_with(&id, SubscribeOptions::after(0))).await;
    let by_ticket = until_end(
        client(&app, Some(READER), WsAuth::Ticket).subscribe_with(&id, SubscribeOptions::after(0)),
    )
    .await;
    let (_, refused) = until_error(
        client(&app, None, WsAuth::Header).subscribe_with(&id, SubscribeOptions::after(0)),
    )
    .await;

    assert_eq!(seqs(&by_header), [1, 2, 3], "created, stopping, stopped");
    assert_eq!(seqs(&by_ticket), [1, 2, 3]);
    assert!(matches!(by_ticket.last(), Some(Update::Event(_))));
    assert!(
        matches!(&refused, ClientError::Api(api) if api.status == 401 && api.code == "unauthorized"),
        "{refused}"
    );
}

#[tokio::test]
async fn grpc_calls_carry_the_key() {
    let app = app_with_keys().await;
    let writer = client(&app, Some(WRITER), WsAuth::Header);
    let id = writer
        .create_stream(&CreateStream::default())
        .await
        .unwrap()
        .id;
    let request = || GetStreamRequest {
        stream_id: id.clone(),
    };

    let read = writer.grpc().unwrap().get_stream(request()).await.unwrap();
    let refused = client(&app, None, WsAuth::Header)
        .grpc()
        .unwrap()
        .get_stream(request())
        .await
        .unwrap_err();

    assert_eq!(read.into_inner().id, id);
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
