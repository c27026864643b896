//! Generates a gRPC client from `fixtures/original_streams.proto` (the original product's
//! contract) the way a client of the original product generates one, so the API suite can check
//! that such a client works against this service unchanged.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let original = fixtures.join("original_streams.proto");
    println!("cargo:rerun-if-changed={}", original.display());
    let descriptors = protox::compile([&original], [&fixtures])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?).join("original");
    std::fs::create_dir_all(&out_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .out_dir(out_dir)
        .compile_fds(descriptors)?;
    Ok(())
}
