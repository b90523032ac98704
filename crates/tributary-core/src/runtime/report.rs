//! What a run reports: per source, per sink, and the run as a whole.

use std::time::Duration;

use crate::plugin::SinkReport;
use crate::telemetry::UnitReport;

/// What one source produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceRunReport {
    /// The source's id.
    pub id: String,
    /// Batches read.
    pub batches: u64,
    /// Rows read.
    pub rows: u64,
    /// Whether the source was read to its end (not cut by `--limit` or an early stop): only
    /// then are its new watermarks stored.
    #[serde(skip)]
    pub complete: bool,
}

/// What one sink committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SinkRunReport {
    /// The sink's id.
    pub id: String,
    /// The plugin.
    pub plugin: String,
    /// What it committed.
    pub report: SinkReport,
}

/// The outcome of a successful run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// This run's id.
    pub run_id: String,
    /// Per source.
    pub sources: Vec<SourceRunReport>,
    /// Per sink, in file order.
    pub sinks: Vec<SinkRunReport>,
    /// Every unit's counters (per Graph page/platform/folder, per sink).
    pub units: Vec<UnitReport>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

pub(super) fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A sink's outcome: its report and, in a two-phase run, the plan that commits it.
pub(super) type SinkOutcome = (SinkRunReport, Option<serde_json::Value>);
