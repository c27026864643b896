//! The cases, by family. The families and numbers are the Autobahn TestSuite's (read for what
//! each case sends; none of its code is used); what each case expects is RFC 6455's for this
//! server, which is not an echo server: a text message gets the protocol's answer (an `error`
//! for text that is not one of its messages, `pong` for `{"type":"ping"}`), binary frames are
//! refused with 1003 and messages over `realtime.max_message_bytes` with 1009.
//!
//! Cases are built group by group ([`GROUPS`]) and dropped once run: the large-message family
//! sends about 150 MB in all.

mod close;
mod fragmentation;
mod framing;
mod limits;
mod opcodes;
mod pings;
mod project;
mod reserved;
mod utf8;

use crate::script::Case;

/// `{"type":"ping"}`: a text message this server answers with `pong`.
pub const PING_MESSAGE: &[u8] = br#"{"type":"ping"}"#;

/// Every group of cases, in report order.
pub const GROUPS: &[fn() -> Vec<Case>] = &[
    framing::cases,
    pings::cases,
    reserved::cases,
    opcodes::cases,
    fragmentation::cases,
    utf8::cases,
    utf8::vectors,
    close::cases,
    limits::text_messages,
    limits::binary_messages,
    limits::fragmented_text,
    limits::fragmented_binary,
    limits::chopped_text,
    limits::chopped_binary,
    limits::round_trips,
    limits::misc,
    project::cases,
];
