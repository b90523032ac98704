//! The plugin model (README, *Adding a plugin*).
//!
//! A plugin is a type implementing one of [`SourcePlugin`], [`TransformPlugin`] or [`SinkPlugin`]:
//! a `NAME` (the TOML `type` value), a `Config` (serde, `deny_unknown_fields`, every field
//! documented: the docs become `tributary plugins` and the JSON Schema) and a pure `build` step
//! that validates and constructs without network or file I/O, so `tributary validate` can build
//! every component of a pipeline safely. What `build` returns is a runtime object:
//!
//! - [`Source`]: opens into a stream of Arrow `RecordBatch`es. The stream is pull-based: not
//!   polling it is backpressure.
//! - [`Transform`]: a per-batch function, applied inline in the task that produced the batch.
//! - [`Sink`]: receives batches with [`Sink::write`], then commits with a consuming
//!   [`Sink::finish`]. **The commit contract:** nothing a sink writes may become visible to
//!   readers before `finish` returns `Ok`; a sink dropped without `finish` (a failed or
//!   interrupted run) commits nothing. The runtime calls `finish` only when every source ended
//!   cleanly and every sink accepted every batch.
//!
//! A whole plugin set, end to end — a source, a transform and a sink, registered, loaded from a
//! pipeline file and run (this example is a test: `cargo test --doc -p tributary-core`):
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use arrow::array::{Array, Int64Array};
//! use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
//! use arrow::record_batch::RecordBatch;
//! use futures::future::BoxFuture;
//! use tributary_core::plugin::*;
//! use tributary_core::registry::Registry;
//! use tributary_core::{BuildError, RunError, config, runtime};
//!
//! fn numbers() -> SchemaRef {
//!     Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
//! }
//!
//! /// `type = "count"`: the numbers 1..=`to`, in one batch.
//! struct Count;
//! /// Configuration of `count`.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct CountConfig {
//!     /// The last number.
//!     to: i64,
//! }
//! struct CountSource(i64);
//!
//! impl SourcePlugin for Count {
//!     const NAME: &'static str = "count";
//!     const DESCRIPTION: &'static str = "The numbers 1 to `to`.";
//!     type Config = CountConfig;
//!     fn build(c: CountConfig, _: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
//!         if c.to < 1 {
//!             return Err(BuildError::at("to", "must be at least 1"));
//!         }
//!         Ok(Box::new(CountSource(c.to)))
//!     }
//! }
//!
//! impl Source for CountSource {
//!     fn schema(&self) -> SchemaRef {
//!         numbers()
//!     }
//!     fn open(self: Box<Self>, _: &RunContext) -> BatchStream {
//!         let column: Int64Array = (1..=self.0).collect();
//!         let batch = RecordBatch::try_new(numbers(), vec![Arc::new(column)]).map_err(RunError::from);
//!         Box::pin(futures::stream::iter([batch]))
//!     }
//! }
//!
//! /// `type = "even"`: keeps the even numbers.
//! struct Even;
//! /// Configuration of `even` (it has none).
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct EvenConfig {}
//! struct EvenTransform(SchemaRef);
//!
//! impl TransformPlugin for Even {
//!     const NAME: &'static str = "even";
//!     const DESCRIPTION: &'static str = "Keeps even `n`.";
//!     type Config = EvenConfig;
//!     fn build(_: EvenConfig, input: &BuildInput, _: &BuildContext) -> Result<Box<dyn Transform>, BuildError> {
//!         Ok(Box::new(EvenTransform(input.schema.clone())))
//!     }
//! }
//!
//! impl Transform for EvenTransform {
//!     fn output_schema(&self) -> SchemaRef {
//!         self.0.clone()
//!     }
//!     fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
//!         let n = batch.column(0).as_any().downcast_ref::<Int64Array>().ok_or_else(|| RunError::msg("n"))?;
//!         let keep: arrow::array::BooleanArray = n.iter().map(|v| v.map(|v| v % 2 == 0)).collect();
//!         Ok(Some(arrow::compute::filter_record_batch(&batch, &keep)?))
//!     }
//! }
//!
//! /// What the `memory` sink committed (a real sink writes files or a table).
//! static COMMITTED: Mutex<Vec<i64>> = Mutex::new(Vec::new());
//!
//! /// `type = "memory"`: keeps rows in memory and "commits" them on `finish`.
//! struct Memory;
//! /// Configuration of `memory` (it has none).
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct MemoryConfig {}
//! struct MemorySink(Vec<i64>);
//!
//! impl SinkPlugin for Memory {
//!     const NAME: &'static str = "memory";
//!     const DESCRIPTION: &'static str = "Rows kept in memory.";
//!     type Config = MemoryConfig;
//!     fn build(_: MemoryConfig, _: &BuildInput, _: &BuildContext) -> Result<Box<dyn Sink>, BuildError> {
//!         Ok(Box::new(MemorySink(Vec::new())))
//!     }
//! }
//!
//! impl Sink for MemorySink {
//!     fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
//!         // Staged, invisible until `finish`: the commit contract.
//!         if let Some(n) = batch.column(0).as_any().downcast_ref::<Int64Array>() {
//!             self.0.extend(n.iter().flatten());
//!         }
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
//!         Box::pin(async move {
//!             let rows = self.0.len() as u64;
//!             tributary_core::sync::lock(&COMMITTED).extend(self.0);
//!             Ok(SinkReport { rows, files: 0, bytes: 0, location: None })
//!         })
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.source::<Count>().transform::<Even>().sink::<Memory>();
//! let toml = r#"
//!     [sources.numbers]
//!     type = "count"
//!     to   = 10
//!
//!     [transforms.evens]
//!     type   = "even"
//!     inputs = ["numbers"]
//!
//!     [sinks.kept]
//!     type   = "memory"
//!     inputs = ["evens"]
//! "#;
//! let pipeline = config::load_str(toml, "example.toml".as_ref(), &registry, &|_| None)
//!     .map_err(|e| e.to_string())?;
//! let report = tokio::runtime::Runtime::new()?
//!     .block_on(runtime::run(pipeline, runtime::RunOptions::default()))?;
//! assert_eq!(report.sinks[0].report.rows, 5);
//! assert_eq!(*tributary_core::sync::lock(&COMMITTED), [2, 4, 6, 8, 10]);
//!
//! // `validate` catches a bad value at build time, with the key.
//! let bad = config::load_str(&toml.replace("to   = 10", "to   = 0"), "example.toml".as_ref(), &registry, &|_| None);
//! assert!(bad.map(|_| ()).unwrap_err().to_string().contains("must be at least 1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentId, Kind};
use crate::error::{BuildError, RunError};

