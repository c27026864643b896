//! What an egress writes to: the outputs of a start request, checked as LiveKit's egress
//! service checks them, and the results (`file_results`, `segment_results`,
//! `stream_results`, `image_results`) it reports as it runs.
//!
//! Stream URLs carry stream keys: results show them redacted the way LiveKit redacts them.

use livekit_protocol as proto;

use super::files::Naming;
use super::files::{file_name, file_storage, segments_storage};
use super::redact::{redact_rtmp, redacted};
use crate::EmulatorError;

/// The outputs of one start request, as the v2 lists or the legacy single `output`.
#[derive(Debug, Default)]
pub(crate) struct RawOutputs {
    pub files: Vec<proto::EncodedFileOutput>,
    pub streams: Vec<proto::StreamOutput>,
    pub segments: Vec<proto::SegmentedFileOutput>,
    pub images: Vec<proto::ImageOutput>,
    pub legacy: Option<Legacy>,
}

/// The deprecated single `output` of a start request.
#[derive(Debug)]
pub(crate) enum Legacy {
    File(proto::EncodedFileOutput),
    Stream(proto::StreamOutput),
    Segments(proto::SegmentedFileOutput),
}

/// The checked outputs of an egress, with everything needed to report results.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outputs {
    pub file: Option<(proto::FileInfo, String)>,
    pub segments: Option<(proto::SegmentsInfo, Segmenting)>,
    pub images: Vec<(proto::ImagesInfo, u32)>,
    /// Raw URL (with its key) beside each stream result, in the same order.
    pub stream_urls: Vec<String>,
    pub stream_results: Vec<proto::StreamInfo>,
    /// Whether the egress streams at all (UpdateStream is refused otherwise).
    pub streaming: bool,
}

/// How a segmented output reports itself when it finishes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Segmenting {
    pub playlist_location: String,
    pub live_playlist_location: String,
    pub segment_seconds: u32,
}

impl Outputs {
    /// Checks the outputs like LiveKit: at most one file, one stream and one segmented
    /// output, RTMP URLs in `rtmp(s)://host/app/key` form, and at least one output.
    pub fn check(raw: RawOutputs, naming: &Naming, max_urls: usize) -> Result<Self, EmulatorError> {
        let file = single(raw.files, "multiple file outputs")?;
        let stream = single(raw.streams, "multiple stream outputs")?;
        let segments = single(raw.segments, "multiple segmented file outputs")?;
        let (file, stream, segments) = match raw.legacy {
            Some(Legacy::File(f)) if file.is_none() => (Some(f), stream, segments),
            Some(Legacy::Stream(s)) if stream.is_none() => (file, Some(s), segments),
            Some(Legacy::Segments(s)) if segments.is_none() => (file, stream, Some(s)),
            Some(Legacy::File(_) | Legacy::Stream(_) | Legacy::Segments(_)) | None => {
                (file, stream, segments)
            }
        };
        let mut outputs = Self::default();
        if let Some(file) = file {
            outputs.file = Some(file_result(&file, naming));
        }
        if let Some(stream) = stream {
            let only_output = outputs.file.is_none() && segments.is_none() && raw.images.is_empty();
            outputs.add_stream_output(&stream, only_output, max_urls)?;
        }
        if let Some(segments) = segments {
            outputs.segments = Some(segments_result(&segments, naming));
        }
        if !raw.images.is_empty() && !naming.video {
            return Err(missing("audio_only images"));
        }
        for image in &raw.images {
            outputs.images.push(images_result(image, naming));
        }
        if outputs.count() == 0 {
            return Err(missing("output"));
        }
        Ok(outputs)
    }

    fn add_stream_output(
        &mut self,
        stream: &proto::StreamOutput,
        only_output: bool,
        max_urls: usize,
    ) -> Result<(), EmulatorError> {
        let kind = stream_kind(stream)?;
        if only_output && stream.urls.is_empty() {
            return Err(missing("stream url"));
        }
        self.streaming = true;
        for url in &stream.urls {
            self.add_stream(url, kind, max_urls, 0)?;
        }
        Ok(())
    }

    /// Starts streaming to one more URL (UpdateStream's `add_output_urls`); `started_at` is
    /// 0 until the pipeline runs. A URL already streamed to is left as it is.
    pub fn add_stream(
        &mut self,
        url: &str,
        kind: StreamKind,
        max_urls: usize,
        started_at: i64,
    ) -> Result<(), EmulatorError> {
        let redacted = checked_url(url, kind)?;
        if self.active_stream(url).is_some() {
            return Ok(());
        }
        let active = self
            .stream_results
            .iter()
            .filter(|s| s.status == proto::stream_info::Status::Active as i32)
            .count();
        if active >= max_urls {
            return Err(EmulatorError::ResourceExhausted(format!(
                "an egress streams to at most {max_urls} URLs"
            )));
        }
        self.stream_urls.push(url.to_owned());
        self.stream_results.push(proto::StreamInfo {
            url: redacted,
            status: proto::stream_info::Status::Active as i32,
            started_at,
            ..Default::default()
        });
        Ok(())
    }

