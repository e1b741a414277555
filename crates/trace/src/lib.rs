//! Tracing: the chain-ordered flow graph, one walker, pluggable taint policies, reports.
//!
//! Data flows graph → walker → report. The walker is written once; policies are types
//! implementing [`policy::Policy`] and are picked at run time by [`PolicyName`] through
//! [`trace`], which monomorphises the walker per policy so the hot loop has no dynamic
//! dispatch.

pub mod graph;
pub mod policy;
pub mod report;
mod walker;

pub use graph::{Graph, GraphBuilder, GraphError, Legs};
pub use policy::{PolicyName, PolicyNameError};
pub use report::{AddressTaint, Exit, Movement, Outcome, Summary, TraceResult};
pub use walker::{Direction, TraceError, TraceSpec};

/// Runs one trace of `graph` under `policy`.
pub fn trace(
    graph: &Graph,
    spec: &TraceSpec,
    policy: PolicyName,
) -> Result<TraceResult, TraceError> {
    use policy::*;
    match policy {
        PolicyName::Poison => walker::walk::<Poison>(graph, spec),
        PolicyName::Haircut => walker::walk::<Haircut>(graph, spec),
        PolicyName::Fifo => walker::walk::<Fifo>(graph, spec),
        PolicyName::Lifo => walker::walk::<Lifo>(graph, spec),
        PolicyName::Tiho => walker::walk::<Tiho>(graph, spec),
        PolicyName::DirtyFirst => walker::walk::<DirtyFirst>(graph, spec),
        PolicyName::CleanFirst => walker::walk::<CleanFirst>(graph, spec),
    }
}
