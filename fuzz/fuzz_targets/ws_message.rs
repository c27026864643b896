//! Any text a WebSocket client sends: `parse` answers a message or an error and never panics,
//! and whatever it accepts is a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Text frames are UTF-8 (the socket reader refuses others before the parser sees them).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if orchestrator_ws::parse(text).is_ok() {
        let value: serde_json::Value = serde_json::from_str(text).expect("accepted means JSON");
        assert!(value.is_object(), "accepted a non-object: {text}");
    }
});
