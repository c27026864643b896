//! Compiles the public contract `proto/streams.proto` into a gRPC client with protox (pure Rust,
//! no system `protoc`). The harness compiles it itself rather than borrowing the server crate's
//! code: it is a black-box client and depends on nothing but the wire contract.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto = proto_dir.join("streams.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let descriptors = protox::compile([&proto], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(descriptors)?;
    Ok(())
}
