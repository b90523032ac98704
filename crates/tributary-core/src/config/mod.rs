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

mod diagnostic;
mod duplication;
pub mod env;
mod schema;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use diagnostic::{
    ConfigErrors, Diagnostic, MASK, SECRET_KEYS, Severity, SourceText, did_you_mean, is_secret_key,
    mask_secrets, mask_tokens,
};
pub use schema::pipeline_schema;

use crate::plugin::{BuildContext, BuildInput, Sink, Source, Transform, ValueDomain};
use crate::registry::{Builder, Kind, PluginError, Registry, schema_keys};

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
            NodeId::Source(i) => format!("sources.{}", self.sources[i].id),
            NodeId::Transform(i) => format!("transforms.{}", self.transforms[i].id),
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

/// One `[section.ID]` table, before building.
struct Raw<'a> {
    kind: Kind,
    id: String,
    /// Span of the id key (`pages` in `[sources.pages]`).
    id_span: Range<usize>,
    plugin: Option<&'static str>,
    inputs: Vec<Spanned<String>>,
    /// The table minus `type` and `inputs`, interpolated.
    config: Option<Spanned<DeValue<'a>>>,
    /// The table as written (for locating keys named by build errors).
    table: DeTable<'a>,
}

impl Raw<'_> {
    fn name(&self) -> String {
        format!("{}.{}", self.kind.section(), self.id)
    }
}

struct Loader {
    src: SourceText,
    diags: Vec<Diagnostic>,
    secrets: Vec<String>,
}

const SECTIONS: [&str; 4] = ["pipeline", "sources", "transforms", "sinks"];

/// Secrets written literally in a file are warned about from this length on.
pub const LITERAL_SECRET_MIN_CHARS: usize = 16;

