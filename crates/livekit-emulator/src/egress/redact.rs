//! Redaction as LiveKit does it: stream keys in URLs and upload credentials never leave
//! the emulator in results, echoed requests or error messages.

use livekit_protocol as proto;

/// `rtmp(s)://host(/path)/app/key( live=1)` with the key shortened to `{abc...xyz}`, or
/// `None` when the URL has no app and key.
pub(crate) fn redact_rtmp(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (body, live) = match rest.strip_suffix(" live=1") {
        Some(body) => (body, " live=1"),
        None => (rest, ""),
    };
    let (path, key) = body.rsplit_once('/')?;
    if !path.contains('/') || key.chars().any(char::is_whitespace) {
        return None;
    }
    Some(format!(
        "{scheme}://{path}/{}{live}",
        redact_identifier(key)
    ))
}

/// LiveKit's redaction: the first and last few characters of a secret, never all of it.
fn redact_identifier(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let keep = (1..=3).rev().find(|i| chars.len() >= i * 3).unwrap_or(0);
    let prefix: String = chars.iter().take(keep).collect();
    let suffix: String = chars.iter().skip(chars.len() - keep).collect();
    format!("{{{prefix}...{suffix}}}")
}

/// A URL for results, messages and logs: an RTMP key redacted, query values (where SRT
/// and others carry keys) hidden, and the whole path of an RTMP URL whose key cannot be
/// told apart.
pub(crate) fn redacted(url: &str) -> String {
    if let Some(redacted) = redact_rtmp(url) {
        return redacted;
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "{...}".to_owned();
    };
    if matches!(scheme.to_ascii_lowercase().as_str(), "rtmp" | "rtmps") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        return format!("{scheme}://{authority}/{{...}}");
    }
    match url.split_once('?') {
        Some((base, query)) => {
            let hidden: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, value)) if !value.is_empty() => format!("{name}={{...}}"),
                    Some(_) | None => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", hidden.join("&"))
        }
        None => url.to_owned(),
    }
}

/// Hides upload credentials, as LiveKit does in the request it echoes.
macro_rules! redact_upload {
    ($output:expr, $module:ident) => {{
        use proto::$module::Output;
        match $output.as_mut() {
            Some(Output::S3(s3)) => {
                redact_field(&mut s3.access_key, "{access_key}");
                redact_field(&mut s3.secret, "{secret}");
                redact_field(&mut s3.session_token, "{session_token}");
                redact_field(&mut s3.assume_role_external_id, "{external_id}");
            }
            Some(Output::Gcp(gcp)) => redact_field(&mut gcp.credentials, "{credentials}"),
            Some(Output::Azure(azure)) => {
                redact_field(&mut azure.account_name, "{account_name}");
                redact_field(&mut azure.account_key, "{account_key}");
            }
            Some(Output::AliOss(ali)) => {
                redact_field(&mut ali.access_key, "{access_key}");
                redact_field(&mut ali.secret, "{secret}");
            }
            None => {}
        }
    }};
}

pub(crate) fn redact_file(file: &mut proto::EncodedFileOutput) {
    redact_upload!(file.output, encoded_file_output);
}

pub(crate) fn redact_segments(segments: &mut proto::SegmentedFileOutput) {
    redact_upload!(segments.output, segmented_file_output);
}

pub(crate) fn redact_images(images: &mut proto::ImageOutput) {
    redact_upload!(images.output, image_output);
}

/// Stream URLs of an echoed request, keys redacted.
pub(crate) fn redact_stream(stream: &mut proto::StreamOutput) {
    for url in &mut stream.urls {
        *url = redacted(url);
    }
}

fn redact_field(field: &mut String, placeholder: &str) {
    if !field.is_empty() {
        placeholder.clone_into(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_keys_are_redacted_like_livekit() {
        assert_eq!(
            redact_rtmp("rtmp://live.example.com/app/abcdefghijkl").as_deref(),
            Some("rtmp://live.example.com/app/{abc...jkl}")
        );
        assert_eq!(
            redact_rtmp("rtmps://h:443/a/b/key1 live=1").as_deref(),
            Some("rtmps://h:443/a/b/{k...1} live=1")
        );
        assert_eq!(redact_rtmp("rtmp://host-only"), None);
    }

    #[test]
    fn other_urls_hide_their_query_values_and_bad_rtmp_urls_their_path() {
        assert_eq!(
            redacted("srt://h:9000?streamid=publish:key&latency=200"),
            "srt://h:9000?streamid={...}&latency={...}"
        );
        assert_eq!(redacted("rtmp://host/secretkey"), "rtmp://host/{...}");
    }
}
