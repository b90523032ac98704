//! Building: each component's table is checked against its plugin's config type, then built
//! through the registry in dependency order, every upstream's output schema handed downstream.
//! Plugins' `build` does no I/O, so this is where `validate` catches what a run would.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::raw::Raw;
use super::serde_diag::{between_backticks, first_line, span_of_key, top_key_at};
use super::{Loader, NodeId, Severity, SinkNode, SourceNode, TransformNode, duplication};
use crate::component::ComponentId;
use crate::plugin::{BuildContext, BuildInput, ValueDomain};
use crate::registry::{Builder, Entry, Kind, PluginError, Registry};

/// The built components: sources and sinks in file order, transforms in dependency order.
pub(super) struct Nodes {
    pub(super) sources: Vec<SourceNode>,
    pub(super) transforms: Vec<TransformNode>,
    pub(super) sinks: Vec<SinkNode>,
}

/// What the components built so far leave for the ones that read from them.
struct Built {
    nodes: Nodes,
    /// The node each built id became, for its readers' `inputs`.
    ids: HashMap<String, NodeId>,
    /// Each built id's output schema and value domains, for its readers' [`BuildInput`].
    schemas: HashMap<String, (SchemaRef, Vec<ValueDomain>)>,
    /// How many components read each id: a source's value domains are only handed to its
    /// consumer when that consumer is the only one (otherwise a value one consumer drops may
    /// be used by another, and nothing is fetched for nothing).
    readers: HashMap<String, usize>,
    /// Whether some component failed (and the pipeline is refused).
    failed: bool,
}

impl Built {
    fn new(raws: &[Raw<'_>]) -> Self {
        let mut readers: HashMap<String, usize> = HashMap::new();
        for raw in raws {
            for input in &raw.inputs {
                *readers.entry(input.get_ref().clone()).or_default() += 1;
            }
        }
        Self {
            nodes: Nodes {
                sources: Vec::new(),
                transforms: Vec::new(),
                sinks: Vec::new(),
            },
            ids: HashMap::new(),
            schemas: HashMap::new(),
            readers,
            failed: false,
        }
    }

    /// Builds `raw` with its plugin and records the node, so the components reading from it
    /// find its id and output schema.
    fn add(
        &mut self,
        raw: &Raw<'_>,
        entry: &Entry,
        config: Spanned<DeValue<'_>>,
        input: Option<&BuildInput>,
        ctx: &BuildContext,
    ) -> Result<(), PluginError> {
        let plugin = entry.info.name;
        let node_inputs: Vec<NodeId> = raw
            .inputs
            .iter()
            .filter_map(|inp| self.ids.get(inp.get_ref()).copied())
            .collect();
        match (&entry.builder, input) {
            (Builder::Source(build), None) => build(config, ctx).map(|source| {
                let schema = source.schema();
                let domains = source.domains();
                self.schemas
                    .insert(raw.id.clone(), (schema.clone(), domains));
                self.ids
                    .insert(raw.id.clone(), NodeId::Source(self.nodes.sources.len()));
                self.nodes.sources.push(SourceNode {
                    id: raw.id.clone(),
                    plugin,
                    source,
                    schema,
                });
            }),
            (Builder::Transform(build), Some(input)) => {
                build(config, input, ctx).map(|transform| {
                    let schema = transform.output_schema();
                    self.schemas
                        .insert(raw.id.clone(), (schema.clone(), Vec::new()));
                    self.ids.insert(
                        raw.id.clone(),
                        NodeId::Transform(self.nodes.transforms.len()),
                    );
                    self.nodes.transforms.push(TransformNode {
                        id: raw.id.clone(),
                        plugin,
                        inputs: node_inputs,
                        transform: Arc::from(transform),
                        schema,
                    });
                })
            }
            (Builder::Sink(build), Some(input)) => build(config, input, ctx).map(|sink| {
                self.nodes.sinks.push(SinkNode {
                    id: raw.id.clone(),
                    plugin,
                    inputs: node_inputs,
                    sink,
                    schema: input.schema.clone(),
                });
            }),
            // Not reached: a source is built without input and the others with one.
            _ => Ok(()),
        }
    }
}

impl Loader {
    /// Builds every component in `order` (see `check_graph`); `None` if any failed, each
    /// failure reported.
    pub(super) fn build_all(
        &mut self,
        pipeline: &str,
        raws: Vec<Raw<'_>>,
        order: Vec<usize>,
        registry: &Registry,
    ) -> Option<Nodes> {
        let root_ctx = BuildContext::source(pipeline, "").with_dir(self.base_dir());
        let mut built = Built::new(&raws);
        let mut slots: Vec<Option<Raw<'_>>> = raws.into_iter().map(Some).collect();
        for i in order {
            let Some(raw) = slots[i].take() else {
                continue;
            };
            self.build_one(raw, registry, &root_ctx, &mut built);
        }
        self.report_build_warnings(&root_ctx);
        self.warn_unread(&built);
        if built.failed {
            None
        } else {
            Some(built.nodes)
        }
    }

