//! The JSON Schema of a pipeline file, for editors with TOML language servers (completion, hover
//! docs, checks). It lives with the loader because it describes the file the loader reads; the
//! registry only supplies each plugin's config schema.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::PipelineSettings;
use crate::registry::{Kind, Registry};

/// A JSON Schema (draft 2020-12) for whole pipeline files, built from every plugin's config
/// type, for editors with TOML language servers (completion, hover docs, checks).
///
/// Each component table is a `oneOf` over the plugins of its section, told apart by the
/// `type` constant; each plugin's own definitions are namespaced as `<kind>.<name>.<Def>` so
/// two plugins may use the same type names.
pub fn pipeline_schema(registry: &Registry) -> Value {
    let mut defs = Map::new();
    let mut by_kind: BTreeMap<Kind, Vec<Value>> = BTreeMap::new();
    for info in registry.plugins() {
        let prefix = format!("{}.{}.", info.kind.noun(), info.name);
        let mut schema = info.schema.clone().to_value();
        rewrite_refs(&mut schema, &prefix);
        if let Some(Value::Object(own)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
            for (name, def) in own {
                defs.insert(format!("{prefix}{name}"), def);
            }
        }
        if let Some(obj) = schema.as_object_mut() {
            obj.remove("$schema");
            obj.insert("description".into(), Value::String(info.description.into()));
            let props = obj.entry("properties").or_insert_with(|| json!({}));
            if let Some(props) = props.as_object_mut() {
                props.insert(
                    "type".into(),
                    json!({ "const": info.name, "description": "The plugin." }),
                );
                if info.kind != Kind::Source {
                    props.insert(
                        "inputs".into(),
                        json!({
                            "type": "array", "items": { "type": "string" }, "minItems": 1,
                            "description": "Ids of the sources or transforms this component reads from."
                        }),
                    );
                }
            }
            let required = obj.entry("required").or_insert_with(|| json!([]));
            if let Some(required) = required.as_array_mut() {
                required.push(json!("type"));
                if info.kind != Kind::Source {
                    required.push(json!("inputs"));
                }
            }
        }
        by_kind.entry(info.kind).or_default().push(schema);
    }
    let section = |kind: Kind| {
        json!({
            "type": "object",
            "description": format!("{}, by id", kind.section()),
            "additionalProperties": { "oneOf": by_kind.get(&kind).cloned().unwrap_or_default() }
        })
    };
    let mut settings = schemars::schema_for!(PipelineSettings).to_value();
    if let Some(obj) = settings.as_object_mut() {
        obj.remove("$schema");
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tributary pipeline",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "pipeline": settings,
            "sources": section(Kind::Source),
            "transforms": section(Kind::Transform),
            "sinks": section(Kind::Sink),
        },
        "required": ["sources", "sinks"],
        "$defs": defs,
    })
}

/// Prefixes every local `$ref` (`#/$defs/X` → `#/$defs/<prefix>X`).
fn rewrite_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "$ref" => {
                        if let Some(name) = s.strip_prefix("#/$defs/") {
                            *s = format!("#/$defs/{prefix}{name}");
                        }
                    }
                    _ => rewrite_refs(v, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, prefix)),
        _ => {}
    }
}
