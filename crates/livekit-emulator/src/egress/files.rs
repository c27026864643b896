//! Where an egress's files go: names from LiveKit's filename templates, and the location
//! their storage gives them.

use livekit_protocol as proto;

/// Where finished files are said to live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Storage {
    /// No upload configured: the egress worker's local path.
    Local,
    S3 {
        bucket: String,
        endpoint: String,
    },
    Gcp {
        bucket: String,
    },
    Azure {
        account: String,
        container: String,
    },
    AliOss {
        bucket: String,
        endpoint: String,
    },
}

impl Storage {
    pub(crate) fn location(&self, key: &str) -> String {
        match self {
            Self::Local => key.to_owned(),
            Self::S3 { bucket, endpoint } if endpoint.is_empty() => {
                format!("https://{bucket}.s3.amazonaws.com/{key}")
            }
            Self::S3 { bucket, endpoint } => {
                format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/'))
            }
            Self::Gcp { bucket } => format!("https://storage.googleapis.com/{bucket}/{key}"),
            Self::Azure { account, container } => {
                format!("https://{account}.blob.core.windows.net/{container}/{key}")
            }
            Self::AliOss { bucket, endpoint } => format!("https://{bucket}.{endpoint}/{key}"),
        }
    }
}

/// What names files get: the room, its sid and the start time fill LiveKit's templates.
#[derive(Debug, Clone)]
pub(crate) struct Naming {
    pub room_name: String,
    pub room_id: String,
    pub started_at_ns: i64,
    pub audio_only: bool,
    pub video: bool,
}

/// A file name from a template: `{room_name}`, `{room_id}` and `{time}` are filled in, an
/// empty name or a directory gets LiveKit's default `{room_name}-{time}`, and a missing
/// extension is added.
pub(crate) fn file_name(template: &str, naming: &Naming, ext: &str) -> String {
    let mut name = template.trim().to_owned();
    if name.is_empty() || name.ends_with('/') {
        name.push_str("{room_name}-{time}");
    }
    let room = if naming.room_name.is_empty() {
        "web"
    } else {
        naming.room_name.as_str()
    };
    let name = name
        .replace("{room_name}", room)
        .replace("{room_id}", &naming.room_id)
        .replace("{time}", &utc_stamp(naming.started_at_ns));
    let has_ext = name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if has_ext || ext.is_empty() {
        name
    } else {
        format!("{name}{ext}")
    }
}

/// `YYYY-MM-DDTHHMMSS` in UTC, LiveKit's `{time}`.
pub(crate) fn utc_stamp(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}{:02}{:02}",
        day_secs / 3_600,
        day_secs % 3_600 / 60,
        day_secs % 60
    )
}

pub(crate) fn file_storage(output: Option<&proto::encoded_file_output::Output>) -> Storage {
    use proto::encoded_file_output::Output;
    match output {
        None => Storage::Local,
        Some(Output::S3(s3)) => s3_storage(s3),
        Some(Output::Gcp(gcp)) => gcp_storage(gcp),
        Some(Output::Azure(azure)) => azure_storage(azure),
        Some(Output::AliOss(ali)) => ali_storage(ali),
    }
}

pub(crate) fn segments_storage(output: Option<&proto::segmented_file_output::Output>) -> Storage {
    use proto::segmented_file_output::Output;
    match output {
        None => Storage::Local,
        Some(Output::S3(s3)) => s3_storage(s3),
        Some(Output::Gcp(gcp)) => gcp_storage(gcp),
        Some(Output::Azure(azure)) => azure_storage(azure),
        Some(Output::AliOss(ali)) => ali_storage(ali),
    }
}

fn s3_storage(s3: &proto::S3Upload) -> Storage {
    Storage::S3 {
        bucket: s3.bucket.clone(),
        endpoint: s3.endpoint.clone(),
    }
}

fn gcp_storage(gcp: &proto::GcpUpload) -> Storage {
    Storage::Gcp {
        bucket: gcp.bucket.clone(),
    }
}

fn azure_storage(azure: &proto::AzureBlobUpload) -> Storage {
    Storage::Azure {
        account: azure.account_name.clone(),
        container: azure.container_name.clone(),
    }
}

fn ali_storage(ali: &proto::AliOssUpload) -> Storage {
    Storage::AliOss {
        bucket: ali.bucket.clone(),
        endpoint: ali.endpoint.clone(),
    }
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

    #[test]
    fn templates_are_filled_and_extensions_added() {
        assert_eq!(
            file_name("", &naming(), ".mp4"),
            "show-2023-11-14T221320.mp4"
        );
        assert_eq!(
            file_name("out/", &naming(), ".mp4"),
            "out/show-2023-11-14T221320.mp4"
        );
        assert_eq!(file_name("{room_id}.ogg", &naming(), ".mp4"), "RM_x.ogg");
    }

    #[test]
    fn the_time_stamp_is_utc_civil_time() {
        assert_eq!(utc_stamp(0), "1970-01-01T000000");
        assert_eq!(utc_stamp(951_782_400_000_000_000), "2000-02-29T000000");
    }

    #[test]
    fn locations_follow_the_storage() {
        let s3 = Storage::S3 {
            bucket: "b".into(),
            endpoint: String::new(),
        };
        assert_eq!(s3.location("k.mp4"), "https://b.s3.amazonaws.com/k.mp4");
        let minio = Storage::S3 {
            bucket: "b".into(),
            endpoint: "http://minio:9000/".into(),
        };
        assert_eq!(minio.location("k.mp4"), "http://minio:9000/b/k.mp4");
        assert_eq!(Storage::Local.location("k.mp4"), "k.mp4");
    }
}
