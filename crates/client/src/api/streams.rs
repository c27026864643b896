//! `/streams`: create, list, read, state, update, stop.

use reqwest::Method;

use crate::rest::{self, Call, Spec};
use crate::{Client, CreateStream, ListStreams, Page, Stopped, Stream, StreamState, UpdateStream};

impl Client {
    /// `POST /streams`: creates a stream (its LiveKit room first); `201` with the stream.
    pub fn create_stream(&self, request: &CreateStream) -> Call<Stream> {
        let spec = Spec::mutation(Method::POST, ["streams"]).json(request);
        Call::new(self, spec, rest::json)
    }

    /// `GET /streams`: a page of streams, oldest first.
    pub fn list_streams(&self, request: &ListStreams) -> Call<Page<Stream>> {
        let spec = Spec::get(["streams"]).query(request.query());
        Call::new(self, spec, rest::page)
    }

    /// `GET /streams/{id}`: one stream, with its participants while at most 100 joined.
    pub fn stream(&self, id: &str) -> Call<Stream> {
        Call::new(self, Spec::get(["streams", id]), rest::json)
    }

    /// `GET /streams/{id}/state`: what a dashboard rebuilds its view from, and the seq to
    /// follow from.
    pub fn stream_state(&self, id: &str) -> Call<StreamState> {
        Call::new(self, Spec::get(["streams", id, "state"]), rest::json)
    }

    /// `PATCH /streams/{id}`: moves the status and/or merges the metadata. Add
    /// [`Call::if_match`] (or [`UpdateStream::version`]) for optimistic concurrency.
    pub fn update_stream(&self, id: &str, request: &UpdateStream) -> Call<Stream> {
        let spec = Spec::mutation(Method::PATCH, ["streams", id]).json(request);
        Call::new(self, spec, rest::json)
    }

    /// `DELETE /streams/{id}`: stops the stream (everyone still present leaves); stopping
    /// again answers the same.
    pub fn stop_stream(&self, id: &str) -> Call<Stopped> {
        Call::new(
            self,
            Spec::mutation(Method::DELETE, ["streams", id]),
            rest::json,
        )
    }
}
