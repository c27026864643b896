//! The broadcast RPCs (a stream's ingest and outputs) and their messages, on the same use cases
//! and the same views as REST: a caller that may change the stream sees the stream key and RTMP
//! targets whole, a reader and every event see them redacted.

use chrono::{DateTime, Utc};
use orchestrator_domain::broadcast::{
    Desired, Ingest, IngestKind, IngestState, Observed, Output, OutputId, OutputKind, RtmpTarget,
};
use orchestrator_domain::broadcast::{Exposure, IngestView, OutputView};
use orchestrator_domain::policy::access::{Principal, Scope};
use orchestrator_domain::{
    error::StreamError, service::broadcast::NewOutput, values::ValidationError,
};
use serde::Deserialize;
use tonic::{Request, Response, Status};

use crate::convert::{millis, stream_id};
use crate::proto;
use crate::{status, GrpcState};

/// What the caller may see of secrets: whole with the write scope (or with no keys configured).
fn exposure<T>(request: &Request<T>) -> Exposure {
    match request
        .extensions()
        .get::<Principal>()
        .map(Principal::scope)
    {
        Some(Scope::Read) => Exposure::Redacted,
        Some(Scope::Write) | None => Exposure::Whole,
    }
}

/// An output to add, from its proto spec.
pub(crate) fn output_spec(spec: proto::OutputSpec) -> Result<NewOutput, StreamError> {
    let id = Some(spec.id)
        .filter(|id| !id.is_empty())
        .map(OutputId::new)
        .transpose()?;
    let kind = match proto::OutputType::try_from(spec.r#type) {
        Ok(proto::OutputType::Hls | proto::OutputType::Recording) if !spec.targets.is_empty() => {
            return Err(ValidationError::new("targets", "only an rtmp output has targets").into())
        }
        Ok(proto::OutputType::Hls) => OutputKind::Hls,
        Ok(proto::OutputType::Recording) => OutputKind::Recording,
        Ok(proto::OutputType::Rtmp) => OutputKind::rtmp(
            spec.targets
                .into_iter()
                .map(RtmpTarget::new)
                .collect::<Result<_, _>>()?,
        )?,
        Ok(proto::OutputType::Unspecified) | Err(_) => {
            return Err(ValidationError::new("type", "must be hls, rtmp or recording").into())
        }
    };
    Ok(NewOutput {
        id,
        kind,
        auto_start: spec.auto_start,
    })
}

fn ingest_kind(request: &proto::CreateIngestRequest) -> Result<IngestKind, StreamError> {
    match proto::IngestType::try_from(request.r#type) {
        Ok(proto::IngestType::Rtmp) => Ok(IngestKind::Rtmp),
        Ok(proto::IngestType::Whip) => Ok(IngestKind::Whip),
        Ok(proto::IngestType::Url) => Ok(IngestKind::url(request.url.clone())?),
        Ok(proto::IngestType::Unspecified) | Err(_) => {
            Err(ValidationError::new("type", "must be rtmp, whip or url").into())
        }
    }
}

fn output_id(raw: &str) -> Result<OutputId, StreamError> {
    OutputId::new(raw).map_err(|_| {
        orchestrator_domain::broadcast::BroadcastError::OutputNotFound(
            orchestrator_domain::values::excerpt(raw),
        )
        .into()
    })
}

pub(crate) fn ingest(ingest: &Ingest, exposure: Exposure) -> proto::Ingest {
    ingest_view(&IngestView::of(ingest, exposure))
}

fn ingest_view(view: &IngestView) -> proto::Ingest {
    proto::Ingest {
        ingress_id: view.ingress_id.clone(),
        r#type: ingest_type(view.kind).into(),
        url: view.url.clone(),
        stream_key: view.stream_key.clone(),
        stream_key_redacted: view.stream_key_redacted,
        state: ingest_state(view.state).into(),
        error: view.error.clone().unwrap_or_default(),
        created_at: millis(view.created_at),
        updated_at: millis(view.updated_at),
    }
}

pub(crate) fn output(output: &Output, exposure: Exposure) -> proto::Output {
    output_view(&OutputView::of(output, exposure))
}

