//! Write modes that do not fit the source: a source that reads everything on every run, feeding
//! a sink that appends, adds a full copy of the data per run ("no silent duplication"); an
//! incremental source feeding a sink that overwrites leaves only the latest changes. The loader
//! warns about both (at `validate` and `run`) from what the plugins declare —
//! [`Source::read_scope`](crate::plugin::Source::read_scope),
//! [`Sink::appends`](crate::plugin::Sink::appends) and
//! [`Sink::replaces`](crate::plugin::Sink::replaces) — so core names no plugin.

use std::collections::BTreeSet;

use super::{NodeId, SinkNode, SourceNode, TransformNode};
use crate::plugin::ReadScope;

/// What is wrong with one sink's write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mismatch {
    /// It appends, and every run reads everything: a full copy per run.
    FullCopies,
    /// It replaces, and runs read only what changed: the table keeps only the latest changes.
    OnlyChanges,
}

/// A sink whose write mode does not fit its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    /// The sink's id.
    pub sink: String,
    /// Its key that chose the write mode (`write_mode`, `mode`).
    pub key: &'static str,
    /// What is wrong.
    pub mismatch: Mismatch,
    /// Why: one phrase per source concerned.
    pub reasons: Vec<String>,
}

/// The sinks whose write mode does not fit what their sources (reached directly or through
/// transforms) read per run; `has_state` is whether the pipeline keeps a `[pipeline] state`.
pub(super) fn mismatches(
    sources: &[SourceNode],
    transforms: &[TransformNode],
    sinks: &[SinkNode],
    has_state: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for sink in sinks {
        let (key, mismatch) = match (sink.sink.appends(), sink.sink.replaces()) {
            (Some(key), _) => (key, Mismatch::FullCopies),
            (None, Some(key)) => (key, Mismatch::OnlyChanges),
            (None, None) => continue,
        };
        let reasons: Vec<String> = upstream(sink, transforms)
            .into_iter()
            .filter_map(|i| sources.get(i))
            .filter_map(|s| match (mismatch, s.source.read_scope(), has_state) {
                (Mismatch::FullCopies, ReadScope::Everything, _) => {
                    Some(format!("`sources.{}` reads everything on every run", s.id))
                }
                (Mismatch::FullCopies, ReadScope::SinceState, false) => Some(format!(
                    "`sources.{}` is incremental, but without `[pipeline] state` it reads \
                     everything on every run",
                    s.id
                )),
                (Mismatch::OnlyChanges, ReadScope::SinceState, true) => Some(format!(
                    "`sources.{}` reads only what changed since the last run",
                    s.id
                )),
                _ => None,
            })
            .collect();
        if !reasons.is_empty() {
            out.push(Finding {
                sink: sink.id.clone(),
                key,
                mismatch,
                reasons,
            });
        }
    }
    out
}

/// The indices of the sources feeding `sink`, directly or through transforms.
fn upstream(sink: &SinkNode, transforms: &[TransformNode]) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut stack: Vec<NodeId> = sink.inputs.clone();
    let mut seen = BTreeSet::new();
    while let Some(node) = stack.pop() {
        match node {
            NodeId::Source(i) => {
                found.insert(i);
            }
            NodeId::Transform(i) if seen.insert(i) => {
                if let Some(t) = transforms.get(i) {
                    stack.extend(t.inputs.iter().copied());
                }
            }
            NodeId::Transform(_) => {}
        }
    }
    found
}
