//! The floor under `GET /streams/:id` on this machine: the least an HTTP server on the
//! service's own stack (actix-web, fred on a client per worker thread) can spend per request.
//!
//! `get-floor static ADDR` answers every GET with a fixed 548-byte JSON body (the size of the
//! service's answer for a stream without participants); `get-floor redis ADDR REDIS_URL PREFIX`
//! reads the stream's hash with the service's own `HMGET` and answers its stored document as
//! is: no routing by regex, no keys, CORS, request ids, access log, metrics, decoding or
//! encoding. What these cost per request, beside the service's GET and `redis-benchmark`
//! in one run, is in BENCHMARKS.md.

use actix_web::{web, App, HttpResponse, HttpServer};
use fred::prelude::{Builder, Client, ClientLike, Config, HashesInterface};

const FIELDS: [&str; 7] = ["doc", "seq", "active", "hosts", "viewers", "connected", "total"];

struct Target {
    client: Client,
    prefix: String,
}

async fn fixed() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(&[b'x'; 548][..])
}

async fn stored(target: web::Data<Target>, id: web::Path<String>) -> HttpResponse {
    let key = format!("{}{{{id}}}:stream", target.prefix);
    match target
        .client
        .hmget::<Vec<Option<String>>, _, _>(key, FIELDS.to_vec())
        .await
    {
        Ok(fields) => match fields.into_iter().next().flatten() {
            Some(doc) => HttpResponse::Ok().content_type("application/json").body(doc),
            None => HttpResponse::NotFound().finish(),
        },
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// A client served by the runtime of the worker thread that builds it.
fn worker_client(url: &str) -> Client {
    let client = Builder::from_config(Config::from_url(url).expect("a Redis URL"))
        .build()
        .expect("a client");
    let init = client.clone();
    actix_web::rt::spawn(async move { init.init().await.expect("Redis answers") });
    client
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(2).cloned().unwrap_or_else(|| "127.0.0.1:8090".into());
    match args.get(1).map(String::as_str) {
        Some("static") => {
            HttpServer::new(|| App::new().route("/streams/{id}", web::get().to(fixed)))
                .workers(2)
                .bind(addr)?
                .run()
                .await
        }
        Some("redis") => {
            let url = args.get(3).cloned().expect("REDIS_URL");
            let prefix = args.get(4).cloned().unwrap_or_else(|| "lso:".into());
            HttpServer::new(move || {
                let target = Target {
                    client: worker_client(&url),
                    prefix: prefix.clone(),
                };
                App::new()
                    .app_data(web::Data::new(target))
                    .route("/streams/{id}", web::get().to(stored))
            })
            .workers(2)
            .bind(addr)?
            .run()
            .await
        }
        _ => {
            eprintln!("usage: get-floor static ADDR | get-floor redis ADDR REDIS_URL [PREFIX]");
            std::process::exit(2);
        }
    }
}