    /// Stops streaming to `url` (UpdateStream's `remove_output_urls`).
    pub fn finish_stream(&mut self, url: &str, now: i64) -> Result<(), EmulatorError> {
        let index = self.active_stream(url).ok_or_else(|| {
            EmulatorError::NotFound(format!("stream {} not found", redacted(url)))
        })?;
        if let Some(stream) = self.stream_results.get_mut(index) {
            end_stream(stream, proto::stream_info::Status::Finished, now);
        }
        Ok(())
    }

    /// Index of the active stream to `url`.
    pub fn active_stream(&self, url: &str) -> Option<usize> {
        self.stream_urls
            .iter()
            .zip(&self.stream_results)
            .position(|(u, s)| u == url && s.status == proto::stream_info::Status::Active as i32)
    }

    /// The kind of stream this egress already sends (for URLs added later).
    pub fn stream_kind(&self) -> StreamKind {
        if self.stream_urls.iter().any(|u| scheme(u) == "srt") {
            StreamKind::Srt
        } else {
            StreamKind::Rtmp
        }
    }

    /// Outputs still being written: LiveKit ends an egress when this reaches zero.
    pub fn count(&self) -> usize {
        let streams = self
            .stream_results
            .iter()
            .filter(|s| s.status == proto::stream_info::Status::Active as i32)
            .count();
        usize::from(self.file.is_some())
            + usize::from(self.segments.is_some())
            + self.images.len()
            + streams
    }

    /// The pipeline is running: every output has started.
    pub fn start(&mut self, now: i64) {
        if let Some((file, _)) = self.file.as_mut() {
            file.started_at = now;
        }
        if let Some((segments, _)) = self.segments.as_mut() {
            segments.started_at = now;
        }
        for (images, _) in &mut self.images {
            images.started_at = now;
        }
        for stream in &mut self.stream_results {
            if stream.status == proto::stream_info::Status::Active as i32 && stream.started_at == 0
            {
                stream.started_at = now;
            }
        }
    }

    /// The egress completed: files are uploaded and streams finished.
    pub fn finish(&mut self, now: i64) {
        if let Some((file, location)) = self.file.as_mut() {
            file.ended_at = now;
            file.duration = elapsed(file.started_at, now);
            file.size = nominal_size(file.duration);
            file.location = location.clone();
        }
        if let Some((segments, how)) = self.segments.as_mut() {
            segments.ended_at = now;
            segments.duration = elapsed(segments.started_at, now);
            segments.size = nominal_size(segments.duration);
            segments.playlist_location = how.playlist_location.clone();
            segments.live_playlist_location = how.live_playlist_location.clone();
            segments.segment_count = count_of(segments.duration, how.segment_seconds);
        }
        for (images, interval) in &mut self.images {
            images.ended_at = now;
            images.image_count = count_of(elapsed(images.started_at, now), *interval);
        }
        for stream in &mut self.stream_results {
            if stream.status == proto::stream_info::Status::Active as i32 {
                end_stream(stream, proto::stream_info::Status::Finished, now);
            }
        }
    }

    /// The egress failed: its streams failed with it.
    pub fn fail(&mut self, now: i64, error: &str) {
        for stream in &mut self.stream_results {
            if stream.status == proto::stream_info::Status::Active as i32 {
                end_stream(stream, proto::stream_info::Status::Failed, now);
                stream.error = error.to_owned();
            }
        }
    }

    /// Writes the results into `info`, including the deprecated single `result` LiveKit
    /// still fills when there is one kind of output.
    #[allow(deprecated)]
    pub fn report(&self, info: &mut proto::EgressInfo) {
        use proto::egress_info::Result as Single;
        info.file_results = self.file.iter().map(|(f, _)| f.clone()).collect();
        info.segment_results = self.segments.iter().map(|(s, _)| s.clone()).collect();
        info.image_results = self.images.iter().map(|(i, _)| i.clone()).collect();
        info.stream_results = self.stream_results.clone();
        let kinds = usize::from(self.file.is_some())
            + usize::from(self.segments.is_some())
            + usize::from(!self.images.is_empty())
            + usize::from(self.streaming);
        info.result = match (&self.file, &self.segments) {
            _ if kinds != 1 => None,
            (Some((file, _)), _) => Some(Single::File(file.clone())),
            (_, Some((segments, _))) => Some(Single::Segments(segments.clone())),
            (None, None) if self.streaming => Some(Single::Stream(proto::StreamInfoList {
                info: self.stream_results.clone(),
            })),
            (None, None) => None,
        };
    }
}

