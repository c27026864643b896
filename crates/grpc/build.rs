//! Compiles proto/streams.proto with protox (pure Rust, no system `protoc`) and hands the
//! descriptors to tonic-prost-build; also keeps the encoded descriptor set for reflection.
//!
//! Two passes: the messages and the client as usual, then the server alone, with every message
//! taken from the first pass except `StreamEvent`, which the server streams as
//! `crate::EncodedEvent` (bytes encoded once per event, shared by every subscriber), and
//! decoding requests with `crate::decode::RequestCodec`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto = proto_dir.join("streams.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("streams_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(descriptors.clone())?;
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // Requests that do not decode are INVALID_ARGUMENT, not INTERNAL (src/decode.rs).
        .codec_path("crate::decode::RequestCodec")
        .out_dir(&server_dir)
        .extern_path(".livestream.orchestrator.v1", "crate::proto")
        .extern_path(
            ".livestream.orchestrator.v1.StreamEvent",
            "crate::EncodedEvent",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
