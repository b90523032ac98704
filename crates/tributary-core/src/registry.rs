//! The registry: every plugin this build of tributary knows, by kind and `type` name.
//!
//! The typed plugin traits are erased here into plain function pointers, so the loader can build
//! any component from its TOML table. The binary fills one registry from one explicit list.

use std::collections::BTreeMap;

use serde::de::IntoDeserializer;
use toml::Spanned;
use toml::de::DeValue;

use crate::error::BuildError;
use crate::plugin::{
    BuildContext, BuildInput, Sink, SinkPlugin, Source, SourcePlugin, Transform, TransformPlugin,
};

pub use crate::component::Kind;

/// Why a component could not be built from its table.
#[derive(Debug)]
pub enum PluginError {
    /// The table does not deserialize into the plugin's `Config` (located by toml).
    Config(toml::de::Error),
    /// The plugin's `build` refused the configuration.
    Build(BuildError),
}

type BuildSourceFn =
    for<'a> fn(Spanned<DeValue<'a>>, &BuildContext) -> Result<Box<dyn Source>, PluginError>;
type BuildTransformFn = for<'a> fn(
    Spanned<DeValue<'a>>,
    &BuildInput,
    &BuildContext,
) -> Result<Box<dyn Transform>, PluginError>;
type BuildSinkFn = for<'a> fn(
    Spanned<DeValue<'a>>,
    &BuildInput,
    &BuildContext,
) -> Result<Box<dyn Sink>, PluginError>;

/// Deserializes a table into a plugin's `Config` and nothing more (no `build`, no input schema):
/// how the loader still checks the keys of a component whose upstream failed to build.
pub(crate) type CheckFn = for<'a> fn(Spanned<DeValue<'a>>) -> Result<(), toml::de::Error>;

/// What `tributary plugins` and the JSON Schema know about a plugin.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// Source, transform or sink.
    pub kind: Kind,
    /// The TOML `type` value.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// The JSON Schema of the plugin's `Config` (keys, types, defaults, docs).
    pub schema: schemars::Schema,
}

impl PluginInfo {
    /// The names of the top-level config keys the plugin accepts (without `type`/`inputs`).
    pub fn keys(&self) -> Vec<String> {
        schema_keys(&self.schema)
    }
}

/// The keys of an object schema (`properties`), in declaration order.
pub fn schema_keys(schema: &schemars::Schema) -> Vec<String> {
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[derive(Clone)]
pub(crate) enum Builder {
    Source(BuildSourceFn),
    Transform(BuildTransformFn),
    Sink(BuildSinkFn),
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) info: PluginInfo,
    pub(crate) builder: Builder,
    pub(crate) check: CheckFn,
}

/// Every registered plugin.
#[derive(Clone, Default)]
pub struct Registry {
    entries: BTreeMap<(Kind, &'static str), Entry>,
    committers: crate::plugin::Committers,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

fn config_from<T: serde::de::DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
) -> Result<T, PluginError> {
    T::deserialize(value.into_deserializer()).map_err(PluginError::Config)
}

fn check_config<T: serde::de::DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
) -> Result<(), toml::de::Error> {
    T::deserialize(value.into_deserializer()).map(drop)
}

fn build_source<P: SourcePlugin>(
    value: Spanned<DeValue<'_>>,
    ctx: &BuildContext,
) -> Result<Box<dyn Source>, PluginError> {
    P::build(config_from(value)?, ctx).map_err(PluginError::Build)
}

fn build_transform<P: TransformPlugin>(
    value: Spanned<DeValue<'_>>,
    input: &BuildInput,
    ctx: &BuildContext,
) -> Result<Box<dyn Transform>, PluginError> {
    P::build(config_from(value)?, input, ctx).map_err(PluginError::Build)
}

fn build_sink<P: SinkPlugin>(
    value: Spanned<DeValue<'_>>,
    input: &BuildInput,
    ctx: &BuildContext,
) -> Result<Box<dyn Sink>, PluginError> {
    P::build(config_from(value)?, input, ctx).map_err(PluginError::Build)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, info: PluginInfo, builder: Builder, check: CheckFn) -> &mut Self {
        let key = (info.kind, info.name);
        assert!(
            !self.entries.contains_key(&key),
            "plugin `{}` registered twice as a {}",
            info.name,
            info.kind.noun()
        );
        self.entries.insert(
            key,
            Entry {
                info,
                builder,
                check,
            },
        );
        self
    }

    /// Registers source plugin `P`.
    pub fn source<P: SourcePlugin>(&mut self) -> &mut Self {
        let info = PluginInfo {
            kind: Kind::Source,
            name: P::NAME,
            description: P::DESCRIPTION,
            schema: schemars::schema_for!(P::Config),
        };
        self.insert(
            info,
            Builder::Source(build_source::<P>),
            check_config::<P::Config>,
        )
    }

    /// Registers transform plugin `P`.
    pub fn transform<P: TransformPlugin>(&mut self) -> &mut Self {
        let info = PluginInfo {
            kind: Kind::Transform,
            name: P::NAME,
            description: P::DESCRIPTION,
            schema: schemars::schema_for!(P::Config),
        };
        self.insert(
            info,
            Builder::Transform(build_transform::<P>),
            check_config::<P::Config>,
        )
    }

    /// Registers sink plugin `P`.
    pub fn sink<P: SinkPlugin>(&mut self) -> &mut Self {
        let info = PluginInfo {
            kind: Kind::Sink,
            name: P::NAME,
            description: P::DESCRIPTION,
            schema: schemars::schema_for!(P::Config),
        };
        if let Some((kind, commit)) = P::COMMITTER {
            self.committers.insert(kind, commit);
        }
        self.insert(
            info,
            Builder::Sink(build_sink::<P>),
            check_config::<P::Config>,
        )
    }

    /// The commit functions of the registered sinks that bring their own (see
    /// [`SinkPlugin::COMMITTER`]).
    pub fn committers(&self) -> crate::plugin::Committers {
        self.committers.clone()
    }

    /// Every plugin, sorted by kind then name.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginInfo> {
        self.entries.values().map(|e| &e.info)
    }

    /// The plugin of `kind` named `name`.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&PluginInfo> {
        self.entry(kind, name).map(|e| &e.info)
    }

    pub(crate) fn entry(&self, kind: Kind, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|((k, n), _)| *k == kind && *n == name)
            .map(|(_, e)| e)
    }

    /// The names of every plugin of `kind`.
    pub fn names(&self, kind: Kind) -> Vec<&'static str> {
        self.entries
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
            .collect()
    }
}
