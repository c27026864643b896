//! `/streams/{id}/ingest` and `/streams/{id}/outputs`.

use reqwest::Method;

use crate::rest::{self, Call, Spec};
use crate::{Client, Ingest, NewIngest, NewOutput, Output};

impl Client {
    /// `POST /streams/{id}/ingest`: the address and key an encoder publishes with.
    pub fn create_ingest(&self, id: &str, request: &NewIngest) -> Call<Ingest> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "ingest"]).json(request);
        Call::new(self, spec, rest::json)
    }

    /// `GET /streams/{id}/ingest`.
    pub fn ingest(&self, id: &str) -> Call<Ingest> {
        Call::new(self, Spec::get(["streams", id, "ingest"]), rest::json)
    }

    /// `POST /streams/{id}/ingest/rotate`: a new stream key (the old one stops working).
    pub fn rotate_ingest_key(&self, id: &str) -> Call<Ingest> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "ingest", "rotate"]);
        Call::new(self, spec, rest::json)
    }

    /// `DELETE /streams/{id}/ingest`: its key stops working at once.
    pub fn delete_ingest(&self, id: &str) -> Call<()> {
        let spec = Spec::mutation(Method::DELETE, ["streams", id, "ingest"]);
        Call::new(self, spec, rest::json)
    }

    /// `GET /streams/{id}/outputs`.
    pub fn outputs(&self, id: &str) -> Call<Vec<Output>> {
        Call::new(self, Spec::get(["streams", id, "outputs"]), rest::json)
    }

    /// `POST /streams/{id}/outputs`: adds an output (one with `autoStart` starts when the
    /// stream goes live, at once if it is).
    pub fn add_output(&self, id: &str, request: &NewOutput) -> Call<Output> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "outputs"]).json(request);
        Call::new(self, spec, rest::json)
    }

    /// `GET /streams/{id}/outputs/{output}`.
    pub fn output(&self, id: &str, output: &str) -> Call<Output> {
        Call::new(
            self,
            Spec::get(["streams", id, "outputs", output]),
            rest::json,
        )
    }

    /// `POST /streams/{id}/outputs/{output}/start` (`202`: its egress starts in the
    /// background).
    pub fn start_output(&self, id: &str, output: &str) -> Call<Output> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "outputs", output, "start"]);
        Call::new(self, spec, rest::json)
    }

    /// `POST /streams/{id}/outputs/{output}/stop` (`202`).
    pub fn stop_output(&self, id: &str, output: &str) -> Call<Output> {
        let spec = Spec::mutation(Method::POST, ["streams", id, "outputs", output, "stop"]);
        Call::new(self, spec, rest::json)
    }

    /// `DELETE /streams/{id}/outputs/{output}`: stops its egress first if it runs.
    pub fn remove_output(&self, id: &str, output: &str) -> Call<()> {
        let spec = Spec::mutation(Method::DELETE, ["streams", id, "outputs", output]);
        Call::new(self, spec, rest::json)
    }
}
