//! Reading: the parsed TOML tree into `[pipeline]` settings and one [`Raw`] per component table
//! (`type`, `inputs` and the plugin's own keys apart), with `${VAR}` references interpolated
//! and `[pipeline] state` checked. Nothing is built here.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::serde_diag::{span_of_key, top_key_at};
use super::{
    LITERAL_SECRET_MIN_CHARS, Loader, PipelineSettings, Severity, did_you_mean, env, is_secret_key,
};
use crate::component::ComponentId;
use crate::registry::{Kind, Registry, schema_keys};
use crate::state::{StateConfig, StateTable};

/// One `[section.ID]` table, before building.
pub(super) struct Raw<'a> {
    pub(super) kind: Kind,
    pub(super) id: String,
    /// Span of the id key (`pages` in `[sources.pages]`).
    pub(super) id_span: Range<usize>,
    pub(super) plugin: Option<&'static str>,
    pub(super) inputs: Vec<Spanned<String>>,
    /// The table minus `type` and `inputs`, interpolated.
    pub(super) config: Option<Spanned<DeValue<'a>>>,
    /// The table as written (for locating keys named by build errors).
    pub(super) table: DeTable<'a>,
}

impl Raw<'_> {
    /// `sources.pages`: how messages name the component.
    pub(super) fn name(&self) -> String {
        ComponentId::new(self.kind, &self.id).to_string()
    }
}

const SECTIONS: [&str; 4] = ["pipeline", "sources", "transforms", "sinks"];

