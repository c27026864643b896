//! Generators of hostile input. Every value they produce is invalid by construction for the
//! place it is meant for, so "refused" is always the right answer.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

/// Characters that hide, reorder or terminate text: bidi overrides and isolates, zero-width
/// characters, the BOM, NUL and other controls, line and paragraph separators.
pub const SNEAKY: &[char] = &[
    '\u{202E}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{0000}', '\u{0007}', '\u{001B}',
    '\u{007F}', '\u{0085}', '\u{2028}', '\u{2029}', '\n', '\t',
];

/// Ordinary text with one sneaky character somewhere in it.
pub fn with_sneaky_char() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9 ]{0,12}", select(SNEAKY), "[a-zA-Z0-9 ]{0,12}")
        .prop_map(|(before, sneaky, after)| format!("{before}{sneaky}{after}"))
}

/// Any text at all, from plain to hostile: sneaky characters, other scripts, emoji, combining
/// marks, long runs.
pub fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        with_sneaky_char(),
        "[\u{0300}-\u{036F}\u{0590}-\u{05FF}\u{1F600}-\u{1F64F}]{1,20}",
        (1usize..3000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Not a participant identity: blank, too long, or with a control or invisible character.
pub fn invalid_identity() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ \t]{1,5}",
        (129usize..2000).prop_map(|n| "n".repeat(n)),
        with_sneaky_char().prop_filter("a sneaky char that makes it invalid", |s| s
            .chars()
            .any(|c| c.is_control() || SNEAKY.contains(&c))),
    ]
}

/// Not a room name: empty, too long, or outside `[A-Za-z0-9_.-]`.
pub fn invalid_room_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (129usize..1000).prop_map(|n| "r".repeat(n)),
        any_text().prop_filter("a character outside the charset", |s| s
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))),
    ]
}

/// `levels` objects nested in each other.
pub fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..levels {
        value = json!({ "d": value });
    }
    value
}

/// Not acceptable metadata: not an object, too deep, too big, or holding numbers a JavaScript
/// client cannot read exactly.
pub fn invalid_metadata() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!([])),
        Just(json!("title")),
        Just(json!(42)),
        Just(json!(true)),
        (33usize..120).prop_map(nested),
        (16_400usize..40_000).prop_map(|n| json!({ "blob": "x".repeat(n) })),
        (9_007_199_254_740_993u64..=u64::MAX).prop_map(|n| json!({ "n": n })),
        prop_oneof![Just(1e300), Just(-1e300), Just(1e16)].prop_map(|n| json!({ "n": [n] })),
    ]
}

/// Bytes that are not one JSON value (truncated, invalid escapes, invalid UTF-8, trailing
/// garbage, JavaScript-only literals), or that no JSON parser reads into a value: lone
/// surrogates, nesting past any parser's limit.
pub fn malformed_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        select(vec![
            r#"{"roomName": "#,
            r#"{"metadata": {"a": 1}"#,
            r#"{"metadata": {"a": "\ud800"}}"#,
            r#"{"metadata": {"participantName": "\udc00x"}}"#,
            r#"{"metadata": {"t": "\ud83d"}}"#,
            r#"{"metadata": {"t": "\x41"}}"#,
            r#"{"a": NaN}"#,
            r#"{"a": Infinity}"#,
            r#"{"a": 1} {"b": 2}"#,
            r#"{'single': 'quotes'}"#,
            "{\"a\": 1, // comment\n}",
            r#"{"metadata": 01}"#,
            r#"{"metadata": {"n": 1e999999}}"#,
            "\u{FEFF}{}",
            "{\"metadata\":{\"t\":\"\u{0001}\"}}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..200).prop_filter("not JSON", |bytes| {
            serde_json::from_slice::<Value>(bytes).is_err()
        }),
        (200usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        (200usize..5000).prop_map(|n| {
            let deep = format!("{}1{}", "{\"d\":".repeat(n), "}".repeat(n));
            format!("{{\"metadata\": {deep}}}").into_bytes()
        }),
        Just(b"{\"metadata\": {\"t\": \"\xff\xfe\"}}".to_vec()),
        Just(b"{\"metadata\": {\"\xc0\": 1}}".to_vec()),
    ]
}

/// A body that is JSON but not an object.
pub fn json_non_object() -> impl Strategy<Value = Vec<u8>> {
    select(vec!["[]", "null", "\"stream\"", "42", "true", "[{}]"])
        .prop_map(|s| s.as_bytes().to_vec())
}

/// A JSON value of a type no field of the API takes where `field` expects `expected`.
pub fn wrong_type_for(expected: &'static str) -> impl Strategy<Value = Value> {
    let all = vec![
        ("string", json!("text")),
        ("number", json!(7)),
        ("negative", json!(-1)),
        ("float", json!(1.5)),
        ("bool", json!(true)),
        ("array", json!(["a"])),
        ("object", json!({"a": 1})),
    ];
    let wrong: Vec<Value> = all
        .into_iter()
        .filter(|(kind, _)| match expected {
            "string" => *kind != "string",
            "u64" => !matches!(*kind, "number"),
            _ => true,
        })
        .map(|(_, value)| value)
        .collect();
    select(wrong)
}

/// Not a stream id, as it would appear in a URL path (already percent-encoded where needed).
pub fn invalid_id_in_path() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.~-]{1,60}",
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
        Just("8c0e3e1a-1b2c-4d5e-8f90-123456789abc".to_owned()),
        Just("8c0e3e1a-1b2c-4d5e-8f90-123456789abcx".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%00".to_owned()),
        Just("%E2%80%AEevil".to_owned()),
        Just("%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned()),
        (1000usize..6000).prop_map(|n| "z".repeat(n)),
    ]
}

/// Not a stream id, as a JSON or protobuf string: also raw unicode.
pub fn invalid_id() -> impl Strategy<Value = String> {
    prop_oneof![
        invalid_id_in_path(),
        any_text(),
        Just(String::new()),
        Just("\u{0000}".to_owned()),
    ]
}

/// Not a `limit`: not a number, zero, negative, beyond 1000, or absurdly large.
pub fn invalid_limit() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("lots".to_owned()),
        Just("1.5".to_owned()),
        Just("99999999999999999999999".to_owned()),
        (1001u64..100_000).prop_map(|n| n.to_string()),
        Just("%FF".to_owned()),
        Just("".to_owned()),
    ]
}

/// Not a stream status.
pub fn invalid_status() -> impl Strategy<Value = String> {
    any_text().prop_filter("not a status", |s| {
        !matches!(
            s.as_str(),
            "creating" | "active" | "stopping" | "stopped" | "error"
        )
    })
}

/// JSON objects whose only fault hides in a field no request has: invalid UTF-8, a lone
/// surrogate, a number no parser holds, nesting past any parser's limit. A parser that skips
/// unknown fields without reading them would take these as `{}`.
pub fn invalid_json_in_an_unknown_field() -> impl Strategy<Value = Vec<u8>> {
    let fault = prop_oneof![
        Just(b"\"\xff\xfe\"".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"1e999999".to_vec()),
        (200usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
    ];
    fault.prop_map(|fault| [b"{\"unknownField\": ".as_slice(), &fault, b"}"].concat())
}