impl Loader {
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

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        self.src.diagnostic(Severity::Error, Some(span), message)
    }

    fn load<'a>(
        &mut self,
        text: &'a str,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Pipeline> {
        let root = match DeTable::parse(text) {
            Ok(root) => root,
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
                return None;
            }
        };
        let root_span = root.span();
        let root = root.into_inner();

        let mut settings = PipelineSettings::default();
        let mut raws: Vec<Raw<'a>> = Vec::new();
        let mut seen_sections = HashSet::new();
        for (key, value) in root {
            let name = key.get_ref().as_ref();
            match name {
                "pipeline" => {
                    let table = value.get_ref().as_table().cloned();
                    let value = self.interpolate_value(value, env);
                    let state_checked = self.check_state(&value);
                    match PipelineSettings::deserialize(value.into_deserializer()) {
                        Ok(s) => settings = s,
                        // `check_state` already said what is wrong with `state`, precisely;
                        // the untagged enum could only say "did not match any variant".
                        Err(e)
                            if !state_checked
                                && e.span().is_some_and(|span| {
                                    table
                                        .as_ref()
                                        .and_then(|t| top_key_at(t, &span))
                                        .is_some_and(|k| k == "state")
                                }) => {}
                        Err(e) => self.serde_error(
                            &e,
                            "pipeline",
                            table.as_ref(),
                            &schema_keys(&schemars::schema_for!(PipelineSettings)),
                        ),
                    }
                }
                "sources" | "transforms" | "sinks" => {
                    seen_sections.insert(name.to_owned());
                    let kind = match name {
                        "sources" => Kind::Source,
                        "transforms" => Kind::Transform,
                        _ => Kind::Sink,
                    };
                    let span = value.span();
                    match value.into_inner() {
                        DeValue::Table(table) => {
                            for (id, comp) in table {
                                if let Some(raw) = self.raw_component(kind, id, comp, registry, env)
                                {
                                    raws.push(raw);
                                }
                            }
                        }
                        other => {
                            self.error(
                                Some(span),
                                format!(
                                    "`{name}` must be a table of components, found {}",
                                    other.type_str()
                                ),
                                format!("write each component as its own table: `[{name}.my_id]`"),
                            );
                        }
                    }
                }
                other => {
                    let help = did_you_mean(other, SECTIONS).unwrap_or_else(|| {
                        "a pipeline file has the tables [pipeline], [sources.ID], [transforms.ID] and [sinks.ID]".into()
                    });
                    self.error(
                        Some(key.span()),
                        format!("unknown top-level key `{other}`"),
                        help,
                    );
                }
            }
        }

        let name = settings.name.clone().unwrap_or_else(|| {
            self.src
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into())
        });

        if !raws.iter().any(|r| r.kind == Kind::Source) {
            self.error(
                Some(root_span.start..root_span.start),
                "the pipeline has no sources",
                "add a source, for example `[sources.pages]` with `type = \"graph_conversations\"`",
            );
        }
        if !raws.iter().any(|r| r.kind == Kind::Sink) {
            self.error(Some(root_span.start..root_span.start), "the pipeline has no sinks", "add a sink, for example `[sinks.console]` with `type = \"stdout\"` and `inputs = [\"...\"]`");
        }
        self.check_ids(&raws);
        let Some(order) = self.check_graph(&raws) else {
            // No build order, but every component's own keys can still be checked, so one
            // `validate` reports the broken graph and every typo together.
            for raw in &raws {
                self.check_component(raw, registry);
            }
            return None;
        };
        let built = self.build_all(&name, raws, order, registry);
        if let Some((sources, transforms, sinks)) = &built {
            self.warn_full_copies(sources, transforms, sinks, settings.state.is_some());
        }
        built.map(|(sources, transforms, sinks)| Pipeline {
            name,
            file: self.src.file.clone(),
            settings,
            sources,
            transforms,
            sinks,
            warnings: Vec::new(),
            committers: registry.committers(),
        })
    }

    /// Splits `[section.ID]` into `type`, `inputs` and the plugin's config table.
    fn raw_component<'a>(
        &mut self,
        kind: Kind,
        id: Spanned<Cow<'a, str>>,
        comp: Spanned<DeValue<'a>>,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Raw<'a>> {
        let id_span = id.span();
        let id = id.into_inner().into_owned();
        let comp_span = comp.span();
        let component = format!("{}.{id}", kind.section());
        let DeValue::Table(mut table) = comp.into_inner() else {
            self.error(
                Some(comp_span),
                format!("`{component}` must be a table"),
                format!("write `[{component}]` followed by its keys"),
            );
            return None;
        };
        let original = table.clone();

        let plugin = match table.remove("type") {
            None => {
                let known = registry.names(kind).join("`, `");
                let d = self
                    .at(
                        id_span.clone(),
                        format!("{} `{id}` has no `type`", kind.noun()),
                    )
                    .component(&component)
                    .key("type")
                    .help(format!(
                        "add `type = \"...\"`; {} types: `{known}`",
                        kind.noun()
                    ));
                self.push(d);
                None
            }
            Some(v) => {
                let span = v.span();
                match v.into_inner() {
                    DeValue::String(name) => match registry.get(kind, &name) {
                        Some(info) => Some(info.name),
                        None => {
                            let help = self.unknown_type_help(kind, &name, registry);
                            let d = self
                                .at(span, format!("unknown {} type `{name}`", kind.noun()))
                                .component(&component)
                                .key("type")
                                .help(help);
                            self.push(d);
                            None
                        }
                    },
                    other => {
                        let d = self
                            .at(
                                span,
                                format!("`type` must be a string, found {}", other.type_str()),
                            )
                            .component(&component)
                            .key("type");
                        self.push(d);
                        None
                    }
                }
            }
        };

        let mut inputs = Vec::new();
        match (kind, table.remove("inputs")) {
            (Kind::Source, Some(v)) => {
                let d = self
                    .at(v.span(), format!("source `{id}` cannot have `inputs`"))
                    .component(&component)
                    .key("inputs")
                    .help("sources read from outside the pipeline; remove `inputs`, or make this a transform or a sink");
                self.push(d);
            }
            (Kind::Source, None) => {}
            (_, None) => {
                let d = self
                    .at(
                        id_span.clone(),
                        format!("{} `{id}` has no `inputs`", kind.noun()),
                    )
                    .component(&component)
                    .key("inputs")
                    .help("add `inputs = [\"source_or_transform_id\"]`");
                self.push(d);
            }
            (_, Some(v)) => {
                let span = v.span();
                match v.into_inner() {
                    DeValue::Array(items) if items.is_empty() => {
                        let d = self
                            .at(
                                span,
                                format!("{} `{id}` has an empty `inputs` list", kind.noun()),
                            )
                            .component(&component)
                            .key("inputs")
                            .help("name at least one source or transform");
                        self.push(d);
                    }
                    DeValue::Array(items) => {
                        for item in items {
                            let s = item.span();
                            match item.into_inner() {
                                DeValue::String(name) => {
                                    inputs.push(Spanned::new(s, name.into_owned()))
                                }
                                other => {
                                    let d = self
                                        .at(s, format!("`inputs` must list component ids as strings, found {}", other.type_str()))
                                        .component(&component)
                                        .key("inputs");
                                    self.push(d);
                                }
                            }
                        }
                    }
                    DeValue::String(name) => {
                        let d = self
                            .at(span, "`inputs` must be a list")
                            .component(&component)
                            .key("inputs")
                            .help(format!("write `inputs = [\"{name}\"]`"));
                        self.push(d);
                    }
                    other => {
                        let d = self
                            .at(
                                span,
                                format!(
                                    "`inputs` must be a list of component ids, found {}",
                                    other.type_str()
                                ),
                            )
                            .component(&component)
                            .key("inputs");
                        self.push(d);
                    }
                }
            }
        }

        let config = plugin.map(|_| {
            let value = Spanned::new(comp_span.clone(), DeValue::Table(table));
            self.interpolate_value_in(value, env, &component)
        });
        Some(Raw {
            kind,
            id,
            id_span,
            plugin,
            inputs,
            config,
            table: original,
        })
    }

    fn unknown_type_help(&self, kind: Kind, name: &str, registry: &Registry) -> String {
        for other in [Kind::Source, Kind::Transform, Kind::Sink] {
            if other != kind && registry.get(other, name).is_some() {
                return format!(
                    "`{name}` is a {}: declare it as `[{}.ID]`",
                    other.noun(),
                    other.section()
                );
            }
        }
        let names = registry.names(kind);
        match did_you_mean(name, names.iter().copied()) {
            Some(s) => s,
            None => format!(
                "known {} types: `{}` (run `tributary plugins`)",
                kind.noun(),
                names.join("`, `")
            ),
        }
    }

    fn interpolate_value<'a>(
        &mut self,
        value: Spanned<DeValue<'a>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Spanned<DeValue<'a>> {
        self.interpolate_value_in(value, env, "pipeline")
    }

    /// Replaces `${VAR}` references inside every string value of `value`.
    fn interpolate_value_in<'a>(
        &mut self,
        value: Spanned<DeValue<'a>>,
        env: &dyn Fn(&str) -> Option<String>,
        component: &str,
    ) -> Spanned<DeValue<'a>> {
        let span = value.span();
        let inner = match value.into_inner() {
            DeValue::String(s) if s.contains('$') => {
                match env::interpolate(&s, env) {
                    Ok(done) => {
                        self.secrets.extend(done.substituted);
                        DeValue::String(Cow::Owned(done.value))
                    }
                    Err(e) => {
                        let (msg, help) = match e {
                        env::EnvError::Unset { var } => (
                            format!("environment variable `{var}` is not set"),
                            format!("set it (`export {var}=...`), or give a default: `${{{var}:-default}}`"),
                        ),
                        env::EnvError::Required { var, message } => (
                            format!("environment variable `{var}` is required: {message}"),
                            format!("set it: `export {var}=...`"),
                        ),
                        env::EnvError::Syntax { message } => {
                            (message, "references look like `${VAR}`, `${VAR:-default}` or `${VAR:?message}`".into())
                        }
                    };
                        let d = self.at(span.clone(), msg).component(component).help(help);
                        self.push(d);
                        DeValue::String(s)
                    }
                }
            }
            DeValue::Array(items) => {
                let mut out = toml::de::DeArray::new();
                for item in items {
                    out.push(self.interpolate_value_in(item, env, component));
                }
                DeValue::Array(out)
            }
            DeValue::Table(table) => {
                let mut out = DeTable::new();
                for (k, v) in table {
                    self.warn_literal_secret(k.get_ref(), &v, component);
                    let v = self.interpolate_value_in(v, env, component);
                    out.insert(k, v);
                }
                DeValue::Table(out)
            }
            other => other,
        };
        Spanned::new(span, inner)
    }

    /// Warns about a secret written into the file instead of `${VAR}`: files end up in version
    /// control and CI logs. Values shorter than [`LITERAL_SECRET_MIN_CHARS`] are taken for
    /// placeholders (the emulator's `demo-token`), not credentials.
    fn warn_literal_secret(&mut self, key: &str, value: &Spanned<DeValue<'_>>, component: &str) {
        let DeValue::String(s) = value.get_ref() else {
            return;
        };
        if !is_secret_key(key) || s.contains('$') || s.chars().count() < LITERAL_SECRET_MIN_CHARS {
            return;
        }
        let d = self
            .src
            .diagnostic(
                Severity::Warning,
                Some(value.span()),
                format!("`{key}` is a secret written literally in the pipeline file"),
            )
            .component(component)
            .key(key)
            .help(format!(
                "read it from the environment instead: `{key} = \"${{MY_SECRET}}\"` (and remove \
                 it from the file's history if the file was shared)"
            ));
        self.push(d);
    }

    /// Checks `[pipeline] state` (the interpolated `[pipeline]` value) key by key: an unknown key
    /// with did-you-mean, a wrong type, and the location and store options as the sinks check
    /// theirs. Returns whether it is fine (also when absent).
    fn check_state(&mut self, pipeline: &Spanned<DeValue<'_>>) -> bool {
        let Some((_, state)) = pipeline
            .get_ref()
            .as_table()
            .and_then(|t| t.get_key_value("state"))
        else {
            return true;
        };
        let keys = crate::state::StateConfig::keys();
        let config = match state.get_ref() {
            DeValue::String(path) => crate::state::StateConfig::Path(path.to_string()),
            DeValue::Table(table) => {
                let mut ok = true;
                for (key, _) in table.iter() {
                    let name = key.get_ref().as_ref();
                    if !keys.contains(&name) {
                        let help = did_you_mean(name, keys.iter().copied())
                            .unwrap_or_else(|| format!("valid keys: `{}`", keys.join("`, `")));
                        let d = self
                            .at(
                                key.span(),
                                format!("unknown key `{name}` in `pipeline.state`"),
                            )
                            .component("pipeline.state")
                            .key(name)
                            .help(help);
                        self.push(d);
                        ok = false;
                    }
                }
                if !ok {
                    return false;
                }
                // `path` and the store options apart: through `#[serde(flatten)]` a wrong type
                // would lose its location.
                let Some(path) = table.get("path") else {
                    let d = self
                        .at(
                            state.span(),
                            "missing required key `path` in `pipeline.state`",
                        )
                        .component("pipeline.state")
                        .key("path")
                        .help("add path = \"state/daily.json\" or an s3://, gs:// or az:// URL");
                    self.push(d);
                    return false;
                };
                let Some(path) = path.get_ref().as_str().map(str::to_owned) else {
                    let d = self
                        .at(path.span(), "`path` must be a string")
                        .component("pipeline.state")
                        .key("path");
                    self.push(d);
                    return false;
                };
                let mut rest = table.clone();
                rest.remove("path");
                let rest = Spanned::new(state.span(), DeValue::Table(rest));
                match crate::lake::StoreOptions::deserialize(rest.into_deserializer()) {
                    Ok(store) => {
                        crate::state::StateConfig::Table(crate::state::StateTable { path, store })
                    }
                    Err(e) => {
                        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
                        self.serde_error(&e, "pipeline.state", Some(table), &keys);
                        return false;
                    }
                }
            }
            other => {
                let d = self
                    .at(
                        state.span(),
                        format!(
                            "`state` must be a path or a table, found {}",
                            other.type_str()
                        ),
                    )
                    .component("pipeline")
                    .key("state")
                    .help(
                        "write state = \"state/daily.json\", or a [pipeline.state] table with \
                         path = \"s3://bucket/state/daily.json\" and endpoint/region/allow_http",
                    );
                self.push(d);
                return false;
            }
        };
        if let Err(e) = config.validate() {
            let span = match (state.get_ref().as_table(), e.key.as_deref()) {
                (Some(t), Some(key)) => span_of_key(t, key).unwrap_or(state.span()),
                _ => state.span(),
            };
            let (component, key) = match (&config, e.key.as_deref()) {
                (crate::state::StateConfig::Table(_), Some(key)) => ("pipeline.state", key),
                _ => ("pipeline", "state"),
            };
            let d = self
                .at(span, e.message.clone())
                .component(component)
                .key(key)
                .maybe_help(e.help.clone());
            self.push(d);
            return false;
        }
        true
    }

    /// Turns a toml/serde error into a located diagnostic with a suggestion.
    fn serde_error(
        &mut self,
        e: &toml::de::Error,
        component: &str,
        table: Option<&DeTable<'_>>,
        keys: &[String],
    ) {
        let message = first_line(e.message());
        let span = e.span();
        let key = match (&span, table) {
            (Some(span), Some(table)) => key_at(table, span, ""),
            _ => None,
        };
        let (message, help, key) =
            if let Some(field) = between_backticks(&message, "unknown field `") {
                let help = did_you_mean(&field, keys.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("valid keys: `{}`", keys.join("`, `")));
                (
                    format!("unknown key `{field}` in `{component}`"),
                    Some(help),
                    Some(field),
                )
            } else if let Some(field) = between_backticks(&message, "missing field `") {
                (
                    format!("missing required key `{field}` in `{component}`"),
                    Some(format!(
                        "add `{field} = ...` (see `tributary plugins` for its type and meaning)"
                    )),
                    Some(field),
                )
            } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
                let what = key
                    .as_deref()
                    .map(|k| format!("wrong type for `{k}`: "))
                    .unwrap_or_default();
                (
                    format!("{what}{}", humanize(&message.replace("invalid type: ", ""))),
                    None,
                    key,
                )
            } else if let Some(k) = &key {
                // Values rejected by the type itself (an unknown enum variant, a range): name
                // the key, and suggest the nearest allowed variant.
                let help = between_backticks(&message, "unknown variant `").and_then(|bad| {
                    let allowed: Vec<String> = message
                        .split("expected ")
                        .nth(1)
                        .map(|rest| {
                            rest.split('`')
                                .skip(1)
                                .step_by(2)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    did_you_mean(&bad, allowed.iter().map(String::as_str))
                });
                (format!("invalid value for `{k}`: {message}"), help, key)
            } else {
                (message, None, key)
            };
        let mut d = self
            .src
            .diagnostic(Severity::Error, span, message)
            .component(component)
            .maybe_help(help);
        if let Some(key) = key {
            d = d.key(key);
        }
        self.push(d);
    }

    /// Duplicate ids across sections (TOML itself rejects duplicates within one table).
    fn check_ids(&mut self, raws: &[Raw<'_>]) {
        let mut seen: HashMap<&str, &Raw<'_>> = HashMap::new();
        for raw in raws {
            if let Some(first) = seen.get(raw.id.as_str()) {
                let (l, c) = self.src.line_col(first.id_span.start);
                let d = self
                    .at(raw.id_span.clone(), format!("duplicate id `{}`: already used by {} `{}` at line {l}, column {c}", raw.id, first.kind.noun(), first.id))
                    .component(raw.name())
                    .help("ids must be unique across sources, transforms and sinks; rename one of them");
                self.push(d);
            } else {
                seen.insert(&raw.id, raw);
            }
        }
    }

    /// Checks `inputs` and cycles; returns the build order (indices into `raws`), or `None` if
    /// the graph itself is broken.
    fn check_graph(&mut self, raws: &[Raw<'_>]) -> Option<Vec<usize>> {
        let index: HashMap<&str, usize> = raws
            .iter()
            .enumerate()
            .rev()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let producers: Vec<&str> = raws
            .iter()
            .filter(|r| r.kind != Kind::Sink)
            .map(|r| r.id.as_str())
            .collect();
        for raw in raws {
            for input in &raw.inputs {
                match index.get(input.get_ref().as_str()).map(|&i| &raws[i]) {
                    None => {
                        let help = did_you_mean(input.get_ref(), producers.iter().copied())
                            .unwrap_or_else(|| {
                                format!(
                                    "inputs name sources or transforms: `{}`",
                                    producers.join("`, `")
                                )
                            });
                        let d = self
                            .at(input.span(), format!("unknown input `{}`", input.get_ref()))
                            .component(raw.name())
                            .key("inputs")
                            .help(help);
                        self.push(d);
                    }
                    Some(target) if target.kind == Kind::Sink => {
                        let d = self
                            .at(
                                input.span(),
                                format!(
                                    "input `{}` is a sink; sinks produce no output",
                                    input.get_ref()
                                ),
                            )
                            .component(raw.name())
                            .key("inputs")
                            .help("read from the sink's own inputs instead");
                        self.push(d);
                    }
                    Some(target) if std::ptr::eq(target, raw) => {
                        let d = self
                            .at(input.span(), format!("`{}` reads from itself", raw.id))
                            .component(raw.name())
                            .key("inputs");
                        self.push(d);
                    }
                    Some(_) => {}
                }
            }
        }
        // Kahn's algorithm over transforms; whatever is left is on a cycle.
        let mut order: Vec<usize> = (0..raws.len())
            .filter(|&i| raws[i].kind == Kind::Source)
            .collect();
        let mut placed: HashSet<usize> = order.iter().copied().collect();
        let transforms: Vec<usize> = (0..raws.len())
            .filter(|&i| raws[i].kind == Kind::Transform)
            .collect();
        loop {
            let ready: Vec<usize> = transforms
                .iter()
                .copied()
                .filter(|i| !placed.contains(i))
                .filter(|&i| {
                    raws[i]
                        .inputs
                        .iter()
                        .all(|inp| match index.get(inp.get_ref().as_str()) {
                            Some(n) => placed.contains(n),
                            // Already reported; the component is skipped when building.
                            None => true,
                        })
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            for i in ready {
                placed.insert(i);
                order.push(i);
            }
        }
        let stuck: Vec<usize> = transforms
            .iter()
            .copied()
            .filter(|i| !placed.contains(i))
            .collect();
        if !stuck.is_empty() {
            let cycle = find_cycle(raws, &index, &stuck);
            let first = &raws[cycle[0]];
            let path: Vec<&str> = cycle
                .iter()
                .chain(std::iter::once(&cycle[0]))
                .map(|&i| raws[i].id.as_str())
                .collect();
            let d = self
                .at(first.id_span.clone(), format!("the transforms form a cycle: {}", path.join(" -> ")))
                .component(first.name())
                .key("inputs")
                .help("a pipeline is a DAG: make one of these read from a source or an earlier transform");
            self.push(d);
            return None;
        }
        order.extend((0..raws.len()).filter(|&i| raws[i].kind == Kind::Sink));
        Some(order)
    }

    #[allow(clippy::type_complexity)]
    fn build_all(
        &mut self,
        pipeline: &str,
        raws: Vec<Raw<'_>>,
        order: Vec<usize>,
        registry: &Registry,
    ) -> Option<(Vec<SourceNode>, Vec<TransformNode>, Vec<SinkNode>)> {
        // A file named without a folder (`tributary run p.toml`) has the empty parent `""`.
        let dir = match self.src.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root_ctx = BuildContext::new(pipeline, "sources", "").with_dir(dir);
        let mut slots: Vec<Option<Raw<'_>>> = raws.into_iter().map(Some).collect();
        let mut ids: HashMap<String, NodeId> = HashMap::new();
        let mut schemas: HashMap<String, (SchemaRef, Vec<ValueDomain>)> = HashMap::new();
        let mut sources = Vec::new();
        let mut transforms = Vec::new();
        let mut sinks = Vec::new();
        let mut failed = false;
        // How many components read each id: a source's value domains are only handed to its
        // consumer when that consumer is the only one (otherwise a value one consumer drops may
        // be used by another, and nothing is fetched for nothing).
        let mut readers: HashMap<String, usize> = HashMap::new();
        for raw in slots.iter().flatten() {
            for input in &raw.inputs {
                *readers.entry(input.get_ref().clone()).or_default() += 1;
            }
        }

        for i in order {
            let Some(mut raw) = slots[i].take() else {
                continue;
            };
            // Every component's table is checked against its plugin's config type first, even
            // when its inputs failed to build (so mistakes are reported all at once, not one
            // component per `validate`); only a clean table is built.
            if !self.check_component(&raw, registry) {
                failed = true;
                continue;
            }
            let Some(plugin) = raw.plugin else {
                failed = true;
                continue;
            };
            let Some(config) = raw.config.take() else {
                continue;
            };
            let Some(entry) = registry.entry(raw.kind, plugin) else {
                continue;
            };
            let keys = entry.info.keys();
            let component = raw.name();
            let ctx = root_ctx.for_component(raw.kind.section(), &raw.id);

            // Inputs: every upstream must have built; with fan-in their schemas must agree.
            let input = if raw.kind == Kind::Source {
                None
            } else if raw.inputs.is_empty() {
                // Reported while reading `inputs`.
                continue;
            } else {
                let mut upstream = Vec::new();
                for inp in &raw.inputs {
                    match schemas.get(inp.get_ref()) {
                        Some((schema, domains)) => {
                            let domains = if readers.get(inp.get_ref()) == Some(&1) {
                                domains.clone()
                            } else {
                                Vec::new()
                            };
                            upstream.push((inp, schema.clone(), domains))
                        }
                        // Its own error is already reported; don't cascade.
                        None => {
                            failed = true;
                        }
                    }
                }
                if upstream.len() != raw.inputs.len() {
                    continue;
                }
                match self.merge_inputs(&component, &upstream) {
                    Some(input) => Some(input),
                    None => {
                        failed = true;
                        continue;
                    }
                }
            };
            let node_inputs: Vec<NodeId> = raw
                .inputs
                .iter()
                .filter_map(|inp| ids.get(inp.get_ref()).copied())
                .collect();

            let result = match (&entry.builder, &input) {
                (Builder::Source(build), None) => build(config, &ctx).map(|source| {
                    let schema = source.schema();
                    let domains = source.domains();
                    schemas.insert(raw.id.clone(), (schema.clone(), domains));
                    ids.insert(raw.id.clone(), NodeId::Source(sources.len()));
                    sources.push(SourceNode {
                        id: raw.id.clone(),
                        plugin,
                        source,
                        schema,
                    });
                }),
                (Builder::Transform(build), Some(input)) => {
                    build(config, input, &ctx).map(|transform| {
                        let schema = transform.output_schema();
                        schemas.insert(raw.id.clone(), (schema.clone(), Vec::new()));
                        ids.insert(raw.id.clone(), NodeId::Transform(transforms.len()));
                        transforms.push(TransformNode {
                            id: raw.id.clone(),
                            plugin,
                            inputs: node_inputs.clone(),
                            transform: Arc::from(transform),
                            schema,
                        });
                    })
                }
                (Builder::Sink(build), Some(input)) => build(config, input, &ctx).map(|sink| {
                    sinks.push(SinkNode {
                        id: raw.id.clone(),
                        plugin,
                        inputs: node_inputs.clone(),
                        sink,
                        schema: input.schema.clone(),
                    });
                }),
                _ => continue,
            };
            if let Err(e) = result {
                failed = true;
                match e {
                    PluginError::Config(e) => {
                        self.serde_error(&e, &component, Some(&raw.table), &keys)
                    }
                    PluginError::Build(e) => {
                        let span = e
                            .key
                            .as_deref()
                            .and_then(|k| span_of_key(&raw.table, k))
                            .unwrap_or_else(|| raw.id_span.clone());
                        let mut d = self
                            .at(span, e.message)
                            .component(&component)
                            .maybe_help(e.help);
                        if let Some(k) = e.key {
                            d = d.key(k);
                        }
                        self.push(d);
                    }
                }
            }
        }

        for w in root_ctx.warnings() {
            let (section, id) = w
                .component
                .split_once('.')
                .unwrap_or(("", w.component.as_str()));
            let span = self.component_span(section, id, w.key.as_deref());
            let mut d = self
                .src
                .diagnostic(Severity::Warning, span, w.message)
                .component(&w.component);
            if let Some(k) = w.key {
                d = d.key(k);
            }
            self.push(d);
        }
        for s in &sources {
            if !readers.contains_key(&s.id) {
                let span = self.component_span("sources", &s.id, None);
                let d = self
                    .src
                    .diagnostic(
                        Severity::Warning,
                        span,
                        format!("source `{}` feeds no sink and will not run", s.id),
                    )
                    .component(format!("sources.{}", s.id))
                    .help("add it to some sink's or transform's `inputs`, or remove it");
                self.push(d);
            }
        }
        for t in &transforms {
            if !readers.contains_key(&t.id) {
                let span = self.component_span("transforms", &t.id, None);
                let d = self
                    .src
                    .diagnostic(
                        Severity::Warning,
                        span,
                        format!("transform `{}` feeds no sink", t.id),
                    )
                    .component(format!("transforms.{}", t.id))
                    .help("add it to some sink's `inputs`, or remove it");
                self.push(d);
            }
        }
        if failed {
            None
        } else {
            Some((sources, transforms, sinks))
        }
    }

    /// Deserializes the component's table with its plugin's config type and reports every error
    /// serde finds: serde stops at the first, so after each error located in a key that key is
    /// set aside and the rest parsed again. Returns whether the table is clean (a component with
    /// no known plugin or table has its error reported already and is not clean).
    fn check_component(&mut self, raw: &Raw<'_>, registry: &Registry) -> bool {
        let (Some(plugin), Some(config)) = (raw.plugin, raw.config.as_ref()) else {
            return false;
        };
        let Some(entry) = registry.entry(raw.kind, plugin) else {
            return false;
        };
        let keys = entry.info.keys();
        let component = raw.name();
        let mut value = config.clone();
        let mut set_aside: Vec<String> = Vec::new();
        // Each round removes one key, so this ends; the bound is a guard against a plugin whose
        // errors carry spans outside its table.
        for _ in 0..=keys.len() + 64 {
            let Err(e) = (entry.check)(value.clone()) else {
                return set_aside.is_empty();
            };
            let missing = between_backticks(first_line(e.message()).as_str(), "missing field `");
            if missing.is_some_and(|m| set_aside.contains(&m)) {
                // Missing only because its wrong value was set aside: already reported.
                return false;
            }
            self.serde_error(&e, &component, Some(&raw.table), &keys);
            let key = match (e.span(), value.get_ref().as_table()) {
                (Some(span), Some(table)) => top_key_at(table, &span),
                _ => None,
            };
            let (Some(key), DeValue::Table(table)) = (key, value.get_mut()) else {
                return false;
            };
            table.remove(key.as_str());
            set_aside.push(key);
        }
        false
    }

    /// Warns about sinks whose write mode does not fit their sources (see [`duplication`]). A
    /// sink whose key is written explicitly (`write_mode = "append"`) is taken at its word.
    fn warn_full_copies(
        &mut self,
        sources: &[SourceNode],
        transforms: &[TransformNode],
        sinks: &[SinkNode],
        has_state: bool,
    ) {
        use duplication::Mismatch;
        for found in duplication::mismatches(sources, transforms, sinks, has_state) {
            let key = found.key;
            let (message, help) = match found.mismatch {
                Mismatch::FullCopies => {
                    if self.key_written("sinks", &found.sink, key) {
                        continue;
                    }
                    (
                        format!(
                            "every run appends a full copy: {} and `sinks.{}` appends (the \
                             default `{key}`)",
                            found.reasons.join("; "),
                            found.sink
                        ),
                        format!(
                            "use {key} = \"overwrite\" or incremental state (`[pipeline] state` \
                             with an incremental source); write {key} = \"append\" if every run \
                             should add a copy"
                        ),
                    )
                }
                Mismatch::OnlyChanges => (
                    format!(
                        "`sinks.{}` replaces what earlier runs wrote, but {}: the table would \
                         keep only the latest changes",
                        found.sink,
                        found.reasons.join("; ")
                    ),
                    format!(
                        "with an incremental source use {key} = \"append\" (or a delta sink's \
                         mode = \"merge\"); to rebuild the table each run, read everything \
                         (the source's full mode)"
                    ),
                ),
            };
            let span = self.component_span("sinks", &found.sink, Some(key));
            let d = self
                .src
                .diagnostic(Severity::Warning, span, message)
                .component(format!("sinks.{}", found.sink))
                .key(key)
                .help(help);
            self.push(d);
        }
    }

    /// Whether `[section.id]` has the key `key` written in the file.
    fn key_written(&self, section: &str, id: &str, key: &str) -> bool {
        let Ok(root) = DeTable::parse(self.src.text()) else {
            return false;
        };
        let root = root.into_inner();
        root.get(section)
            .and_then(|s| s.get_ref().as_table())
            .and_then(|t| t.get(id))
            .and_then(|c| c.get_ref().as_table())
            .is_some_and(|c| c.contains_key(key))
    }

    /// The span of `[section.id]`'s key `key` (or of its id), found by re-parsing the file.
    fn component_span(&self, section: &str, id: &str, key: Option<&str>) -> Option<Range<usize>> {
        let root = DeTable::parse(self.src.text()).ok()?.into_inner();
        let (_, sec) = root.get_key_value(section)?;
        let table = sec.get_ref().as_table()?;
        let (id_key, comp) = table.get_key_value(id)?;
        key.and_then(|k| comp.get_ref().as_table().and_then(|t| span_of_key(t, k)))
            .or_else(|| Some(id_key.span()))
    }

    /// The input of a transform or sink; with fan-in, all schemas must agree on names and types.
    fn merge_inputs(
        &mut self,
        component: &str,
        upstream: &[(&Spanned<String>, SchemaRef, Vec<ValueDomain>)],
    ) -> Option<BuildInput> {
        let (first_name, first, domains) = &upstream[0];
        for (name, schema, _) in &upstream[1..] {
            if let Some(diff) = schema_difference(first, schema) {
                let d = self
                    .at(name.span(), format!("fan-in of incompatible schemas: `{}` and `{}` differ: {diff}", first_name.get_ref(), name.get_ref()))
                    .component(component)
                    .key("inputs")
                    .help("inputs of one component must produce the same columns with the same types; use separate sinks");
                self.push(d);
                return None;
            }
        }
        let schema = if upstream.len() == 1 {
            first.clone()
        } else {
            // Nullability is the union: a column nullable in any input is nullable here.
            let fields: Vec<Field> = first
                .fields()
                .iter()
                .map(|f| {
                    let nullable = upstream.iter().any(|(_, s, _)| {
                        s.field_with_name(f.name())
                            .map(|g| g.is_nullable())
                            .unwrap_or(true)
                    });
                    f.as_ref().clone().with_nullable(nullable)
                })
                .collect();
            Arc::new(Schema::new(fields))
        };
        // Domains only describe a source feeding this component directly and alone.
        let domains = if upstream.len() == 1 {
            domains.clone()
        } else {
            Vec::new()
        };
        Some(BuildInput { schema, domains })
    }
}

/// How two schemas differ (by column name and type), or `None` if they agree.
fn schema_difference(a: &Schema, b: &Schema) -> Option<String> {
    let mut problems = Vec::new();
    let bmap: BTreeMap<&str, &Field> = b
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.as_ref()))
        .collect();
    let amap: BTreeMap<&str, &Field> = a
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.as_ref()))
        .collect();
    for (name, fa) in &amap {
        match bmap.get(name) {
            None => problems.push(format!("column `{name}` only in the first")),
            Some(fb) if fa.data_type() != fb.data_type() => problems.push(format!(
                "column `{name}` is {} vs {}",
                fa.data_type(),
                fb.data_type()
            )),
            Some(_) => {}
        }
    }
    for name in bmap.keys() {
        if !amap.contains_key(name) {
            problems.push(format!("column `{name}` only in the second"));
        }
    }
    if problems.is_empty()
        && a.fields()
            .iter()
            .map(|f| f.name())
            .ne(b.fields().iter().map(|f| f.name()))
    {
        problems.push("same columns in a different order".into());
    }
    if problems.is_empty() {
        None
    } else {
        let more = problems.len().saturating_sub(3);
        problems.truncate(3);
        let mut s = problems.join("; ");
        if more > 0 {
            s.push_str(&format!("; and {more} more"));
        }
        Some(s)
    }
}

