//! Watching live chains: what the 2018 Coincheck responders did by hand with a tagging
//! bot, done right (rules in `docs/watch.md`).
//!
//! Data flows: the chain's sync appends blocks to the store (reorg-aware) → [`engine`]
//! traces every incident over the stored chain with the movement list on and runs the
//! [`drain`] rules → the difference from what was already said becomes [`alert`] log
//! records and signed [`feed`] notices, written in one durable batch → [`sink`]s deliver
//! the log from their own cursors (stdout JSON lines, a webhook, server-sent events).
//! [`run`] is the loop around it.

pub mod alert;
pub mod drain;
pub mod engine;
pub mod feed;
pub mod run;
pub mod sink;

pub use alert::{Alert, Event, Kind, Priority, Record};
pub use engine::{evaluate, StepReport, WatchConfig, WatchError, Watcher};
pub use run::{run, Followed, Progress, RunOptions};
