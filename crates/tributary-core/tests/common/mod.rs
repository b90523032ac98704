//! Test-only plugins: a generator source, a transform, and a collecting sink whose behaviour
//! (slow, failing, limited) is set in the pipeline file.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use arrow::array::{Array, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use tributary_core::plugin::*;
use tributary_core::registry::Registry;
use tributary_core::{BuildError, RunError};

/// Shared observations, keyed by the `tag` given in the pipeline file.
#[derive(Default)]
pub struct Probe {
    /// Rows committed by each collect sink (only filled by `finish`).
    pub committed: Mutex<HashMap<String, Vec<i64>>>,
    /// Rows written (before commit) per sink.
    pub written: Mutex<HashMap<String, u64>>,
    /// Batches produced by gen sources minus batches written by sinks, and its maximum.
    pub in_flight: AtomicI64,
    pub max_in_flight: AtomicI64,
    pub produced: AtomicU64,
}

static PROBES: LazyLock<Mutex<HashMap<String, Arc<Probe>>>> = LazyLock::new(Mutex::default);

pub fn probe(tag: &str) -> Arc<Probe> {
    PROBES
        .lock()
        .unwrap()
        .entry(tag.to_owned())
        .or_default()
        .clone()
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("src", DataType::Utf8, false),
    ]))
}

// ---------------------------------------------------------------- gen source

pub struct Gen;

/// Generates `batches` batches of `rows` rows numbered from `start`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenConfig {
    /// Probe tag.
    pub tag: String,
    /// Number of batches.
    pub batches: u64,
    /// Rows per batch.
    #[serde(default = "ten")]
    pub rows: u64,
    /// First row number.
    #[serde(default)]
    pub start: i64,
    /// Fail after this many batches.
    #[serde(default)]
    pub fail_after: Option<u64>,
    /// Never end (until cancelled); for interrupt tests.
    #[serde(default)]
    pub endless: bool,
    /// Emit a different schema (for fan-in checks).
    #[serde(default)]
    pub other_schema: bool,
}

fn ten() -> u64 {
    10
}

struct GenSource {
    cfg: GenConfig,
    id: String,
}

impl SourcePlugin for Gen {
    const NAME: &'static str = "gen";
    const DESCRIPTION: &'static str = "test generator";
    type Config = GenConfig;
    fn build(config: GenConfig, ctx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        if config.rows == 0 {
            return Err(BuildError::at("rows", "must be at least 1").with_help("use rows = 1"));
        }
        Ok(Box::new(GenSource {
            cfg: config,
            id: ctx.id.clone(),
        }))
    }
}

impl Source for GenSource {
    fn schema(&self) -> SchemaRef {
        if self.cfg.other_schema {
            Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, false)]))
        } else {
            schema()
        }
    }
    fn open(self: Box<Self>, _ctx: &RunContext) -> BatchStream {
        let probe = probe(&self.cfg.tag);
        let cfg = self.cfg;
        let id = self.id;
        let schema = schema();
        let stream = futures::stream::unfold(0u64, move |i| {
            let probe = probe.clone();
            let schema = schema.clone();
            let id = id.clone();
            let (batches, rows, start, fail_after, endless) = (
                cfg.batches,
                cfg.rows,
                cfg.start,
                cfg.fail_after,
                cfg.endless,
            );
            async move {
                if fail_after == Some(i) {
                    return Some((Err(RunError::msg("gen failed on purpose")), i + 1));
                }
                if i >= batches && !endless {
                    return None;
                }
                if endless {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let first = start + (i * rows) as i64;
                let n: Int64Array = (first..first + rows as i64).collect();
                let src = StringArray::from(vec![id.as_str(); rows as usize]);
                let batch = RecordBatch::try_new(schema, vec![Arc::new(n), Arc::new(src)])
                    .map_err(RunError::from);
                let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                probe.max_in_flight.fetch_max(now, Ordering::SeqCst);
                probe.produced.fetch_add(1, Ordering::SeqCst);
                Some((batch, i + 1))
            }
        });
        Box::pin(stream)
    }
}

// ---------------------------------------------------------------- even transform

pub struct Even;

/// Keeps even `n`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvenConfig {
    /// Keep odd ones instead.
    #[serde(default)]
    pub odd: bool,
}

struct EvenTransform {
    odd: bool,
    schema: SchemaRef,
}

impl TransformPlugin for Even {
    const NAME: &'static str = "even";
    const DESCRIPTION: &'static str = "keeps even rows";
    type Config = EvenConfig;
    fn build(
        c: EvenConfig,
        input: &BuildInput,
        _: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError> {
        if input.schema.field_with_name("n").is_err() {
            return Err(BuildError::new("input has no column `n`"));
        }
        Ok(Box::new(EvenTransform {
            odd: c.odd,
            schema: input.schema.clone(),
        }))
    }
}

impl Transform for EvenTransform {
    fn output_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        let n = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| RunError::msg("n"))?;
        let keep: arrow::array::BooleanArray = n
            .iter()
            .map(|v| v.map(|v| (v % 2 != 0) == self.odd))
            .collect();
        let out = filter_record_batch(&batch, &keep)?;
        Ok((out.num_rows() > 0).then_some(out))
    }
}

// ---------------------------------------------------------------- collect sink

pub struct Collect;

/// Collects rows; commits them into the probe at `finish`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// Probe tag.
    pub tag: String,
    /// Sleep this long per batch.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fail on this batch (0-based).
    #[serde(default)]
    pub fail_on: Option<u64>,
    /// Fail in finish.
    #[serde(default)]
    pub fail_finish: bool,
    /// Want no more after this many rows.
    #[serde(default)]
    pub max_rows: Option<u64>,
}

struct CollectSink {
    cfg: CollectConfig,
    id: String,
    rows: Vec<i64>,
    batches: u64,
}

impl SinkPlugin for Collect {
    const NAME: &'static str = "collect";
    const DESCRIPTION: &'static str = "collects rows";
    type Config = CollectConfig;
    fn build(
        c: CollectConfig,
        _: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        Ok(Box::new(CollectSink {
            cfg: c,
            id: ctx.id.clone(),
            rows: Vec::new(),
            batches: 0,
        }))
    }
}

impl Sink for CollectSink {
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            let probe = probe(&self.cfg.tag);
            if self.cfg.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(self.cfg.delay_ms)).await;
            }
            if self.cfg.fail_on == Some(self.batches) {
                return Err(RunError::msg("collect failed on purpose"));
            }
            self.batches += 1;
            probe.in_flight.fetch_sub(1, Ordering::SeqCst);
            let n = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| RunError::msg("n"))?;
            self.rows.extend(n.values().iter().copied());
            *probe
                .written
                .lock()
                .unwrap()
                .entry(self.id.clone())
                .or_default() += n.len() as u64;
            Ok(())
        })
    }
    fn wants_more(&self) -> bool {
        self.cfg
            .max_rows
            .is_none_or(|m| (self.rows.len() as u64) < m)
    }
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
        Box::pin(async move {
            if self.cfg.fail_finish {
                return Err(RunError::msg("finish failed on purpose"));
            }
            let probe = probe(&self.cfg.tag);
            let rows = self.rows.len() as u64;
            probe
                .committed
                .lock()
                .unwrap()
                .insert(self.id.clone(), self.rows);
            Ok(SinkReport {
                rows,
                files: 0,
                bytes: 0,
                location: None,
            })
        })
    }
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.source::<Gen>().transform::<Even>().sink::<Collect>();
    r
}

/// Unique tag per test.
pub fn tag(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7())
}
