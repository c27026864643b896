//! The egress start requests the emulator serves, behind one type: which room they record,
//! what they output, and the redacted copy LiveKit echoes in `EgressInfo.request`.

use livekit_protocol as proto;

use super::outputs::{Legacy, RawOutputs};
use super::redact::{redact_file, redact_images, redact_segments, redact_stream};
use crate::EmulatorError;

/// One of the Start*Egress requests.
#[derive(Debug, Clone)]
pub(crate) enum StartRequest {
    RoomComposite(proto::RoomCompositeEgressRequest),
    Web(proto::WebEgressRequest),
    Participant(proto::ParticipantEgressRequest),
    TrackComposite(proto::TrackCompositeEgressRequest),
}

/// The deprecated single output of a request, as a [`Legacy`] output.
macro_rules! legacy {
    ($output:expr, $module:ident) => {
        $output.clone().map(|output| match output {
            proto::$module::Output::File(file) => Legacy::File(file),
            proto::$module::Output::Stream(stream) => Legacy::Stream(stream),
            proto::$module::Output::Segments(segments) => Legacy::Segments(segments),
        })
    };
}

/// Redacts the deprecated single output of a request in place.
macro_rules! redact_legacy {
    ($output:expr, $module:ident) => {
        match $output.as_mut() {
            Some(proto::$module::Output::File(file)) => redact_file(file),
            Some(proto::$module::Output::Stream(stream)) => redact_stream(stream),
            Some(proto::$module::Output::Segments(segments)) => redact_segments(segments),
            None => {}
        }
    };
}

/// The v2 output lists of a request, redacted in place.
macro_rules! redact_lists {
    ($req:expr) => {{
        $req.file_outputs.iter_mut().for_each(redact_file);
        $req.stream_outputs.iter_mut().for_each(redact_stream);
        $req.segment_outputs.iter_mut().for_each(redact_segments);
        $req.image_outputs.iter_mut().for_each(redact_images);
    }};
}

/// The v2 output lists of a request.
macro_rules! lists {
    ($req:expr, $legacy:expr) => {
        RawOutputs {
            files: $req.file_outputs.clone(),
            streams: $req.stream_outputs.clone(),
            segments: $req.segment_outputs.clone(),
            images: $req.image_outputs.clone(),
            legacy: $legacy,
        }
    };
}

impl StartRequest {
    /// The room the egress records; empty for a web egress, which records a page.
    pub fn room_name(&self) -> &str {
        match self {
            Self::RoomComposite(r) => &r.room_name,
            Self::Web(_) => "",
            Self::Participant(r) => &r.room_name,
            Self::TrackComposite(r) => &r.room_name,
        }
    }

    /// The request-level checks LiveKit's egress service makes before looking at outputs.
    pub fn check(&self) -> Result<(), EmulatorError> {
        match self {
            Self::RoomComposite(r) if r.audio_only && r.video_only => {
                Err(missing("audio_only and video_only"))
            }
            Self::Web(r) if r.audio_only && r.video_only => {
                Err(missing("audio_only and video_only"))
            }
            Self::Web(r) if !is_http(&r.url) => Err(missing("url")),
            Self::Participant(r) if r.identity.is_empty() => Err(missing("identity")),
            Self::TrackComposite(r)
                if r.audio_track_id.is_empty() && r.video_track_id.is_empty() =>
            {
                Err(missing("track_id"))
            }
            Self::RoomComposite(_)
            | Self::Web(_)
            | Self::Participant(_)
            | Self::TrackComposite(_) => Ok(()),
        }
    }

    /// Whether the recording has no video (audio files default to ogg).
    pub fn audio_only(&self) -> bool {
        match self {
            Self::RoomComposite(r) => r.audio_only,
            Self::Web(r) => r.audio_only,
            Self::Participant(_) => false,
            Self::TrackComposite(r) => r.video_track_id.is_empty(),
        }
    }

    /// Web pages are recorded by a browser; the others by LiveKit's SDK pipeline.
    pub fn source_type(&self) -> proto::EgressSourceType {
        match self {
            Self::RoomComposite(_) | Self::Web(_) => proto::EgressSourceType::Web,
            Self::Participant(_) | Self::TrackComposite(_) => proto::EgressSourceType::Sdk,
        }
    }

    #[allow(deprecated)]
    pub fn outputs(&self) -> RawOutputs {
        match self {
            Self::RoomComposite(r) => lists!(r, legacy!(r.output, room_composite_egress_request)),
            Self::Web(r) => lists!(r, legacy!(r.output, web_egress_request)),
            Self::Participant(r) => lists!(r, None),
            Self::TrackComposite(r) => {
                lists!(r, legacy!(r.output, track_composite_egress_request))
            }
        }
    }

    /// The request as `EgressInfo.request` carries it: stream keys and upload credentials
    /// redacted.
    #[allow(deprecated)]
    pub fn echoed(&self) -> proto::egress_info::Request {
        use proto::egress_info::Request;
        match self.clone() {
            Self::RoomComposite(mut r) => {
                redact_lists!(r);
                redact_legacy!(r.output, room_composite_egress_request);
                Request::RoomComposite(r)
            }
            Self::Web(mut r) => {
                redact_lists!(r);
                redact_legacy!(r.output, web_egress_request);
                Request::Web(r)
            }
            Self::Participant(mut r) => {
                redact_lists!(r);
                Request::Participant(r)
            }
            Self::TrackComposite(mut r) => {
                redact_lists!(r);
                redact_legacy!(r.output, track_composite_egress_request);
                Request::TrackComposite(r)
            }
        }
    }
}

fn is_http(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|p| lower.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

fn missing(field: &str) -> EmulatorError {
    EmulatorError::InvalidArgument(format!("request has missing or invalid field: {field}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echoed_request_hides_stream_keys_and_upload_secrets() {
        let request = StartRequest::RoomComposite(proto::RoomCompositeEgressRequest {
            room_name: "show".into(),
            stream_outputs: vec![proto::StreamOutput {
                protocol: proto::StreamProtocol::Rtmp as i32,
                urls: vec!["rtmp://h/app/topsecretkey".into()],
            }],
            file_outputs: vec![proto::EncodedFileOutput {
                output: Some(proto::encoded_file_output::Output::S3(proto::S3Upload {
                    access_key: "AKIA".into(),
                    secret: "hunter2".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        });
        let echoed = format!("{:?}", request.echoed());
        assert!(!echoed.contains("topsecretkey"), "{echoed}");
        assert!(
            !echoed.contains("hunter2") && !echoed.contains("AKIA"),
            "{echoed}"
        );
        assert!(echoed.contains("{top...key}"), "{echoed}");
    }

    #[test]
    fn a_web_egress_needs_an_http_url() {
        let web = |url: &str| {
            StartRequest::Web(proto::WebEgressRequest {
                url: url.into(),
                ..Default::default()
            })
        };
        assert!(web("https://example.com/page").check().is_ok());
        assert!(web("file:///etc/passwd").check().is_err());
        assert!(web("").check().is_err());
    }
}
