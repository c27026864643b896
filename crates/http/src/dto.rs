//! Request and response shapes: the public JSON contract (camelCase, as the seed).
//!
//! Streams are answered with the domain's own serialization of [`Stream`]; this module holds
//! the shapes that differ from it and the conversions from raw request fields to domain values.
//! Every field of a request is checked, so a refusal lists all the fields at fault at once.

use chrono::{DateTime, Utc};
use orchestrator_domain::{
    audience::Audience, participant::Participant, participant::Role,
    service::commands::CreateStream, service::commands::JoinStream, service::commands::JoinTicket,
    service::commands::StreamView, stream::Stream, stream::StreamStatus, values::Identity,
    values::Metadata, values::RoomName, values::ValidationError,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

pub mod broadcast;
pub(crate) mod schemas;

/// `POST /streams`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateStreamRequest {
    /// Room to use (letters, digits, `_`, `-`, `.`); `room-<id>` when absent.
    #[schema(example = "launch")]
    pub room_name: Option<String>,
    /// Initial metadata (a JSON object).
    #[schema(value_type = Option<Object>, example = json!({"title": "Launch day"}))]
    pub metadata: Option<serde_json::Value>,
    /// Outputs declared with the stream (at most 8): HLS, RTMP targets, recordings.
    pub outputs: Option<Vec<broadcast::OutputRequest>>,
}

impl TryFrom<CreateStreamRequest> for CreateStream {
    type Error = FieldErrors;

    fn try_from(raw: CreateStreamRequest) -> Result<Self, Self::Error> {
        let declared = raw.outputs.unwrap_or_default();
        let mut outputs = Vec::with_capacity(declared.len());
        let mut refused = Vec::new();
        for output in declared {
            match output.validate() {
                Ok(output) => outputs.push(output),
                Err(FieldErrors(errors)) => refused.extend(errors.into_iter().map(|e| {
                    ValidationError::new("outputs", format!("{}: {}", e.field, e.reason))
                })),
            }
        }
        let (room_name, metadata) = match all_valid2(
            raw.room_name.map(RoomName::new).transpose(),
            optional_metadata(raw.metadata),
        ) {
            Ok(valid) if refused.is_empty() => valid,
            Ok(_) => return Err(FieldErrors(refused)),
            Err(FieldErrors(mut errors)) => {
                errors.extend(refused);
                return Err(FieldErrors(errors));
            }
        };
        Ok(CreateStream {
            room_name,
            metadata: metadata.unwrap_or_default(),
            outputs,
        })
    }
}

/// Every refused field of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<ValidationError>);

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::invalid_fields(errors.0)
    }
}

/// Both values, or every refusal among them.
fn all_valid2<A, B>(
    a: Result<A, ValidationError>,
    b: Result<B, ValidationError>,
) -> Result<(A, B), FieldErrors> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(FieldErrors(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

/// All three values, or every refusal among them.
fn all_valid3<A, B, C>(
    a: Result<A, ValidationError>,
    b: Result<B, ValidationError>,
    c: Result<C, ValidationError>,
) -> Result<(A, B, C), FieldErrors> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => Err(FieldErrors(
            [a.err(), b.err(), c.err()].into_iter().flatten().collect(),
        )),
    }
}

/// A required identity: absent is refused like blank.
fn required_identity(raw: Option<String>) -> Result<Identity, ValidationError> {
    Identity::new(raw.ok_or_else(|| ValidationError::new("participantName", "is required"))?)
}

/// `PATCH /streams/:id`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStreamRequest {
    /// Target status.
    #[schema(value_type = Option<crate::dto::schemas::StreamStatusDoc>)]
    pub status: Option<String>,
    /// Merge patch for the metadata (JSON Merge Patch: `null` removes a key).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Required current version.
    pub version: Option<u64>,
}

impl UpdateStreamRequest {
    /// The validated target status and metadata patch.
    ///
    /// # Errors
    /// [`FieldErrors`] listing every refused field.
    pub fn validate(&self) -> Result<(Option<StreamStatus>, Option<Metadata>), FieldErrors> {
        all_valid2(
            self.status.as_deref().map(str::parse).transpose(),
            optional_metadata(self.metadata.clone()),
        )
    }
}