/// One cycle among the `stuck` transforms.
fn find_cycle(raws: &[Raw<'_>], index: &HashMap<&str, usize>, stuck: &[usize]) -> Vec<usize> {
    let stuck_set: HashSet<usize> = stuck.iter().copied().collect();
    let mut path = vec![stuck[0]];
    let mut on_path: HashMap<usize, usize> = HashMap::from([(stuck[0], 0)]);
    loop {
        let cur = *path.last().unwrap_or(&stuck[0]);
        let next = raws[cur]
            .inputs
            .iter()
            .filter_map(|i| index.get(i.get_ref().as_str()).copied())
            .find(|n| stuck_set.contains(n));
        match next {
            Some(n) => {
                if let Some(&pos) = on_path.get(&n) {
                    let mut cycle = path[pos..].to_vec();
                    cycle.reverse();
                    return cycle;
                }
                on_path.insert(n, path.len());
                path.push(n);
            }
            None => return path,
        }
    }
}

/// The dotted key whose value (or key) sits at `span` inside `table`.
fn key_at(table: &DeTable<'_>, span: &Range<usize>, prefix: &str) -> Option<String> {
    for (k, v) in table {
        let name = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        if k.span() == *span || v.span() == *span {
            return Some(name);
        }
        let vs = v.span();
        if vs.start <= span.start && span.end <= vs.end {
            if let Some(found) = v.get_ref().as_table().and_then(|t| key_at(t, span, &name)) {
                return Some(found);
            }
            return Some(name);
        }
    }
    None
}

/// The top-level key of `table` whose key or value holds `span`.
fn top_key_at(table: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let holds = |s: Range<usize>| s.start <= span.start && span.end <= s.end;
    table
        .iter()
        .find(|(k, v)| holds(k.span()) || holds(v.span()))
        .map(|(k, _)| k.get_ref().to_string())
}

/// The span of the value of dotted `key` in `table`.
fn span_of_key(table: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    let (head, rest) = match key.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (key, None),
    };
    let (k, v) = table.get_key_value(head)?;
    match rest {
        None => Some(v.span())
            .filter(|s| !s.is_empty())
            .or_else(|| Some(k.span())),
        Some(rest) => v
            .get_ref()
            .as_table()
            .and_then(|t| span_of_key(t, rest))
            .or_else(|| Some(v.span())),
    }
}

/// Serde speaks Rust (`expected u32`); users write TOML.
fn humanize(message: &str) -> String {
    const WORDS: [(&str, &str); 10] = [
        ("expected usize", "expected a non-negative integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected u8", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a boolean", "expected `true` or `false`"),
    ];
    let mut out = message.to_owned();
    for (rust, human) in WORDS {
        if let Some(pos) = out.find(rust) {
            let end = pos + rust.len();
            // Whole words only: `expected u32` but not `expected u32s`.
            if out[end..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric())
            {
                out.replace_range(pos..end, human);
            }
        }
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

/// `x` in "...prefix`x`..." (prefix includes the opening backtick).
fn between_backticks(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}