/// A stream of record batches, as produced by a [`Source`].
pub type BatchStream = BoxStream<'static, Result<RecordBatch, RunError>>;

/// The type behind a `[sources.ID]` table.
pub trait SourcePlugin: 'static {
    /// The TOML `type` value.
    const NAME: &'static str;
    /// One line for `tributary plugins`.
    const DESCRIPTION: &'static str;
    /// The component's configuration (`#[serde(deny_unknown_fields)]`, every field documented).
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// Validates the configuration and constructs the source. No network or file I/O.
    fn build(config: Self::Config, ctx: &BuildContext) -> Result<Box<dyn Source>, BuildError>;
}

/// The type behind a `[transforms.ID]` table.
pub trait TransformPlugin: 'static {
    /// The TOML `type` value.
    const NAME: &'static str;
    /// One line for `tributary plugins`.
    const DESCRIPTION: &'static str;
    /// The component's configuration.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// Validates the configuration against the input and constructs the transform. No I/O.
    fn build(
        config: Self::Config,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError>;
}

/// The type behind a `[sinks.ID]` table.
pub trait SinkPlugin: 'static {
    /// The TOML `type` value.
    const NAME: &'static str;
    /// One line for `tributary plugins`.
    const DESCRIPTION: &'static str;
    /// The component's configuration.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// Validates the configuration against the input and constructs the sink. No I/O.
    fn build(
        config: Self::Config,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError>;

    /// For a sink whose [`Sink::prepare`] returns plans of its own (a table format with its own
    /// commit protocol, such as Delta Lake) rather than the lake layer's: the plans' `kind` and
    /// the function that commits them. The runtime calls it after the state's write-ahead record
    /// is written, and again on the next run if a crash interrupted the commit, so it must be
    /// idempotent. Sinks that share a commit protocol (the file sinks over `tributary-lake`)
    /// register the same `kind` and function. `None` (the default): the sink returns no plans.
    const COMMITTER: Option<(&'static str, CommitFn)> = None;
}

/// Commits a plan returned by [`Sink::prepare`] (see [`SinkPlugin::COMMITTER`]).
pub type CommitFn = fn(serde_json::Value) -> BoxFuture<'static, Result<SinkReport, RunError>>;

/// The commit functions of every registered sink that has one, by plan `kind`.
#[derive(Clone, Default)]
pub struct Committers(BTreeMap<&'static str, CommitFn>);

impl std::fmt::Debug for Committers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Committers {
    /// Registers `commit` for plans of `kind`. Sinks sharing a commit protocol register the
    /// same kind with the same function; the first registration is kept.
    pub fn insert(&mut self, kind: &'static str, commit: CommitFn) {
        self.0.entry(kind).or_insert(commit);
    }

    /// Commits `plan` with the function registered for its `kind`. Idempotent.
    pub async fn commit(&self, plan: &serde_json::Value) -> Result<SinkReport, RunError> {
        let kind = plan.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        match self.0.get(kind) {
            Some(commit) => commit(plan.clone()).await,
            None => Err(RunError::msg(format!(
                "unknown commit plan kind `{kind}`: this build commits {}",
                self.0
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A running source of record batches.
pub trait Source: Send + 'static {
    /// The schema of every batch the stream yields.
    fn schema(&self) -> SchemaRef;

    /// Value domains this source guarantees for some of its columns (for example, the Graph
    /// source only emits the `folders` it was configured with). Transforms directly below the
    /// source see them in [`BuildInput::domains`] and can warn about work fetched for nothing.
    fn domains(&self) -> Vec<ValueDomain> {
        Vec::new()
    }

    /// What each run reads (for the loader's "no silent duplication" warning: a source that
    /// reads everything every run, feeding a sink that appends, adds a full copy per run). The
    /// default makes no claim.
    fn read_scope(&self) -> ReadScope {
        ReadScope::Unknown
    }

    /// Starts the source. Network and file I/O begins here (lazily, as the stream is polled).
    /// The stream should end early, cleanly, when `ctx.cancel` fires.
    fn open(self: Box<Self>, ctx: &RunContext) -> BatchStream;

    /// `tributary check`: verifies credentials, permissions and reachability with one cheap
    /// call per target, reading no data. The default has nothing to check.
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Vec<CheckResult>> {
        let _ = ctx;
        Box::pin(async { Vec::new() })
    }
}

/// The outcome of one check of `tributary check`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// What was checked (for the Graph source: `page 104857600000001 instagram`).
    pub target: String,
    /// Whether it passed.
    pub ok: bool,
    /// What happened (the API's answer, redacted).
    pub detail: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

/// A per-batch function applied inline between a source and its sinks.
///
/// Most transforms implement only [`Transform::apply`]: one batch in, at most one out, no state.
/// A *streaming* transform (one that talks to an external process, or whose output does not
/// line up with its input batches) also overrides the three hooks the runtime actually calls:
/// [`Transform::start`] once per run, [`Transform::push`] per input batch (any number of batches
/// out, possibly none yet), and [`Transform::flush`] after the last input, until it returns
/// `None`. Their defaults make a plain `apply` transform behave exactly as before.
pub trait Transform: Send + Sync + 'static {
    /// The schema of every batch [`Transform::apply`] returns.
    fn output_schema(&self) -> SchemaRef;

    /// Transforms one batch. `Ok(None)` drops it (for example, a filter that kept no row):
    /// transforms never forward empty batches.
    fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError>;

    /// Called once per run, before the first batch, with the run's identity (run id, shard,
    /// cancellation). Streaming transforms start their resources here (I/O is allowed). The
    /// default does nothing.
    fn start<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// Takes one input batch and returns the output batches ready so far (none, one or
    /// several). The runtime calls this, not `apply`; it may be called from several source
    /// tasks at once when the transform has several inputs. The default is [`Transform::apply`].
    fn push<'a>(&'a self, batch: RecordBatch) -> BoxFuture<'a, Result<Vec<RecordBatch>, RunError>> {
        Box::pin(async move { Ok(self.apply(batch)?.into_iter().collect()) })
    }

    /// After the last input batch of a run whose inputs all ended cleanly: the output still to
    /// come, one batch per call, until `Ok(None)`. One batch at a time keeps memory bounded
    /// however much output is pending. Not called when the run fails or is interrupted (the
    /// transform is dropped instead). The default has nothing pending.
    fn flush(&self) -> BoxFuture<'_, Result<Option<RecordBatch>, RunError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A destination for record batches, with an explicit commit.
///
/// Call order: [`Sink::start`] once, [`Sink::write`] for each batch, then [`Sink::finish`]
/// exactly once — or drop the sink to abandon the run. `finish` flushes, makes the data visible
/// atomically (rename, completed upload, table commit) and reports what it committed.
pub trait Sink: Send + 'static {
    /// Called once before the first write, with the run's identity (run id for file names, ...).
    /// Sinks may do I/O here (create a directory, check a bucket).
    fn start<'a>(&'a mut self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// Writes one batch. Data written here must stay invisible to readers until `finish`.
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>>;

    /// `false` once the sink wants no more data (a row limit was reached, standard output was
    /// closed). The runtime then stops feeding it and, when no sink wants data, stops the sources
    /// early; the run still ends successfully and `finish` is still called.
    fn wants_more(&self) -> bool {
        true
    }

    /// `Some(key)` when every run adds its rows to what earlier runs committed, naming the config
    /// key that chose it (`write_mode`, `mode`), for the loader's "no silent duplication"
    /// warning. `None` (the default): the sink replaces, merges, or keeps nothing.
    fn appends(&self) -> Option<&'static str> {
        None
    }

    /// `Some(key)` when every run replaces what earlier runs committed (an overwrite), naming the
    /// config key that chose it, for the loader's warning about an incremental source feeding
    /// it (the table would keep only the latest changes). `None` (the default): it does not.
    fn replaces(&self) -> Option<&'static str> {
        None
    }

    /// Whether the sink stages its output invisibly and publishes it in one step at `finish`
    /// (files, tables) — as opposed to a sink whose output takes effect as it goes or whose
    /// `finish` is an irrevocable act (standard output; an `exec` child, whose exit status is its
    /// commit). Without a `state`, the runtime finishes the sinks that do not stage first and
    /// those that stage only if all of them succeeded, so a failing `exec` sink leaves nothing
    /// committed elsewhere. (With a state every sink is prepared before any plan is committed,
    /// which gives the same guarantee.) Default: `false`.
    fn stages(&self) -> bool {
        false
    }

    /// Flushes and commits everything written, atomically, and reports it.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>>;

    /// The first phase of a two-phase commit (used when the pipeline keeps a `state`): flush
    /// everything to invisible staging and return a serializable, self-contained plan that
    /// the committer of its `kind` ([`SinkPlugin::COMMITTER`]) makes visible later, idempotently (the runtime records it in
    /// the state's write-ahead record first, so a crash is rolled forward by the next run).
    /// The default commits at once (`finish`) and returns no plan: fine for sinks that cannot
    /// stage (standard output).
    fn prepare(self: Box<Self>) -> BoxFuture<'static, Result<Prepared, RunError>> {
        Box::pin(async move {
            let report = self.finish().await?;
            Ok(Prepared { report, plan: None })
        })
    }
}

/// What each run of a source reads ([`Source::read_scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// The source makes no claim.
    Unknown,
    /// Everything, every run (a full extract).
    Everything,
    /// Only what changed since the watermarks stored in `[pipeline] state`; without a state,
    /// everything every run.
    SinceState,
}