/// `POST /streams/:id/join`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// The participant's identity (required).
    #[schema(value_type = String, required = true, example = "ada")]
    pub participant_name: Option<String>,
    /// Participant metadata (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// `host` or `viewer` (default).
    #[schema(value_type = Option<crate::dto::schemas::RoleDoc>)]
    pub role: Option<String>,
}

impl TryFrom<JoinRequest> for JoinStream {
    type Error = FieldErrors;

    fn try_from(raw: JoinRequest) -> Result<Self, Self::Error> {
        let (identity, role, metadata) = all_valid3(
            required_identity(raw.participant_name),
            raw.role.as_deref().map(str::parse::<Role>).transpose(),
            optional_metadata(raw.metadata),
        )?;
        Ok(JoinStream {
            identity,
            role: role.unwrap_or(Role::Viewer),
            metadata,
        })
    }
}

/// `POST /streams/:id/leave`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaveRequest {
    /// The participant's identity (required).
    #[schema(value_type = String, required = true, example = "ada")]
    pub participant_name: Option<String>,
}

impl LeaveRequest {
    /// The identity leaving.
    ///
    /// # Errors
    /// [`FieldErrors`] when it is absent or invalid.
    pub fn identity(self) -> Result<Identity, FieldErrors> {
        required_identity(self.participant_name).map_err(|err| FieldErrors(vec![err]))
    }
}

/// Answer of `POST /streams/:id/join`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// LiveKit access token.
    pub token: String,
    /// The stream joined.
    pub stream_id: String,
    /// The participant's identity.
    pub participant_name: String,
    /// The role granted.
    #[schema(value_type = crate::dto::schemas::RoleDoc)]
    pub role: Role,
    /// Where media clients connect.
    pub ws_url: String,
}

impl From<JoinTicket> for JoinResponse {
    fn from(ticket: JoinTicket) -> Self {
        Self {
            token: ticket.token,
            stream_id: ticket.stream_id.to_string(),
            participant_name: ticket.identity.to_string(),
            role: ticket.role,
            ws_url: ticket.ws_url,
        }
    }
}

/// Answer of `DELETE /streams/:id`.
#[derive(Debug, Serialize)]
pub struct MessageResponse<'a> {
    /// What happened.
    pub message: &'static str,
    /// The stream afterwards.
    pub stream: StreamWithRoster<'a>,
}

/// Answer of `POST /streams/:id/leave`.
#[derive(Debug, Serialize)]
pub struct DepartureResponse<'a> {
    /// What happened.
    pub message: &'static str,
    /// The stream afterwards (its counters include the leave).
    pub stream: StreamWithRoster<'a>,
    /// The participant afterwards.
    pub participant: &'a Participant,
}

/// A stream as the API shows it: the stream with its counters and, as in the original
/// product, its `participants` — everyone who ever joined when at most
/// [`StreamView::INLINE_PARTICIPANTS`] did, none otherwise (`participantsTruncated` is then
/// true; page through `GET /streams/:id/participants`), in `GET /streams` as in
/// `GET /streams/:id`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamWithRoster<'a> {
    /// The stream.
    #[serde(flatten)]
    pub stream: &'a Stream,
    /// Everyone who joined, for a small audience.
    pub participants: &'a [Participant],
    /// True when the stream has more participants than `participants` shows.
    pub participants_truncated: bool,
}

impl<'a> StreamWithRoster<'a> {
    /// A stream nobody joined yet (a created one), or one shown by its counters only.
    pub fn counters_only(stream: &'a Stream) -> Self {
        Self {
            stream,
            participants: &[],
            participants_truncated: stream.audience.total_joined > 0,
        }
    }
}

impl<'a> From<&'a StreamView> for StreamWithRoster<'a> {
    fn from(view: &'a StreamView) -> Self {
        Self {
            stream: &view.stream,
            participants: &view.participants,
            participants_truncated: view.truncated,
        }
    }
}

/// A participant in `GET /streams/:id/state`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateParticipant {
    /// Participant id.
    pub id: Uuid,
    /// Identity.
    pub identity: String,
    /// Role.
    #[schema(value_type = crate::dto::schemas::RoleDoc)]
    pub role: Role,
    /// When the current session joined.
    pub joined_at: DateTime<Utc>,
    /// When the participant left.
    pub left_at: Option<DateTime<Utc>>,
}

