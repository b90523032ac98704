//! What a source reads and records during a run: its committed watermarks and the new ones it
//! reaches. Plain data, below the plugin API ([`crate::plugin::RunContext::checkpoint`]); where
//! it is stored (and the I/O that takes) is [`crate::state`]'s business.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One unit's watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitMark {
    /// The newest `updated_time` committed (RFC 3339).
    pub watermark: String,
    /// Ids whose `updated_time` equals `watermark` (already committed: skipped at the boundary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids_at_watermark: Vec<String>,
}

/// Watermarks of one source: unit key → mark.
pub type SourceMarks = BTreeMap<String, UnitMark>;

/// What a source reads and records during a run (in [`crate::plugin::RunContext::checkpoint`]).
#[derive(Debug, Default)]
pub struct Checkpoint {
    stored: SourceMarks,
    advanced: Mutex<SourceMarks>,
}

impl Checkpoint {
    /// A checkpoint starting from `stored` (empty for a first run or `--full-refresh`).
    pub fn new(stored: SourceMarks) -> Self {
        Self {
            stored,
            advanced: Mutex::default(),
        }
    }

    /// The committed watermarks of this source, by unit key.
    pub fn watermarks(&self) -> &SourceMarks {
        &self.stored
    }

    /// Records `unit`'s new watermark. Call it only for a unit read to the end; it is stored only
    /// once every sink committed this run.
    pub fn advance(&self, unit: impl Into<String>, mark: UnitMark) {
        crate::sync::lock(&self.advanced).insert(unit.into(), mark);
    }

    /// Everything recorded so far.
    pub fn advanced(&self) -> SourceMarks {
        crate::sync::lock(&self.advanced).clone()
    }
}

/// The set of ids in a mark, for boundary dedupe.
pub fn boundary_ids(mark: Option<&UnitMark>) -> BTreeSet<String> {
    mark.map(|m| m.ids_at_watermark.iter().cloned().collect())
        .unwrap_or_default()
}
