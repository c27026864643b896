//! The `orchestrator` application: reads the configuration, wires the adapters into the
//! domain service, binds every listener, runs until told to shut down.
//!
//! Only this crate knows every other crate. With no `LIVEKIT_URL` it starts the embedded
//! LiveKit emulator on a free loopback port and points both the LiveKit adapter and the
//! emulator's webhooks at this process, so the whole API runs with zero set-up.
//!
//! # Layout
//!
//! - [`settings`]: [`Settings`], layered from `config/*.toml` and the environment, each value
//!   with the place it was set; keys that are no setting refused.
//! - [`checks`]: what a configuration must satisfy to start (every value as the service reads
//!   it, the production guards): run by `check-config`, and by `serve` before it listens.
//! - [`cli`]: the command line (`serve`, `print-config`, `check-config`, `generate-keys`).
//! - [`telemetry`]: tracing subscriber set-up (human or JSON), once per process; the metrics
//!   recorder behind `/metrics` and the catalogue of every family ([`telemetry::metrics`]).
//! - [`startup`]: [`Application`]: `build` binds and wires (media server, stores, use cases,
//!   transports), `run_until` serves until a shutdown
//!   future resolves, then drains in-flight requests.

pub mod checks;
pub mod cli;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