fn output_view(view: &OutputView) -> proto::Output {
    proto::Output {
        id: view.id.clone(),
        r#type: output_type(view.kind).into(),
        targets: view.targets.clone(),
        auto_start: view.auto_start,
        desired: desired(view.desired).into(),
        observed: observed(view.observed).into(),
        egress_id: view.egress_id.clone().unwrap_or_default(),
        failure: view.failure.clone().unwrap_or_default(),
        attempts: view.attempts,
        playback_url: view.playback_url.clone().unwrap_or_default(),
        location: view.location.clone().unwrap_or_default(),
        updated_at: millis(view.updated_at),
    }
}

fn ingest_type(name: &str) -> proto::IngestType {
    match name {
        "rtmp" => proto::IngestType::Rtmp,
        "whip" => proto::IngestType::Whip,
        "url" => proto::IngestType::Url,
        _ => proto::IngestType::Unspecified,
    }
}

fn output_type(name: &str) -> proto::OutputType {
    match name {
        "hls" => proto::OutputType::Hls,
        "rtmp" => proto::OutputType::Rtmp,
        "recording" => proto::OutputType::Recording,
        _ => proto::OutputType::Unspecified,
    }
}

fn ingest_state(state: IngestState) -> proto::IngestState {
    match state {
        IngestState::Inactive => proto::IngestState::Inactive,
        IngestState::Buffering => proto::IngestState::Buffering,
        IngestState::Publishing => proto::IngestState::Publishing,
        IngestState::Error => proto::IngestState::Error,
    }
}

fn desired(desired: Desired) -> proto::OutputDesired {
    match desired {
        Desired::On => proto::OutputDesired::On,
        Desired::Off => proto::OutputDesired::Off,
    }
}

fn observed(observed: Observed) -> proto::OutputObserved {
    match observed {
        Observed::Idle => proto::OutputObserved::Idle,
        Observed::Starting => proto::OutputObserved::Starting,
        Observed::Active => proto::OutputObserved::Active,
        Observed::Ending => proto::OutputObserved::Ending,
        Observed::Complete => proto::OutputObserved::Complete,
        Observed::Failed => proto::OutputObserved::Failed,
    }
}

// ---- event payloads: the views as the domain wrote them into the event ----

/// An ingest as an event carries it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestData {
    ingress_id: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
    stream_key: String,
    stream_key_redacted: bool,
    state: IngestState,
    error: Option<String>,
    #[serde(deserialize_with = "orchestrator_domain::policy::time::read")]
    created_at: DateTime<Utc>,
    #[serde(deserialize_with = "orchestrator_domain::policy::time::read")]
    updated_at: DateTime<Utc>,
}

/// An output as an event carries it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputData {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    targets: Vec<String>,
    auto_start: bool,
    desired: Desired,
    observed: Observed,
    egress_id: Option<String>,
    failure: Option<String>,
    attempts: u32,
    playback_url: Option<String>,
    location: Option<String>,
    #[serde(deserialize_with = "orchestrator_domain::policy::time::read")]
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestEvent {
    ingest: Option<IngestData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputEvent {
    output: Option<OutputData>,
    output_id: Option<String>,
}

/// The payload of an ingest event.
pub(crate) fn ingest_event(
    data: &serde_json::Value,
) -> Result<proto::IngestEventData, serde_json::Error> {
    let event = IngestEvent::deserialize(data)?;
    Ok(proto::IngestEventData {
        ingest: event.ingest.map(|i| proto::Ingest {
            ingress_id: i.ingress_id,
            r#type: ingest_type(&i.kind).into(),
            url: i.url,
            stream_key: i.stream_key,
            stream_key_redacted: i.stream_key_redacted,
            state: ingest_state(i.state).into(),
            error: i.error.unwrap_or_default(),
            created_at: millis(i.created_at),
            updated_at: millis(i.updated_at),
        }),
    })
}

/// The payload of an output event.
pub(crate) fn output_event(
    data: &serde_json::Value,
) -> Result<proto::OutputEventData, serde_json::Error> {
    let event = OutputEvent::deserialize(data)?;
    let output_id = event
        .output_id
        .or_else(|| event.output.as_ref().map(|o| o.id.clone()))
        .unwrap_or_default();
    Ok(proto::OutputEventData {
        output: event.output.map(|o| proto::Output {
            id: o.id,
            r#type: output_type(&o.kind).into(),
            targets: o.targets,
            auto_start: o.auto_start,
            desired: desired(o.desired).into(),
            observed: observed(o.observed).into(),
            egress_id: o.egress_id.unwrap_or_default(),
            failure: o.failure.unwrap_or_default(),
            attempts: o.attempts,
            playback_url: o.playback_url.unwrap_or_default(),
            location: o.location.unwrap_or_default(),
            updated_at: millis(o.updated_at),
        }),
        output_id,
    })
}

// ---- the RPCs ----

type Answer<T> = Result<Response<T>, Status>;

/// Starting or stopping an output.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Switch {
    Start,
    Stop,
}

