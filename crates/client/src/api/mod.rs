//! The REST operations, as methods of [`Client`](crate::Client): each builds its request and
//! names how its answer decodes; `rest` does the rest. Paths are built from segments, so an id
//! or a name is percent-encoded and never changes the route.

mod broadcast;
mod participants;
mod service;
mod streams;
