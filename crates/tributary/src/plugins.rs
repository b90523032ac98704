//! The one list of built-in plugins, and the in-process services they may start.

use std::sync::Arc;

use futures::future::BoxFuture;
use tributary_core::RunError;
use tributary_core::plugin::{EmbeddedHandle, EmbeddedService, Services};
use tributary_core::registry::Registry;

/// Every built-in plugin. Adding a plugin: one crate, one line here.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.source::<source_graph_conversations::GraphConversations>();
    r.transform::<transform_filter::Filter>();
    r.transform::<transform_explode_messages::ExplodeMessages>();
    r.transform::<transform_pseudonymize::Pseudonymize>();
    r.transform::<plugin_exec::ExecTransformPlugin>();
    r.sink::<sink_parquet::Parquet>();
    r.sink::<sink_ndjson::Ndjson>();
    r.sink::<sink_stdout::Stdout>();
    r.sink::<plugin_exec::ExecSinkPlugin>();
    #[cfg(feature = "delta")]
    r.sink::<sink_delta::Delta>();
    r
}

/// In-process services (`base_url = "embedded"` starts the Graph emulator).
pub fn services() -> Services {
    let mut s = Services::default();
    // The name the Graph source asks for: one constant, so the two cannot drift apart.
    s.register(
        source_graph_conversations::source::EMBEDDED_SERVICE,
        Arc::new(EmbeddedGraph),
    );
    s
}

/// The Graph emulator with its default dataset, started per source that asks for it.
struct EmbeddedGraph;

impl EmbeddedService for EmbeddedGraph {
    fn start(&self) -> BoxFuture<'static, Result<EmbeddedHandle, RunError>> {
        Box::pin(async {
            // Four Pages, as the demo pipeline lists them (104857600000001..4); the same data
            // as `tributary emulate --demo`.
            let config = graph_emulator::EmulatorConfig {
                pages: graph_emulator::cli::DEMO_PAGES,
                ..Default::default()
            };
            let emulator = graph_emulator::start(config).await.map_err(|e| {
                RunError::msg(format!("cannot start the embedded Graph emulator: {e}"))
            })?;
            Ok(EmbeddedHandle {
                url: emulator.base_url().to_owned(),
                guard: Box::new(emulator),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    /// Config doc comments are the user manual (`tributary plugins`, `config-schema`): every key
    /// of every registered plugin must have one.
    #[test]
    fn every_config_key_of_every_plugin_is_documented() {
        let registry = super::registry();
        let mut checked = 0;
        for plugin in registry.plugins() {
            let schema = serde_json::to_value(&plugin.schema).unwrap();
            let Some(props) = schema["properties"].as_object() else {
                continue;
            };
            for (key, prop) in props {
                assert!(
                    prop.get("description").is_some(),
                    "`{key}` of the {} plugin `{}` has no doc comment",
                    plugin.kind.noun(),
                    plugin.name
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} keys found");
    }

    /// `tributary emulate` prints a URL to try; it names the version pipelines use by default.
    #[test]
    fn the_emulators_hint_uses_the_pipelines_default_api_version() {
        assert_eq!(
            graph_emulator::DEFAULT_VERSION,
            source_graph_conversations::config::DEFAULT_API_VERSION
        );
    }
}