/// The stream protocols the emulator accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Rtmp,
    Srt,
}

fn stream_kind(stream: &proto::StreamOutput) -> Result<StreamKind, EmulatorError> {
    match proto::StreamProtocol::try_from(stream.protocol) {
        Ok(proto::StreamProtocol::Rtmp) => Ok(StreamKind::Rtmp),
        Ok(proto::StreamProtocol::Srt) => Ok(StreamKind::Srt),
        Ok(proto::StreamProtocol::DefaultProtocol) => {
            let first = stream
                .urls
                .first()
                .ok_or_else(|| missing("stream protocol"))?;
            match scheme(first).as_str() {
                "rtmp" | "rtmps" => Ok(StreamKind::Rtmp),
                "srt" => Ok(StreamKind::Srt),
                _ => Err(invalid_url(first, "invalid protocol")),
            }
        }
        Ok(proto::StreamProtocol::Websocket) | Err(_) => Err(missing("stream protocol")),
    }
}

/// Checks a stream URL and returns it with its key redacted. Error messages name the URL
/// redacted too, so a stream key never ends up in a client's logs.
fn checked_url(url: &str, kind: StreamKind) -> Result<String, EmulatorError> {
    let url = url.trim();
    match (kind, scheme(url).as_str()) {
        (StreamKind::Rtmp, "rtmp" | "rtmps") => redact_rtmp(url).ok_or_else(|| {
            invalid_url(
                url,
                "rtmp urls must be of format rtmp(s)://{host}(/{path})/{app}/{stream_key}( live=1)",
            )
        }),
        (StreamKind::Srt, "srt") => Ok(redacted(url)),
        (StreamKind::Rtmp | StreamKind::Srt, _) => Err(invalid_url(url, "invalid scheme")),
    }
}

fn scheme(url: &str) -> String {
    url.split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default()
}

fn single<T>(mut items: Vec<T>, too_many: &str) -> Result<Option<T>, EmulatorError> {
    if items.len() > 1 {
        return Err(missing(too_many));
    }
    Ok(items.pop())
}

fn file_result(file: &proto::EncodedFileOutput, naming: &Naming) -> (proto::FileInfo, String) {
    let ext = match proto::EncodedFileType::try_from(file.file_type) {
        Ok(proto::EncodedFileType::Ogg) => ".ogg",
        Ok(proto::EncodedFileType::Mp3) => ".mp3",
        Ok(proto::EncodedFileType::Mp4) => ".mp4",
        Ok(proto::EncodedFileType::DefaultFiletype) | Err(_) if naming.audio_only => ".ogg",
        Ok(proto::EncodedFileType::DefaultFiletype) | Err(_) => ".mp4",
    };
    let filename = file_name(&file.filepath, naming, ext);
    let storage = file_storage(file.output.as_ref());
    let location = storage.location(&filename);
    let info = proto::FileInfo {
        filename,
        ..Default::default()
    };
    (info, location)
}

fn segments_result(
    segments: &proto::SegmentedFileOutput,
    naming: &Naming,
) -> (proto::SegmentsInfo, Segmenting) {
    let playlist_name = file_name(&segments.playlist_name, naming, ".m3u8");
    let live_playlist_name = if segments.live_playlist_name.is_empty() {
        String::new()
    } else {
        file_name(&segments.live_playlist_name, naming, ".m3u8")
    };
    let storage = segments_storage(segments.output.as_ref());
    let how = Segmenting {
        playlist_location: storage.location(&playlist_name),
        live_playlist_location: if live_playlist_name.is_empty() {
            String::new()
        } else {
            storage.location(&live_playlist_name)
        },
        // LiveKit's default segment length.
        segment_seconds: if segments.segment_duration == 0 {
            4
        } else {
            segments.segment_duration
        },
    };
    let info = proto::SegmentsInfo {
        playlist_name,
        live_playlist_name,
        ..Default::default()
    };
    (info, how)
}

fn images_result(image: &proto::ImageOutput, naming: &Naming) -> (proto::ImagesInfo, u32) {
    let info = proto::ImagesInfo {
        filename_prefix: file_name(&image.filename_prefix, naming, ""),
        ..Default::default()
    };
    (info, image.capture_interval.max(1))
}

fn end_stream(stream: &mut proto::StreamInfo, status: proto::stream_info::Status, now: i64) {
    stream.status = status as i32;
    stream.ended_at = now;
    if stream.started_at == 0 {
        stream.started_at = now;
    }
    stream.duration = elapsed(stream.started_at, now);
}