/// What [`Sink::prepare`] returns.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the sink will have committed once `plan` is committed.
    pub report: SinkReport,
    /// The commit plan (`None`: already committed).
    pub plan: Option<serde_json::Value>,
}

/// What a sink committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SinkReport {
    /// Rows committed.
    pub rows: u64,
    /// Files (or objects) committed.
    pub files: u64,
    /// Bytes committed.
    pub bytes: u64,
    /// Where the data went (a directory, a URL, `stdout`).
    pub location: Option<String>,
}

/// What a build step knows about its input.
#[derive(Debug, Clone)]
pub struct BuildInput {
    /// The schema of every batch the component will receive. With fan-in, all inputs agree on it.
    pub schema: SchemaRef,
    /// Value domains guaranteed by the upstream component, when it is a source feeding this
    /// component directly (empty otherwise).
    pub domains: Vec<ValueDomain>,
}

/// "Column `column` only ever holds one of `values`, as configured by `configured_by`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueDomain {
    /// The column.
    pub column: String,
    /// Every value the column can take in this source's output.
    pub values: Vec<String>,
    /// The config key that controls the domain, as `sources.ID.key` (used in warnings).
    pub configured_by: String,
}

/// Context for a build step: who is being built, and a place to leave warnings.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The pipeline's name.
    pub pipeline: String,
    /// The component's id (the `ID` of `[sinks.ID]`).
    pub id: String,
    /// Source, transform or sink.
    pub kind: Kind,
    /// The folder of the pipeline file (relative paths in a config, such as a script an `exec`
    /// plugin runs, are relative to it). `.` when the pipeline did not come from a file.
    pub dir: std::path::PathBuf,
    warnings: Arc<Mutex<Vec<BuildWarning>>>,
}