impl GrpcState {
    pub(crate) async fn create_ingest_rpc(
        &self,
        request: Request<proto::CreateIngestRequest>,
    ) -> Answer<proto::Ingest> {
        let exposure = exposure(&request);
        self.once("CreateIngest", request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            let kind = ingest_kind(&request).map_err(status)?;
            let created = self.service.create_ingest(id, kind).await.map_err(status)?;
            Ok(ingest(&created, exposure))
        })
        .await
    }

    pub(crate) async fn get_ingest_rpc(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Answer<proto::Ingest> {
        let exposure = exposure(&request);
        let id = stream_id(&request.into_inner().stream_id).map_err(status)?;
        let found = self.service.ingest(id).await.map_err(status)?;
        Ok(Response::new(ingest(&found, exposure)))
    }

    pub(crate) async fn rotate_ingest_key_rpc(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Answer<proto::Ingest> {
        let exposure = exposure(&request);
        self.once("RotateIngestKey", request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            let rotated = self.service.rotate_ingest_key(id).await.map_err(status)?;
            Ok(ingest(&rotated, exposure))
        })
        .await
    }

    pub(crate) async fn delete_ingest_rpc(
        &self,
        request: Request<proto::IngestRequest>,
    ) -> Answer<proto::DeleteIngestResponse> {
        self.once("DeleteIngest", request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            self.service.delete_ingest(id).await.map_err(status)?;
            Ok(proto::DeleteIngestResponse {})
        })
        .await
    }

    pub(crate) async fn add_output_rpc(
        &self,
        request: Request<proto::AddOutputRequest>,
    ) -> Answer<proto::Output> {
        let exposure = exposure(&request);
        self.once("AddOutput", request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            let spec = request
                .output
                .ok_or_else(|| status(ValidationError::new("output", "is required").into()))?;
            let new = output_spec(spec).map_err(status)?;
            let added = self.service.add_output(id, new).await.map_err(status)?;
            Ok(output(&added, exposure))
        })
        .await
    }

    pub(crate) async fn list_outputs_rpc(
        &self,
        request: Request<proto::ListOutputsRequest>,
    ) -> Answer<proto::ListOutputsResponse> {
        let exposure = exposure(&request);
        let id = stream_id(&request.into_inner().stream_id).map_err(status)?;
        let outputs = self.service.outputs(id).await.map_err(status)?;
        Ok(Response::new(proto::ListOutputsResponse {
            outputs: outputs.iter().map(|o| output(o, exposure)).collect(),
        }))
    }

    pub(crate) async fn get_output_rpc(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Answer<proto::Output> {
        let exposure = exposure(&request);
        let request = request.into_inner();
        let id = stream_id(&request.stream_id).map_err(status)?;
        let name = output_id(&request.output_id).map_err(status)?;
        let found = self.service.output(id, &name).await.map_err(status)?;
        Ok(Response::new(output(&found, exposure)))
    }

    pub(crate) async fn switch_output_rpc(
        &self,
        switch: Switch,
        request: Request<proto::OutputRequest>,
    ) -> Answer<proto::Output> {
        let exposure = exposure(&request);
        let method = match switch {
            Switch::Start => "StartOutput",
            Switch::Stop => "StopOutput",
        };
        self.once(method, request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            let name = output_id(&request.output_id).map_err(status)?;
            let changed = match switch {
                Switch::Start => self.service.start_output(id, &name).await,
                Switch::Stop => self.service.stop_output(id, &name).await,
            }
            .map_err(status)?;
            Ok(output(&changed, exposure))
        })
        .await
    }

    pub(crate) async fn remove_output_rpc(
        &self,
        request: Request<proto::OutputRequest>,
    ) -> Answer<proto::RemoveOutputResponse> {
        self.once("RemoveOutput", request, |request| async move {
            let id = stream_id(&request.stream_id).map_err(status)?;
            let name = output_id(&request.output_id).map_err(status)?;
            self.service
                .remove_output(id, &name)
                .await
                .map_err(status)?;
            Ok(proto::RemoveOutputResponse {})
        })
        .await
    }
}