fn elapsed(started_at: i64, now: i64) -> i64 {
    if started_at == 0 {
        0
    } else {
        now.saturating_sub(started_at).max(0)
    }
}

/// Bytes a recording of `duration_ns` would take at a nominal 3 Mb/s.
fn nominal_size(duration_ns: i64) -> i64 {
    duration_ns.saturating_mul(3) / 8_000
}

/// How many segments or images `duration_ns` yields at one per `every_secs`, at least one.
fn count_of(duration_ns: i64, every_secs: u32) -> i64 {
    let every = i64::from(every_secs.max(1)) * 1_000_000_000;
    (duration_ns + every - 1).div_euclid(every).max(1)
}

fn missing(field: &str) -> EmulatorError {
    EmulatorError::InvalidArgument(format!("request has missing or invalid field: {field}"))
}

fn invalid_url(url: &str, reason: &str) -> EmulatorError {
    EmulatorError::InvalidArgument(format!("invalid url {}: {reason}", redacted(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming() -> Naming {
        Naming {
            room_name: "show".into(),
            room_id: "RM_x".into(),
            started_at_ns: 1_700_000_000_000_000_000,
            audio_only: false,
            video: true,
        }
    }

    fn rtmp(urls: &[&str]) -> proto::StreamOutput {
        proto::StreamOutput {
            protocol: proto::StreamProtocol::Rtmp as i32,
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    #[test]
    fn a_malformed_rtmp_url_is_refused_without_echoing_its_key() {
        let raw = RawOutputs {
            streams: vec![rtmp(&["rtmp://host/secretkey"])],
            ..Default::default()
        };
        let error = Outputs::check(raw, &naming(), 4).err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("rtmp urls must be of format"), "{message}");
        assert!(!message.contains("secretkey"), "{message}");
    }

    #[test]
    fn no_output_and_two_files_are_invalid() {
        assert!(Outputs::check(RawOutputs::default(), &naming(), 4).is_err());
        let two = RawOutputs {
            files: vec![Default::default(), Default::default()],
            ..Default::default()
        };
        assert!(Outputs::check(two, &naming(), 4).is_err());
    }

    #[test]
    fn names_follow_the_templates_and_locations_the_storage() {
        let raw = RawOutputs {
            files: vec![proto::EncodedFileOutput {
                filepath: "rec/{room_name}-{time}".into(),
                output: Some(proto::encoded_file_output::Output::S3(proto::S3Upload {
                    bucket: "b".into(),
                    secret: "s".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            segments: vec![proto::SegmentedFileOutput::default()],
            ..Default::default()
        };
        let mut outputs = Outputs::check(raw, &naming(), 4).unwrap_or_default();
        outputs.start(1);
        outputs.finish(13_000_000_001);
        let mut info = proto::EgressInfo::default();
        outputs.report(&mut info);
        let file = info.file_results.first().cloned().unwrap_or_default();
        assert_eq!(file.filename, "rec/show-2023-11-14T221320.mp4");
        assert_eq!(
            file.location,
            "https://b.s3.amazonaws.com/rec/show-2023-11-14T221320.mp4"
        );
        assert_eq!(file.duration, 13_000_000_000);
        let segments = info.segment_results.first().cloned().unwrap_or_default();
        assert_eq!(segments.playlist_name, "show-2023-11-14T221320.m3u8");
        assert_eq!(segments.playlist_location, segments.playlist_name);
        assert_eq!(segments.segment_count, 4);
    }

    #[test]
    #[allow(deprecated)]
    fn a_stream_only_egress_reports_the_legacy_stream_result() {
        let raw = RawOutputs {
            streams: vec![rtmp(&["rtmp://h/app/k1", "rtmp://h/app/k2"])],
            ..Default::default()
        };
        let outputs = Outputs::check(raw, &naming(), 4).unwrap_or_default();
        let mut info = proto::EgressInfo::default();
        outputs.report(&mut info);
        assert_eq!(info.stream_results.len(), 2);
        assert_eq!(outputs.count(), 2);
        assert!(matches!(
            info.result,
            Some(proto::egress_info::Result::Stream(_))
        ));
    }

    #[test]
    fn too_many_urls_are_a_clear_error() {
        let raw = RawOutputs {
            streams: vec![rtmp(&["rtmp://h/app/k1", "rtmp://h/app/k2"])],
            ..Default::default()
        };
        let refused = Outputs::check(raw, &naming(), 1);
        assert!(matches!(refused, Err(EmulatorError::ResourceExhausted(_))));
    }
}
