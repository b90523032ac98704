//! Pipeline files (README, *Pipeline files*): parse, interpolate, validate and build — with
//! every problem reported at `file:line:col` with the component, the key and a suggestion.
//!
//! Loading is pure: it builds every component (plugins' `build` does no I/O), so
//! `tributary validate` catches everything a run would catch before touching the network.
//!
//! ```toml
//! [pipeline]
//! name = "conversations-daily"
//!
//! [sources.pages]
//! type = "graph_conversations"
//! access_token = "${FB_PAGE_TOKEN}"   # interpolated after parsing, inside string values only
//!
//! [sinks.lake]
//! type = "parquet"
//! inputs = ["pages"]
//! path = "out/conversations"
//! ```
//!
//! How it works: the file is parsed once into a tree where every key and value carries its byte
//! span (`toml::de::DeTable`). Environment references are then replaced inside string values of
//! that tree, and each component's table is deserialized into its plugin's `Config` straight from
//! the spanned tree, so serde errors still point at the right place in the file.
//!
//! One module per stage: `raw` reads the tree into components (interpolating, checking
//! `[pipeline] state`), `graph` checks ids and `inputs` and orders the components, `build` builds
//! them through the registry, `serde_diag` turns serde's errors into located diagnostics, and
//! `schema` describes the file as a JSON Schema for editors.

mod build;
mod diagnostic;
mod duplication;
pub mod env;
mod graph;
mod raw;
mod schema;
mod serde_diag;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

pub use diagnostic::{
    ConfigErrors, Diagnostic, MASK, SECRET_KEYS, Severity, SourceText, did_you_mean, is_secret_key,
    mask_secrets, mask_tokens,
};
pub use schema::pipeline_schema;

use crate::component::ComponentId;
use crate::plugin::{Sink, Source, Transform};
use crate::registry::Registry;
use serde_diag::first_line;

/// Default number of batches buffered on each edge into a sink.
pub const DEFAULT_BUFFER: usize = 4;

/// The `[pipeline]` table.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// The pipeline's name, used in logs, manifests and state. Default: the file name without
    /// its extension.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Where incremental state (watermarks, run history) and the run lock are kept: a local path
    /// or an object-store URL, or a `[pipeline.state]` table with `path` and the store options
    /// the sinks take (`endpoint`, `allow_http`, `region`). Optional.
    #[serde(default)]
    pub state: Option<crate::state::StateConfig>,
    /// How many record batches may wait on each edge into a sink before the sources are paused
    /// (backpressure). Larger smooths bursts; smaller bounds memory tighter.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
}

fn default_buffer() -> usize {
    DEFAULT_BUFFER
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            name: None,
            description: None,
            state: None,
            buffer: DEFAULT_BUFFER,
        }
    }
}

/// Where a transform or sink reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeId {
    /// Index into [`Pipeline::sources`].
    Source(usize),
    /// Index into [`Pipeline::transforms`].
    Transform(usize),
}

/// A built source.
pub struct SourceNode {
    /// The id of `[sources.ID]`.
    pub id: String,
    /// The plugin (`type`).
    pub plugin: &'static str,
    /// The runtime object.
    pub source: Box<dyn Source>,
    /// Its output schema.
    pub schema: SchemaRef,
}

/// A built transform.
pub struct TransformNode {
    /// The id of `[transforms.ID]`.
    pub id: String,
    /// The plugin (`type`).
    pub plugin: &'static str,
    /// Where it reads from.
    pub inputs: Vec<NodeId>,
    /// The runtime object (shared: it runs inline in every upstream source's task).
    pub transform: Arc<dyn Transform>,
    /// Its output schema.
    pub schema: SchemaRef,
}

/// A built sink.
pub struct SinkNode {
    /// The id of `[sinks.ID]`.
    pub id: String,
    /// The plugin (`type`).
    pub plugin: &'static str,
    /// Where it reads from.
    pub inputs: Vec<NodeId>,
    /// The runtime object.
    pub sink: Box<dyn Sink>,
    /// The schema it receives.
    pub schema: SchemaRef,
}