/// Answer of `GET /streams/:id/state`: what a dashboard needs, and the seq to resume from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamState {
    /// The stream.
    pub stream_id: String,
    /// Its status.
    #[schema(value_type = crate::dto::schemas::StreamStatusDoc)]
    pub status: StreamStatus,
    /// Everyone who joined, when at most 100 did (see `participantsTruncated`).
    pub participants: Vec<StateParticipant>,
    /// True when the stream has more participants than `participants` shows.
    pub participants_truncated: bool,
    /// Participants present now.
    pub active_participants: u64,
    /// Who is present, by role, and how many ever joined.
    #[schema(value_type = crate::dto::schemas::AudienceDoc)]
    pub audience: Audience,
    /// When it became active.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Operator metadata.
    #[schema(value_type = Object)]
    pub metadata: Metadata,
    /// Seq of the latest event (subscribe with `afterSeq` = this to miss nothing).
    pub seq: u64,
    /// Current version (for `If-Match` / `version`).
    pub version: u64,
}

impl From<StreamView> for StreamState {
    fn from(view: StreamView) -> Self {
        let stream = view.stream;
        Self {
            stream_id: stream.id.to_string(),
            status: stream.status,
            participants: view
                .participants
                .into_iter()
                .map(state_participant)
                .collect(),
            participants_truncated: view.truncated,
            active_participants: stream.audience.active,
            audience: stream.audience,
            started_at: stream.started_at,
            updated_at: stream.updated_at,
            stopped_at: stream.stopped_at,
            metadata: stream.metadata,
            seq: stream.seq,
            version: stream.version,
        }
    }
}

fn state_participant(p: Participant) -> StateParticipant {
    StateParticipant {
        id: p.id,
        identity: p.identity.into(),
        role: p.role,
        joined_at: p.joined_at,
        left_at: p.left_at,
    }
}

/// `GET /streams` query. Every parameter is read as text and checked here, so that a bad value
/// is refused with the parameter named.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Status filter.
    pub status: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// Continue after a previous page.
    pub cursor: Option<String>,
}

impl ListParams {
    /// The validated status filter and page size (the range is the domain's to check).
    ///
    /// # Errors
    /// [`FieldErrors`] listing every refused parameter.
    pub fn validate(&self) -> Result<(Option<StreamStatus>, Option<usize>), FieldErrors> {
        all_valid2(
            self.status.as_deref().map(str::parse).transpose(),
            page_size(self.limit.as_deref()),
        )
    }
}

/// A `limit` parameter as a number (the range is the domain's to check).
fn page_size(raw: Option<&str>) -> Result<Option<usize>, ValidationError> {
    raw.map(|raw| {
        raw.trim().parse::<usize>().map_err(|_| {
            ValidationError::new(
                "limit",
                format!(
                    "must be a whole number between 1 and {}",
                    orchestrator_domain::service::commands::ListStreams::MAX_LIMIT
                ),
            )
        })
    })
    .transpose()
}

/// `GET /streams/:id/participants` query, read as text and checked here like [`ListParams`].
#[derive(Debug, Deserialize)]
pub struct ParticipantParams {
    /// `true`: only those present now.
    pub active: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// Continue after a previous page.
    pub cursor: Option<String>,
}

impl ParticipantParams {
    /// Whether only present participants are asked for, and the page size.
    ///
    /// # Errors
    /// [`FieldErrors`] listing every refused parameter.
    pub fn validate(&self) -> Result<(bool, Option<usize>), FieldErrors> {
        let active = match self.active.as_deref().map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ValidationError::new("active", "must be true or false")),
        };
        let (active, limit) = all_valid2(active.map(Some), page_size(self.limit.as_deref()))?;
        Ok((active.unwrap_or(false), limit))
    }
}

/// Answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// Seconds since start.
    pub uptime: f64,
    /// Package version.
    pub version: &'static str,
}

/// Metadata from a raw JSON value, when present.
///
/// # Errors
/// [`ValidationError`] when the value is not an object.
pub fn optional_metadata(
    raw: Option<serde_json::Value>,
) -> Result<Option<Metadata>, ValidationError> {
    raw.map(|value| Metadata::from_value("metadata", value))
        .transpose()
}
