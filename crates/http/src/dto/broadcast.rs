//! The request shapes of broadcast: an ingest to create, an output to add (also declared in
//! `POST /streams`'s `outputs`).

use orchestrator_domain::broadcast::{IngestKind, OutputId, OutputKind, RtmpTarget};
use orchestrator_domain::{service::broadcast::NewOutput, values::ValidationError};
use serde::Deserialize;
use utoipa::ToSchema;

use super::FieldErrors;

/// `POST /streams/{id}/ingest`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIngestRequest {
    /// `rtmp` (RTMP/RTMPS push: OBS, ffmpeg), `whip` (WebRTC push) or `url` (LiveKit pulls
    /// `url`).
    #[serde(rename = "type")]
    #[schema(example = "rtmp")]
    pub kind: Option<String>,
    /// With `type: url`: what LiveKit pulls (`http(s)://`, `rtmp(s)://`, `srt://`).
    pub url: Option<String>,
}

impl CreateIngestRequest {
    /// The ingest kind asked for.
    ///
    /// # Errors
    /// [`FieldErrors`] naming `type` or `url`.
    pub fn validate(self) -> Result<IngestKind, FieldErrors> {
        let refuse = |field, why: &str| FieldErrors(vec![ValidationError::new(field, why)]);
        match (self.kind.as_deref(), self.url) {
            (Some("rtmp"), None) => Ok(IngestKind::Rtmp),
            (Some("whip"), None) => Ok(IngestKind::Whip),
            (Some("rtmp" | "whip"), Some(_)) => Err(refuse("url", "only a url ingest has a url")),
            (Some("url"), Some(url)) => IngestKind::url(url).map_err(|e| FieldErrors(vec![e])),
            (Some("url"), None) => Err(refuse("url", "is required with type url")),
            _ => Err(refuse("type", "must be rtmp, whip or url")),
        }
    }
}

/// An output: `POST /streams/{id}/outputs`, and each of `POST /streams`'s `outputs`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputRequest {
    /// Its name: 1 to 32 of `a-z 0-9 -`; the type's name (`hls`, `rtmp-2`, …) when absent.
    #[schema(example = "youtube")]
    pub id: Option<String>,
    /// `hls` (segments for players), `rtmp` (to other platforms) or `recording` (a file).
    #[serde(rename = "type")]
    #[schema(example = "rtmp")]
    pub kind: Option<String>,
    /// With `type: rtmp`: 1 to 5 `rtmp://` or `rtmps://` URLs, their stream keys included.
    #[schema(example = json!(["rtmps://a.rtmp.youtube.com/live2/xxxx-xxxx"]))]
    pub targets: Option<Vec<String>>,
    /// Start when the stream goes live (at once if it is live already). Default `false`.
    pub auto_start: Option<bool>,
}

impl OutputRequest {
    /// The output to add; every refused field at once.
    ///
    /// # Errors
    /// [`FieldErrors`] naming `id`, `type` or `targets`.
    pub fn validate(self) -> Result<NewOutput, FieldErrors> {
        let mut errors = Vec::new();
        let id = match self.id.map(OutputId::new).transpose() {
            Ok(id) => id,
            Err(err) => {
                errors.push(err);
                None
            }
        };
        let kind = match (self.kind.as_deref(), self.targets) {
            (Some("hls"), None) => Some(OutputKind::Hls),
            (Some("recording"), None) => Some(OutputKind::Recording),
            (Some("hls" | "recording"), Some(_)) => {
                errors.push(ValidationError::new(
                    "targets",
                    "only an rtmp output has targets",
                ));
                None
            }
            (Some("rtmp"), targets) => {
                let parsed: Result<Vec<RtmpTarget>, _> = targets
                    .unwrap_or_default()
                    .into_iter()
                    .map(RtmpTarget::new)
                    .collect();
                match parsed.and_then(OutputKind::rtmp) {
                    Ok(kind) => Some(kind),
                    Err(err) => {
                        errors.push(err);
                        None
                    }
                }
            }
            _ => {
                errors.push(ValidationError::new(
                    "type",
                    "must be hls, rtmp or recording",
                ));
                None
            }
        };
        match kind {
            Some(kind) if errors.is_empty() => Ok(NewOutput {
                id,
                kind,
                auto_start: self.auto_start.unwrap_or(false),
            }),
            _ => Err(FieldErrors(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(kind: &str, targets: Option<Vec<&str>>) -> OutputRequest {
        OutputRequest {
            kind: Some(kind.into()),
            targets: targets.map(|t| t.into_iter().map(str::to_owned).collect()),
            ..OutputRequest::default()
        }
    }

    #[test]
    fn outputs_need_a_known_type_and_targets_only_for_rtmp() {
        assert!(output("hls", None).validate().is_ok());
        assert!(
            output("rtmp", Some(vec!["rtmp://live.example.com/app/key"]))
                .validate()
                .is_ok()
        );
        for refused in [
            output("dash", None),
            output("rtmp", None),
            output("rtmp", Some(vec!["http://example.com"])),
            output("hls", Some(vec!["rtmp://live.example.com/app/key"])),
        ] {
            assert!(refused.validate().is_err());
        }
    }

    #[test]
    fn every_refused_field_is_named_at_once() {
        let request = OutputRequest {
            id: Some("Bad Name".into()),
            kind: Some("dash".into()),
            ..OutputRequest::default()
        };

        let FieldErrors(errors) = request.validate().unwrap_err();

        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["id", "type"]);
    }

    #[test]
    fn an_ingest_url_goes_only_with_a_url_pull() {
        let ingest = |kind: &str, url: Option<&str>| CreateIngestRequest {
            kind: Some(kind.into()),
            url: url.map(str::to_owned),
        };

        assert_eq!(ingest("rtmp", None).validate(), Ok(IngestKind::Rtmp));
        assert!(ingest("url", Some("https://cdn.example.com/live.m3u8"))
            .validate()
            .is_ok());
        assert!(ingest("url", None).validate().is_err());
        assert!(ingest("whip", Some("https://x")).validate().is_err());
        assert!(ingest("srt", None).validate().is_err());
    }
}