/// A warning left by a plugin at build time (printed by `validate` and `run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildWarning {
    /// `sources.ID`, `transforms.ID` or `sinks.ID`.
    pub component: String,
    /// The config key concerned, if any.
    pub key: Option<String>,
    /// The warning.
    pub message: String,
}

impl BuildContext {
    /// A context for building component `id` of `kind` in `pipeline`.
    pub fn new(pipeline: impl Into<String>, kind: Kind, id: impl Into<String>) -> Self {
        Self {
            pipeline: pipeline.into(),
            id: id.into(),
            kind,
            dir: std::path::PathBuf::from("."),
            warnings: Arc::default(),
        }
    }

    /// [`BuildContext::new`] for source `id`.
    pub fn source(pipeline: impl Into<String>, id: impl Into<String>) -> Self {
        Self::new(pipeline, Kind::Source, id)
    }

    /// [`BuildContext::new`] for transform `id`.
    pub fn transform(pipeline: impl Into<String>, id: impl Into<String>) -> Self {
        Self::new(pipeline, Kind::Transform, id)
    }

    /// [`BuildContext::new`] for sink `id`.
    pub fn sink(pipeline: impl Into<String>, id: impl Into<String>) -> Self {
        Self::new(pipeline, Kind::Sink, id)
    }

