//! `[broadcast]`: where egresses write files, how players find HLS, and how fast egresses
//! start. Configured once for every stream's outputs.

use std::fmt;

use orchestrator_livekit::{BroadcastConfig, Storage};
use serde::{Deserialize, Serialize};

/// Where HLS segments and recordings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Nowhere: `hls` and `recording` outputs are refused (`rtmp` ones work).
    None,
    /// Where LiveKit's egress writes by itself (LiveKit Cloud, a self-hosted egress's own
    /// storage settings, the embedded emulator).
    Livekit,
    /// The S3-compatible bucket of `[broadcast.s3]`.
    S3,
}

/// An S3-compatible bucket.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct S3Settings {
    /// Endpoint (empty for AWS itself; `https://minio.internal:9000` for MinIO).
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key (redacted by `print-config`, never logged).
    pub secret: String,
    /// Path-style addressing (MinIO and most S3-compatible stores).
    pub force_path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Broadcast: outputs' storage, playback and pacing.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BroadcastSettings {
    /// `livekit`, `s3` or `none`.
    pub storage: StorageKind,
    /// The bucket, with `storage = "s3"`.
    pub s3: S3Settings,
    /// Public base URL players read HLS from (a CDN in front of the bucket); empty: the
    /// playlist location LiveKit reports.
    pub playback_base_url: String,
    /// Length of an HLS segment.
    pub segment_secs: u32,
    /// Most egress starts per second (more wait their turn).
    pub egress_starts_per_sec: u32,
    /// Backoff before the second attempt of an output's start (it doubles for each next one;
    /// after 4 attempts the output is `failed`).
    pub retry_backoff_ms: u64,
}

impl Default for BroadcastSettings {
    fn default() -> Self {
        Self {
            storage: StorageKind::Livekit,
            s3: S3Settings::default(),
            playback_base_url: String::new(),
            segment_secs: 6,
            egress_starts_per_sec: 20,
            retry_backoff_ms: 1000,
        }
    }
}

impl BroadcastSettings {
    /// The LiveKit adapter's configuration.
    pub fn adapter_config(&self) -> BroadcastConfig {
        let storage = match self.storage {
            StorageKind::None => Storage::None,
            StorageKind::Livekit => Storage::LiveKit,
            StorageKind::S3 => Storage::S3 {
                endpoint: self.s3.endpoint.clone(),
                region: self.s3.region.clone(),
                bucket: self.s3.bucket.clone(),
                access_key: self.s3.access_key.clone(),
                secret: self.s3.secret.clone(),
                force_path_style: self.s3.force_path_style,
            },
        };
        BroadcastConfig {
            storage,
            playback_base_url: Some(self.playback_base_url.trim())
                .filter(|url| !url.is_empty())
                .map(str::to_owned),
            segment_secs: self.segment_secs,
            egress_starts_per_sec: self.egress_starts_per_sec,
        }
    }

    /// Whether egresses can write files.
    pub fn has_storage(&self) -> bool {
        self.storage != StorageKind::None
    }

    /// The backoff before the second attempt of a start.
    pub fn retry_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_backoff_ms.max(1))
    }
}