    /// The folder relative paths in plugin configs are resolved against: the pipeline file's.
    fn base_dir(&self) -> PathBuf {
        // A file named without a folder (`tributary run p.toml`) has the empty parent `""`.
        match self.src.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Checks one component's table and, if it is clean and everything it reads from built,
    /// builds it.
    fn build_one(
        &mut self,
        mut raw: Raw<'_>,
        registry: &Registry,
        root_ctx: &BuildContext,
        built: &mut Built,
    ) {
        // Every component's table is checked against its plugin's config type first, even
        // when its inputs failed to build (so mistakes are reported all at once, not one
        // component per `validate`); only a clean table is built.
        if !self.check_component(&raw, registry) {
            built.failed = true;
            return;
        }
        let Some(plugin) = raw.plugin else {
            built.failed = true;
            return;
        };
        let Some(config) = raw.config.take() else {
            return;
        };
        let Some(entry) = registry.entry(raw.kind, plugin) else {
            return;
        };
        let component = raw.name();
        let ctx = root_ctx.for_component(raw.kind, &raw.id);
        let input = if raw.kind == Kind::Source {
            None
        } else {
            let Some(input) = self.component_input(&raw, &component, built) else {
                return;
            };
            Some(input)
        };
        if let Err(e) = built.add(&raw, entry, config, input.as_ref(), &ctx) {
            built.failed = true;
            self.plugin_error(e, &raw, &component, &entry.info.keys());
        }
    }

    /// What a transform or sink reads: every upstream must have built, and with fan-in their
    /// schemas must agree. `None` if not (reported once, where it went wrong).
    fn component_input(
        &mut self,
        raw: &Raw<'_>,
        component: &str,
        built: &mut Built,
    ) -> Option<BuildInput> {
        if raw.inputs.is_empty() {
            // Reported while reading `inputs`.
            return None;
        }
        let mut upstream = Vec::new();
        for inp in &raw.inputs {
            match built.schemas.get(inp.get_ref()) {
                Some((schema, domains)) => {
                    let domains = if built.readers.get(inp.get_ref()) == Some(&1) {
                        domains.clone()
                    } else {
                        Vec::new()
                    };
                    upstream.push((inp, schema.clone(), domains))
                }
                // Its own error is already reported; don't cascade.
                None => {
                    built.failed = true;
                }
            }
        }
        if upstream.len() != raw.inputs.len() {
            return None;
        }
        let input = self.merge_inputs(component, &upstream);
        if input.is_none() {
            built.failed = true;
        }
        input
    }

    /// Reports a plugin's refusal: a config error as serde's, a build error at the key it
    /// names (or at the component's id).
    fn plugin_error(&mut self, e: PluginError, raw: &Raw<'_>, component: &str, keys: &[String]) {
        match e {
            PluginError::Config(e) => self.serde_error(&e, component, Some(&raw.table), keys),
            PluginError::Build(e) => {
                let span = e
                    .key
                    .as_deref()
                    .and_then(|k| span_of_key(&raw.table, k))
                    .unwrap_or_else(|| raw.id_span.clone());
                let mut d = self
                    .at(span, e.message)
                    .component(component)
                    .maybe_help(e.help);
                if let Some(k) = e.key {
                    d = d.key(k);
                }
                self.push(d);
            }
        }
    }

    /// Reports the warnings plugins gave while building, at the key they name.
    fn report_build_warnings(&mut self, root_ctx: &BuildContext) {
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
    }

    /// Warns about sources and transforms nothing reads from: they would run (or not) for
    /// nothing, which is most likely a forgotten `inputs` entry.
    fn warn_unread(&mut self, built: &Built) {
        for s in &built.nodes.sources {
            if !built.readers.contains_key(&s.id) {
                let span = self.component_span("sources", &s.id, None);
                let d = self
                    .src
                    .diagnostic(
                        Severity::Warning,
                        span,
                        format!("source `{}` feeds no sink and will not run", s.id),
                    )
                    .component(ComponentId::source(&s.id))
                    .help("add it to some sink's or transform's `inputs`, or remove it");
                self.push(d);
            }
        }
        for t in &built.nodes.transforms {
            if !built.readers.contains_key(&t.id) {
                let span = self.component_span("transforms", &t.id, None);
                let d = self
                    .src
                    .diagnostic(
                        Severity::Warning,
                        span,
                        format!("transform `{}` feeds no sink", t.id),
                    )
                    .component(ComponentId::transform(&t.id))
                    .help("add it to some sink's `inputs`, or remove it");
                self.push(d);
            }
        }
    }

    /// Deserializes the component's table with its plugin's config type and reports every error
    /// serde finds: serde stops at the first, so after each error located in a key that key is
    /// set aside and the rest parsed again. Returns whether the table is clean (a component with
    /// no known plugin or table has its error reported already and is not clean).
    pub(super) fn check_component(&mut self, raw: &Raw<'_>, registry: &Registry) -> bool {
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
        // Keys the plugin does not have, checked against its schema's keys rather than left to
        // serde: `deny_unknown_fields` cannot see through a flattened option group (the store
        // options every file sink shares).
        if let DeValue::Table(table) = value.get_mut() {
            let unknown: Vec<(String, Range<usize>)> = table
                .iter()
                .filter(|(k, _)| !keys.iter().any(|known| known == k.get_ref().as_ref()))
                .map(|(k, _)| (k.get_ref().to_string(), k.span()))
                .collect();
            for (name, span) in unknown {
                self.unknown_key(&name, span, &component, &keys);
                table.remove(name.as_str());
                set_aside.push(name);
            }
        }
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
    pub(super) fn warn_full_copies(&mut self, nodes: &Nodes, has_state: bool) {
        use duplication::Mismatch;
        let Nodes {
            sources,
            transforms,
            sinks,
        } = nodes;
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
                .component(ComponentId::sink(&found.sink))
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
}