    /// The same context, with relative paths resolved against `dir` (the pipeline file's
    /// folder).
    #[must_use]
    pub fn with_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// The same pipeline, another component (warnings are shared).
    pub fn for_component(&self, kind: Kind, id: impl Into<String>) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            id: id.into(),
            kind,
            dir: self.dir.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// The component being built, for messages (`sinks.lake`).
    pub fn component(&self) -> ComponentId {
        ComponentId::new(self.kind, &self.id)
    }

    /// Leaves a warning about `key` (or the component as a whole).
    pub fn warn(&self, key: Option<&str>, message: impl Into<String>) {
        let warning = BuildWarning {
            component: self.component().to_string(),
            key: key.map(str::to_owned),
            message: message.into(),
        };
        crate::sync::lock(&self.warnings).push(warning);
    }

    /// Every warning left so far by any component of the pipeline.
    pub fn warnings(&self) -> Vec<BuildWarning> {
        crate::sync::lock(&self.warnings).clone()
    }
}

/// Context for a running component.
#[derive(Clone)]
pub struct RunContext {
    /// The pipeline's name.
    pub pipeline: String,
    /// The component's id (the `ID` of `[sinks.ID]`).
    pub id: String,
    /// A unique id for this run (sortable: a UUIDv7), used in file names and manifests.
    pub run_id: String,
    /// Fires when the run must stop (Ctrl-C, another component failed, every sink is done).
    pub cancel: CancellationToken,
    /// In-process services a plugin may start (for example the embedded Graph emulator).
    pub services: Services,
    /// Live counters for progress, the summary and the report: `telemetry.counters(...)`.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// `tributary run --dry-run`: read and transform, but write nothing; sinks report what they
    /// would have written (files, partitions) through the log and their report.
    pub dry_run: bool,
    /// This source's stored watermarks, and where it records new ones (see [`crate::state`]).
    /// Empty without a `[pipeline] state`, and on `--full-refresh`.
    pub checkpoint: Arc<crate::checkpoint::Checkpoint>,
    /// `tributary run --shard K/N`: this worker's share of the work. Sources that can split their
    /// work (the Graph source: by page) read only what [`crate::shard::Shard::owns`].
    pub shard: Option<crate::shard::Shard>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("pipeline", &self.pipeline)
            .field("id", &self.id)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl RunContext {
    /// A context for tests and tools: a fresh run id, no services.
    pub fn for_test(id: &str) -> Self {
        Self {
            pipeline: "test".into(),
            id: id.into(),
            run_id: new_run_id(),
            cancel: CancellationToken::new(),
            services: Services::default(),
            telemetry: Arc::default(),
            dry_run: false,
            checkpoint: Arc::default(),
            shard: None,
        }
    }
}

/// A new sortable run id: `YYYYMMDDTHHMMSSZ-<8 hex>`, unique per run, safe in file names.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let rand = uuid::Uuid::now_v7().simple().to_string();
    // The tail of a v7 UUID is random; 8 hex chars next to a second-resolution time is plenty.
    format!("{now}-{}", &rand[rand.len() - 8..])
}

