//! A backend on the orchestrator: creates a stream, hands out join tokens (a host and a
//! viewer, as it would to its own users' browsers), and follows the stream's events until it
//! stops, resuming by itself if the connection drops.
//!
//! ```text
//! cargo run -p orchestrator                                  # one terminal: the service
//! cargo run -p orchestrator-client --example backend         # another: this backend
//! cargo run -p orchestrator-client --example backend -- --stop-after 5
//! ```
//!
//! `ORCHESTRATOR_URL` (default `http://localhost:3000`) and `ORCHESTRATOR_API_KEY` (when the
//! service has keys) say where and who. Without `--stop-after`, it follows until the stream is
//! stopped (`curl -X DELETE localhost:3000/streams/<id>`, printed at start).
//! `tests/api/client/example.rs` runs it against a real orchestrator.

use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_client::{
    Client, ClientError, CreateStream, Event, Join, SubscribeOptions, Update, UpdateStream,
};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let url = std::env::var("ORCHESTRATOR_URL").unwrap_or_else(|_| "http://localhost:3000".into());
    let mut builder = Client::builder(&url);
    if let Ok(key) = std::env::var("ORCHESTRATOR_API_KEY") {
        builder = builder.api_key(key);
    }
    let client = builder.build()?;
    let seen = run(&client, stop_after()).await?;
    println!("the stream stopped ({} events)", seen.len());
    Ok(())
}

/// Creates the stream, hands out the tokens and follows it until it stops (after `stop_after`
/// when given); the events it saw, in order.
pub async fn run(client: &Client, stop_after: Option<Duration>) -> Result<Vec<Event>, ClientError> {
    let title = json!({"title": "Launch day"});
    let request = CreateStream::default().with_metadata(object(title));
    let stream = client.create_stream(&request).await?;
    println!("stream {} (room {})", stream.id, stream.room_name);

    // From the stream's first event on: nothing is missed while the tokens are handed out.
    let mut events = client.subscribe_with(&stream.id, SubscribeOptions::after(0));

    for join in [Join::host("stage-host"), Join::viewer("viewer-1")] {
        let token = client.join(&stream.id, &join).await?;
        println!(
            "{} token for {} at {}: {}…",
            token.role,
            token.participant_name,
            token.ws_url,
            token.token.chars().take(24).collect::<String>()
        );
    }
    let live = UpdateStream::metadata(object(json!({"title": "Launch day (live)"})));
    client.update_stream(&stream.id, &live).await?;

    match stop_after {
        Some(after) => {
            let (client, id) = (client.clone(), stream.id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if let Err(err) = client.stop_stream(&id).await {
                    eprintln!("stopping failed: {err}");
                }
            });
        }
        None => println!(
            "stop it with: curl -X DELETE {}/streams/{}",
            client.base_url(),
            stream.id
        ),
    }

    let mut seen = Vec::new();
    while let Some(update) = events.next().await {
        match update? {
            Update::Event(event) => {
                println!("#{:<3} {:<20} {}", event.seq, event.kind, event.data);
                seen.push(event);
            }
            Update::ResyncRequired(resync) => println!("resync required: {}", resync.message),
        }
    }
    println!("{} reconnects", events.reconnects());
    Ok(seen)
}

/// `--stop-after <seconds>`: the backend stops the stream itself.
fn stop_after() -> Option<Duration> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == "--stop-after")?;
    let secs = args.get(at + 1)?.parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// A JSON object literal as metadata.
fn object(value: serde_json::Value) -> orchestrator_client::Metadata {
    value.as_object().cloned().unwrap_or_default()
}
