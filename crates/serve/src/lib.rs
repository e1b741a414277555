//! Serving traces over HTTP: the screening API, the tracking site and evidence reports.
//!
//! `index` traces every stored incident once and answers lookups from memory; `api` is the
//! axum router over it (errors, API keys, rate limits); `evidence` renders reports and
//! exports; `site` holds the embedded web page; `service` owns the store for writes and
//! rebuilds the index. Rules and shapes: docs/serve.md.

pub mod api;
pub mod evidence;
pub mod index;
pub mod keys;
pub mod limit;
pub mod service;
pub mod site;
pub mod views;

pub use index::{Index, IndexError, IndexOptions};
pub use service::{Backend, ServeOptions, Service};
