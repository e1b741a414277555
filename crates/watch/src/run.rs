//! The watch loop: follow the node (the chain's sync), judge, deliver, wait, again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ashiato_store::Store;

use crate::engine::{StepReport, WatchError, Watcher};
use crate::sink::{deliver, Sink};

/// What one round of following the node did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Followed {
    /// The stored chain's height afterwards.
    pub height: u64,
    pub blocks: u64,
    /// A reorganisation cut the stored chain back to this height first.
    pub rolled_back_to: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Time between asking the node for new blocks.
    pub poll: Duration,
    /// Stop once the stored chain reaches this height and everything is delivered.
    pub until_height: Option<u64>,
    /// Set from elsewhere (a signal handler, a test) to end the loop.
    pub stop: Arc<AtomicBool>,
}

/// What happened in one round, for a progress line.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    Round {
        followed: Followed,
        step: Option<&'a StepReport>,
    },
    /// The node failed this round; the watch goes on and asks again.
    NodeError(&'a str),
    SinkError(&'a str),
}

/// Runs until `stop` is set or `until_height` is reached. Node and sink failures are
/// reported through `progress` and retried next round; only the store failing ends it.
///
/// `refresh` is called with the store at the start, after every round that synced blocks
/// and after every step that wrote: what serves the store (a [`crate::sink::Hub`], a
/// screening index) reloads there.
pub fn run(
    store: &mut Store,
    watcher: &Watcher,
    follow: &mut dyn FnMut(&mut Store) -> Result<Followed, String>,
    sinks: &mut [Box<dyn Sink>],
    refresh: &mut dyn FnMut(&Store) -> Result<(), WatchError>,
    opts: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(), WatchError> {
    let stop = &opts.stop;
    let mut first = true;
    let mut refreshed = false;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let followed = match follow(store) {
            Ok(f) => Some(f),
            Err(e) => {
                progress(Progress::NodeError(&e));
                None
            }
        };
        // Judge on the first round even without new blocks: a kill may have come between
        // a sync commit and the step that should have followed it.
        let step = match followed {
            Some(f) if first || f.blocks > 0 || f.rolled_back_to.is_some() => {
                Some(watcher.step(store, f.rolled_back_to)?)
            }
            _ => None,
        };
        first &= followed.is_none();
        for s in sinks.iter_mut() {
            match deliver(store, s.as_mut()) {
                Ok(_) => {}
                Err(crate::sink::DeliverError::Watch(e)) => return Err(e),
                Err(crate::sink::DeliverError::Sink(e)) => progress(Progress::SinkError(&e)),
            }
        }
        // New blocks change balances and the chain's digest even when no alert changed.
        let moved = followed.is_some_and(|f| f.blocks > 0 || f.rolled_back_to.is_some());
        if !refreshed || moved || step.as_ref().is_some_and(StepReport::wrote) {
            refresh(store)?;
            refreshed = true;
        }
        if let Some(f) = followed {
            progress(Progress::Round {
                followed: f,
                step: step.as_ref(),
            });
            if opts.until_height.is_some_and(|u| f.height >= u) {
                break;
            }
        }
        let rest = opts.poll.saturating_sub(started.elapsed());
        let deadline = Instant::now() + rest;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(20)));
        }
    }
    Ok(())
}