impl Loader {
    /// Reads the top-level tables: `[pipeline]` into settings (defaults if absent or wrong) and
    /// every component into a [`Raw`]; a component too broken to read is reported and left out.
    pub(super) fn read_root<'a>(
        &mut self,
        root: DeTable<'a>,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (PipelineSettings, Vec<Raw<'a>>) {
        let mut settings = PipelineSettings::default();
        let mut raws: Vec<Raw<'a>> = Vec::new();
        for (key, value) in root {
            let name = key.get_ref().as_ref();
            match name {
                "pipeline" => {
                    if let Some(s) = self.read_settings(value, env) {
                        settings = s;
                    }
                }
                "sources" | "transforms" | "sinks" => {
                    let kind = match name {
                        "sources" => Kind::Source,
                        "transforms" => Kind::Transform,
                        _ => Kind::Sink,
                    };
                    let section = self.read_section(kind, value, registry, env);
                    raws.extend(section);
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
        (settings, raws)
    }

    /// The `[pipeline]` table, interpolated; `None` if it is wrong (reported).
    fn read_settings(
        &mut self,
        value: Spanned<DeValue<'_>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<PipelineSettings> {
        let table = value.get_ref().as_table().cloned();
        let value = self.interpolate_value(value, env);
        let state_checked = self.check_state(&value);
        match PipelineSettings::deserialize(value.into_deserializer()) {
            Ok(s) => Some(s),
            // `check_state` already said what is wrong with `state`, precisely;
            // the untagged enum could only say "did not match any variant".
            Err(e)
                if !state_checked
                    && e.span().is_some_and(|span| {
                        table
                            .as_ref()
                            .and_then(|t| top_key_at(t, &span))
                            .is_some_and(|k| k == "state")
                    }) =>
            {
                None
            }
            Err(e) => {
                self.serde_error(
                    &e,
                    "pipeline",
                    table.as_ref(),
                    &schema_keys(&schemars::schema_for!(PipelineSettings)),
                );
                None
            }
        }
    }

    /// `[sources]`, `[transforms]` or `[sinks]`: one [`Raw`] per component table.
    fn read_section<'a>(
        &mut self,
        kind: Kind,
        value: Spanned<DeValue<'a>>,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<Raw<'a>> {
        let name = kind.section();
        let span = value.span();
        match value.into_inner() {
            DeValue::Table(table) => table
                .into_iter()
                .filter_map(|(id, comp)| self.raw_component(kind, id, comp, registry, env))
                .collect(),
            other => {
                self.error(
                    Some(span),
                    format!(
                        "`{name}` must be a table of components, found {}",
                        other.type_str()
                    ),
                    format!("write each component as its own table: `[{name}.my_id]`"),
                );
                Vec::new()
            }
        }
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
        let component = ComponentId::new(kind, id.as_str()).to_string();
        let DeValue::Table(mut table) = comp.into_inner() else {
            self.error(
                Some(comp_span),
                format!("`{component}` must be a table"),
                format!("write `[{component}]` followed by its keys"),
            );
            return None;
        };
        let original = table.clone();
        let plugin = self.component_type(
            kind,
            &id,
            &id_span,
            &component,
            table.remove("type"),
            registry,
        );
        let inputs = self.component_inputs(kind, &id, &id_span, &component, table.remove("inputs"));
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

    /// The plugin named by `type` (`value`), or `None` if it is missing, not a string or not a
    /// registered plugin of this kind (reported).
    fn component_type(
        &mut self,
        kind: Kind,
        id: &str,
        id_span: &Range<usize>,
        component: &str,
        value: Option<Spanned<DeValue<'_>>>,
        registry: &Registry,
    ) -> Option<&'static str> {
        match value {
            None => {
                let known = registry.names(kind).join("`, `");
                let d = self
                    .at(
                        id_span.clone(),
                        format!("{} `{id}` has no `type`", kind.noun()),
                    )
                    .component(component)
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
                                .component(component)
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
                            .component(component)
                            .key("type");
                        self.push(d);
                        None
                    }
                }
            }
        }
    }

    /// The ids in `inputs` (`value`): none for a source, at least one for the others; entries
    /// that are not strings are reported and left out.
    fn component_inputs(
        &mut self,
        kind: Kind,
        id: &str,
        id_span: &Range<usize>,
        component: &str,
        value: Option<Spanned<DeValue<'_>>>,
    ) -> Vec<Spanned<String>> {
        match (kind, value) {
            (Kind::Source, Some(v)) => {
                let d = self
                    .at(v.span(), format!("source `{id}` cannot have `inputs`"))
                    .component(component)
                    .key("inputs")
                    .help("sources read from outside the pipeline; remove `inputs`, or make this a transform or a sink");
                self.push(d);
                Vec::new()
            }
            (Kind::Source, None) => Vec::new(),
            (_, None) => {
                let d = self
                    .at(
                        id_span.clone(),
                        format!("{} `{id}` has no `inputs`", kind.noun()),
                    )
                    .component(component)
                    .key("inputs")
                    .help("add `inputs = [\"source_or_transform_id\"]`");
                self.push(d);
                Vec::new()
            }
            (_, Some(v)) => self.input_list(kind, id, component, v),
        }
    }

    /// The ids of an `inputs` value that is given: it must be a non-empty list of strings.
    fn input_list(
        &mut self,
        kind: Kind,
        id: &str,
        component: &str,
        v: Spanned<DeValue<'_>>,
    ) -> Vec<Spanned<String>> {
        let mut inputs = Vec::new();
        let span = v.span();
        match v.into_inner() {
            DeValue::Array(items) if items.is_empty() => {
                let d = self
                    .at(
                        span,
                        format!("{} `{id}` has an empty `inputs` list", kind.noun()),
                    )
                    .component(component)
                    .key("inputs")
                    .help("name at least one source or transform");
                self.push(d);
            }
            DeValue::Array(items) => {
                for item in items {
                    let s = item.span();
                    match item.into_inner() {
                        DeValue::String(name) => inputs.push(Spanned::new(s, name.into_owned())),
                        other => {
                            let d = self
                                .at(
                                    s,
                                    format!(
                                        "`inputs` must list component ids as strings, found {}",
                                        other.type_str()
                                    ),
                                )
                                .component(component)
                                .key("inputs");
                            self.push(d);
                        }
                    }
                }
            }
            DeValue::String(name) => {
                let d = self
                    .at(span, "`inputs` must be a list")
                    .component(component)
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
                    .component(component)
                    .key("inputs");
                self.push(d);
            }
        }
        inputs
    }

    /// Help for an unknown `type`: the section it belongs in if it is another kind's plugin,
    /// else the nearest name, else every name.
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

    /// [`Self::interpolate_value_in`] for the `[pipeline]` table.
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
        let config = match state.get_ref() {
            DeValue::String(path) => StateConfig::Path(path.to_string()),
            DeValue::Table(table) => match self.state_table(state.span(), table) {
                Some(config) => config,
                None => return false,
            },
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
        self.validate_state(state, &config)
    }

    /// Reads a `[pipeline.state]` table (at `span`) key by key; `None` if it is wrong (reported).
    fn state_table(&mut self, span: Range<usize>, table: &DeTable<'_>) -> Option<StateConfig> {
        let keys = StateConfig::keys();
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
            return None;
        }
        // `path` and the store options apart: through `#[serde(flatten)]` a wrong type
        // would lose its location.
        let Some(path) = table.get("path") else {
            let d = self
                .at(
                    span.clone(),
                    "missing required key `path` in `pipeline.state`",
                )
                .component("pipeline.state")
                .key("path")
                .help("add path = \"state/daily.json\" or an s3://, gs:// or az:// URL");
            self.push(d);
            return None;
        };
        let Some(path) = path.get_ref().as_str().map(str::to_owned) else {
            let d = self
                .at(path.span(), "`path` must be a string")
                .component("pipeline.state")
                .key("path");
            self.push(d);
            return None;
        };
        let mut rest = table.clone();
        rest.remove("path");
        let rest = Spanned::new(span, DeValue::Table(rest));
        match crate::store::StoreOptions::deserialize(rest.into_deserializer()) {
            Ok(store) => Some(StateConfig::Table(StateTable { path, store })),
            Err(e) => {
                let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
                self.serde_error(&e, "pipeline.state", Some(table), &keys);
                None
            }
        }
    }

    /// Checks the state location and store options as the sinks check theirs, reporting a
    /// problem at the key it names; returns whether they are fine.
    fn validate_state(&mut self, state: &Spanned<DeValue<'_>>, config: &StateConfig) -> bool {
        let Err(e) = config.validate() else {
            return true;
        };
        let span = match (state.get_ref().as_table(), e.key.as_deref()) {
            (Some(t), Some(key)) => span_of_key(t, key).unwrap_or(state.span()),
            _ => state.span(),
        };
        let (component, key) = match (config, e.key.as_deref()) {
            (StateConfig::Table(_), Some(key)) => ("pipeline.state", key),
            _ => ("pipeline", "state"),
        };
        let d = self
            .at(span, e.message.clone())
            .component(component)
            .key(key)
            .maybe_help(e.help.clone());
        self.push(d);
        false
    }
}
