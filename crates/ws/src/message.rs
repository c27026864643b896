//! What a client may send, and the one parser of it. Pure (no connection, no I/O), so the
//! protocol's hardest input, arbitrary text from the network, can be fuzzed on its own
//! (`fuzz/fuzz_targets/ws_message.rs`).

use serde::Deserialize;

/// A client → server message (a JSON text frame).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    /// Follow a stream, optionally from a position (and the store epoch it belongs to).
    Subscribe {
        /// The stream, as the client sent it (validated by the use case).
        stream_id: String,
        /// Events after this seq are replayed first.
        #[serde(default)]
        after_seq: Option<u64>,
        /// The epoch `after_seq` belongs to.
        #[serde(default)]
        epoch: Option<String>,
        /// Fold viewers' joins and leaves into one audience update per interval.
        #[serde(default)]
        audience_interval_ms: Option<u64>,
    },
    /// Stop following a stream.
    Unsubscribe {
        /// The stream, as the client sent it.
        stream_id: String,
    },
    /// Answered with `pong`.
    Ping,
}

/// Parses one text frame.
///
/// # Errors
/// The frame is not a JSON object, or not one of the [`ClientMessage`]s (answered
/// `invalid_message`).
pub fn parse(text: &str) -> Result<ClientMessage, serde_json::Error> {
    // serde's derived enums also accept the sequence form (`["subscribe","s"]`); the protocol
    // is objects only, and a JSON value's first character says what it is.
    let first = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first();
    if first != Some(&b'{') {
        return Err(serde::de::Error::custom("a message is a JSON object"));
    }
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_of_the_protocol_parses() {
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientMessage::Ping);
        assert_eq!(
            parse(r#"{"type":"subscribe","streamId":"s","afterSeq":3,"epoch":"e","audienceIntervalMs":50}"#)
                .unwrap(),
            ClientMessage::Subscribe {
                stream_id: "s".into(),
                after_seq: Some(3),
                epoch: Some("e".into()),
                audience_interval_ms: Some(50),
            }
        );
        assert_eq!(
            parse(r#"{"type":"unsubscribe","streamId":"s"}"#).unwrap(),
            ClientMessage::Unsubscribe {
                stream_id: "s".into()
            }
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for junk in [
            "",
            "null",
            "{}",
            r#"{"type":"SUBSCRIBE","streamId":"s"}"#,
            r#"{"type":"subscribe"}"#,
            r#"{"type":"subscribe","streamId":"s","afterSeq":-1}"#,
            r#"{"type":"subscribe","streamId":"\ud800"}"#,
            r#"{"type":"ping"} trailing"#,
            r#"["subscribe","s"]"#,
            "[\r\r  \"subscribe\",\r\t \"subscribe\"]\r",
            r#"["unsubscribe","s"]"#,
            r#"["ping"]"#,
        ] {
            assert!(parse(junk).is_err(), "{junk}");
        }
    }
}