/// A validated pipeline, every component built, ready to run.
pub struct Pipeline {
    /// `[pipeline] name`, or the file stem.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The `[pipeline]` table.
    pub settings: PipelineSettings,
    /// Sources in file order.
    pub sources: Vec<SourceNode>,
    /// Transforms in dependency order (every transform after its inputs).
    pub transforms: Vec<TransformNode>,
    /// Sinks in file order.
    pub sinks: Vec<SinkNode>,
    /// Warnings found while loading (the pipeline is still valid).
    pub warnings: Vec<Diagnostic>,
    /// How the pipeline's sinks' commit plans are committed (from the registry it was built
    /// with).
    pub committers: crate::plugin::Committers,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field(
                "sources",
                &self.sources.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .field(
                "transforms",
                &self.transforms.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .field(
                "sinks",
                &self.sinks.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Pipeline {
    /// `sources.ID` / `transforms.ID` for a node.
    pub fn node_name(&self, node: NodeId) -> String {
        match node {
            NodeId::Source(i) => ComponentId::source(&self.sources[i].id).to_string(),
            NodeId::Transform(i) => ComponentId::transform(&self.transforms[i].id).to_string(),
        }
    }
}

/// Reads and builds the pipeline in `path`, interpolating from the process environment.
pub fn load_file(path: &Path, registry: &Registry) -> Result<Pipeline, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        diagnostics: vec![
            Diagnostic::unlocated(
                Severity::Error,
                path,
                format!("cannot read the pipeline file: {e}"),
            )
            .help("check the path; pipelines are TOML files such as `pipelines/demo.toml`"),
        ],
    })?;
    load_str(&text, path, registry, &|name| std::env::var(name).ok())
}

/// Builds the pipeline in `text` (named `file` in messages), reading variables with `env`.
pub fn load_str(
    text: &str,
    file: &Path,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigErrors> {
    let mut loader = Loader {
        src: SourceText::new(file, text),
        diags: Vec::new(),
        secrets: Vec::new(),
    };
    let pipeline = loader.load(text, registry, env);
    let Loader {
        mut diags, secrets, ..
    } = loader;
    for d in &mut diags {
        d.scrub(&secrets);
    }
    diags.sort_by_key(|d| (d.line, d.column, d.severity));
    match pipeline {
        Some(mut p) if diags.iter().all(|d| d.severity != Severity::Error) => {
            p.warnings = diags;
            Ok(p)
        }
        _ => Err(ConfigErrors { diagnostics: diags }),
    }
}

/// One file's loading: its text (to locate spans), the problems found so far, and the values
/// interpolated from the environment (secrets, perhaps: scrubbed from every message at the end).
struct Loader {
    src: SourceText,
    diags: Vec<Diagnostic>,
    secrets: Vec<String>,
}

/// Secrets written literally in a file are warned about from this length on.
pub const LITERAL_SECRET_MIN_CHARS: usize = 16;

impl Loader {
    /// Reports an error at `span` with a help line.
    fn error(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = self
            .src
            .diagnostic(Severity::Error, span, message)
            .help(help);
        self.diags.push(d);
    }

    /// Reports `d`.
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// An error at `span`, to be given a component, key and help before it is pushed.
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        self.src.diagnostic(Severity::Error, Some(span), message)
    }

    /// Every stage in turn: parse, read (`raw`), check the graph (`graph`), build (`build`).
    /// A stage that fails stops the load, but each stage reports everything it finds, so one
    /// `validate` lists every mistake it can. `None` when the pipeline cannot be built.
    fn load(
        &mut self,
        text: &str,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Pipeline> {
        let root = self.parse(text)?;
        let root_start = root.span().start;
        let (settings, raws) = self.read_root(root.into_inner(), registry, env);
        let name = self.pipeline_name(&settings);
        self.check_not_empty(&raws, root_start);
        self.check_ids(&raws);
        let Some(order) = self.check_graph(&raws) else {
            // No build order, but every component's own keys can still be checked, so one
            // `validate` reports the broken graph and every typo together.
            for raw in &raws {
                self.check_component(raw, registry);
            }
            return None;
        };
        let nodes = self.build_all(&name, raws, order, registry)?;
        self.warn_full_copies(&nodes, settings.state.is_some());
        Some(Pipeline {
            name,
            file: self.src.file.clone(),
            settings,
            sources: nodes.sources,
            transforms: nodes.transforms,
            sinks: nodes.sinks,
            warnings: Vec::new(),
            committers: registry.committers(),
        })
    }

    /// The TOML tree with every key and value's span; `None` on a syntax error (reported).
    fn parse<'a>(&mut self, text: &'a str) -> Option<Spanned<DeTable<'a>>> {
        match DeTable::parse(text) {
            Ok(root) => Some(root),
            Err(e) => {
                let msg = first_line(e.message());
                let d = self
                    .src
                    .diagnostic(
                        Severity::Error,
                        e.span(),
                        format!("TOML syntax error: {msg}"),
                    )
                    .help(
                        "see https://toml.io for the syntax; strings need quotes, tables `[name]`",
                    );
                self.push(d);
                None
            }
        }
    }

    /// `[pipeline] name`, or the file name without its extension.
    fn pipeline_name(&self, settings: &PipelineSettings) -> String {
        settings.name.clone().unwrap_or_else(|| {
            self.src
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into())
        })
    }
}
