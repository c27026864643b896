//! Route groups, each with a `configure` that mounts it.

pub(crate) mod broadcast;
mod by_id;
pub mod events;
pub mod health;
mod paging;
pub mod streams;
pub mod tickets;
pub mod webhooks;
