//! LiveKit webhooks from anyone: the verifier refuses what is not signed with our secret and
//! never panics; a body signed correctly (as LiveKit would sign it) is never refused for its
//! signature, and whatever it decodes to translates into a domain event without panicking.
//!
//! The first byte picks the mode: even, the rest is `<Authorization>\n<body>` as an attacker
//! sends it; odd, the rest is a body this target signs itself, to reach the JSON decoding.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use livekit_api::access_token::AccessToken;
use orchestrator_livekit::{SignedWebhooks, WebhookError};
use sha2::{Digest, Sha256};

const KEY: &str = "fuzz-key";
const SECRET: &str = "a-fuzzing-secret-of-at-least-32-chars";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let verifier = SignedWebhooks::new(KEY, SECRET);
    if mode % 2 == 0 {
        let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let (header, body) = rest.split_at(split);
        let header = String::from_utf8_lossy(header);
        if let Ok(verified) = verifier.verify(body, Some(&header)) {
            let _ = verified.media_event();
        }
        return;
    }
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(rest));
    let token = AccessToken::with_api_key(KEY, SECRET)
        .with_sha256(&digest)
        .to_jwt()
        .expect("signing");
    match verifier.verify(rest, Some(&token)) {
        Ok(verified) => {
            let _ = verified.media_event();
        }
        Err(WebhookError::Malformed(_)) => {}
        Err(
            err @ (WebhookError::MissingSignature
            | WebhookError::InvalidToken(_)
            | WebhookError::DigestMismatch),
        ) => panic!("a correctly signed body was refused: {err}"),
    }
});
