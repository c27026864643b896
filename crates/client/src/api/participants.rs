//! `/streams/{id}/join`, `/leave` and `/participants`.

use reqwest::Method;
use serde::Serialize;

use crate::rest::{self, Call, Spec};
use crate::{Client, Join, JoinToken, Left, ListParticipants, Page, Participant};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Leave<'a> {
    participant_name: &'a str,
}

impl Client {
    /// `POST /streams/{id}/join`: a LiveKit access token for the participant (joining again
    /// while present is a fresh token and no new event).
    pub fn join(&self, id: &str, request: &Join) -> Call<JoinToken> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "join"]).json(request);
        Call::new(self, spec, rest::json)
    }

    /// `POST /streams/{id}/leave`: the participant leaves (and is disconnected from LiveKit);
    /// leaving twice is one leave.
    pub fn leave(&self, id: &str, identity: &str) -> Call<Left> {
        let body = Leave {
            participant_name: identity,
        };
        let spec = Spec::mutation(Method::POST, ["streams", id, "leave"]).json(&body);
        Call::new(self, spec, rest::json)
    }

    /// `GET /streams/{id}/participants`: a page of participants in order of first join.
    pub fn participants(&self, id: &str, request: &ListParticipants) -> Call<Page<Participant>> {
        let spec = Spec::get(["streams", id, "participants"]).query(request.query());
        Call::new(self, spec, rest::page)
    }
}
