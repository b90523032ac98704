//! The component graph: unique ids, `inputs` that name a source or transform, no cycles, a build
//! order, and the merged input schema of a component that reads from several others (fan-in).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use toml::Spanned;

use super::raw::Raw;
use super::{Loader, did_you_mean};
use crate::plugin::{BuildInput, ValueDomain};
use crate::registry::Kind;

impl Loader {
    /// Reports a pipeline without sources or without sinks: it could not do anything. `at` is
    /// where the file starts, the only place such a problem can point to.
    pub(super) fn check_not_empty(&mut self, raws: &[Raw<'_>], at: usize) {
        if !raws.iter().any(|r| r.kind == Kind::Source) {
            self.error(
                Some(at..at),
                "the pipeline has no sources",
                "add a source, for example `[sources.pages]` with `type = \"graph_conversations\"`",
            );
        }
        if !raws.iter().any(|r| r.kind == Kind::Sink) {
            self.error(Some(at..at), "the pipeline has no sinks", "add a sink, for example `[sinks.console]` with `type = \"stdout\"` and `inputs = [\"...\"]`");
        }
    }

    /// Duplicate ids across sections (TOML itself rejects duplicates within one table).
    pub(super) fn check_ids(&mut self, raws: &[Raw<'_>]) {
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
    pub(super) fn check_graph(&mut self, raws: &[Raw<'_>]) -> Option<Vec<usize>> {
        // Reversed so that, of two components sharing an id (reported by `check_ids`), the
        // first one written is the one `inputs` refer to.
        let index: HashMap<&str, usize> = raws
            .iter()
            .enumerate()
            .rev()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        self.check_inputs(raws, &index);
        let (mut order, stuck) = transform_order(raws, &index);
        if !stuck.is_empty() {
            self.report_cycle(raws, &index, &stuck);
            return None;
        }
        order.extend((0..raws.len()).filter(|&i| raws[i].kind == Kind::Sink));
        Some(order)
    }

    /// Reports every `inputs` entry that names nothing, a sink, or the component itself.
    fn check_inputs(&mut self, raws: &[Raw<'_>], index: &HashMap<&str, usize>) {
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
    }

    /// Reports one cycle among the `stuck` transforms: naming the whole loop tells the user
    /// which `inputs` to change, where "these transforms are stuck" would not.
    fn report_cycle(&mut self, raws: &[Raw<'_>], index: &HashMap<&str, usize>, stuck: &[usize]) {
        let cycle = find_cycle(raws, index, stuck);
        let first = &raws[cycle[0]];
        let path: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&cycle[0]))
            .map(|&i| raws[i].id.as_str())
            .collect();
        let d = self
            .at(
                first.id_span.clone(),
                format!("the transforms form a cycle: {}", path.join(" -> ")),
            )
            .component(first.name())
            .key("inputs")
            .help(
                "a pipeline is a DAG: make one of these read from a source or an earlier transform",
            );
        self.push(d);
    }

    /// The input of a transform or sink; with fan-in, all schemas must agree on names and types.
    pub(super) fn merge_inputs(
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

/// Sources, then the transforms in an order where each comes after its inputs (Kahn's
/// algorithm); also the transforms that could not be placed, which are on or behind a cycle.
fn transform_order(raws: &[Raw<'_>], index: &HashMap<&str, usize>) -> (Vec<usize>, Vec<usize>) {
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
    (order, stuck)
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