/// A service that a plugin can start in-process, by name (for example `graph-emulator`, used by
/// `base_url = "embedded"`). Registered by the binary so plugins don't depend on each other.
pub trait EmbeddedService: Send + Sync + 'static {
    /// Starts an instance and returns its base URL and a guard that keeps it alive.
    fn start(&self) -> BoxFuture<'static, Result<EmbeddedHandle, RunError>>;
}

/// A started embedded service: its URL, alive as long as `guard` is.
pub struct EmbeddedHandle {
    /// Base URL, e.g. `http://127.0.0.1:43123`.
    pub url: String,
    /// Dropping this stops the service.
    pub guard: Box<dyn Any + Send + Sync>,
}

/// In-process services by name.
#[derive(Clone, Default)]
pub struct Services {
    map: BTreeMap<&'static str, Arc<dyn EmbeddedService>>,
}

impl Services {
    /// Registers `service` under `name`.
    pub fn register(&mut self, name: &'static str, service: Arc<dyn EmbeddedService>) {
        self.map.insert(name, service);
    }

    /// Starts the service registered as `name`.
    pub async fn start(&self, name: &str) -> Result<EmbeddedHandle, RunError> {
        match self.map.get(name) {
            Some(service) => service.start().await,
            None => Err(RunError::msg(format!(
                "no embedded service `{name}` is available in this build of tributary"
            ))),
        }
    }
}
