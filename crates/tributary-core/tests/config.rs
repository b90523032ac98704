//! Pipeline-file loading: located diagnostics for every kind of mistake.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use tributary_core::config::{self, ConfigErrors, Pipeline};

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Pipeline, ConfigErrors> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    config::load_str(text, Path::new("p.toml"), &common::registry(), &lookup)
}

fn load(text: &str) -> Result<Pipeline, ConfigErrors> {
    load_env(text, &[])
}

/// The single error's rendered text, asserting there is exactly one.
fn one_error(text: &str) -> String {
    let errs = load(text).expect_err("expected a config error");
    let list: Vec<_> = errs.errors().collect();
    assert_eq!(list.len(), 1, "expected exactly one error, got:\n{errs}");
    list[0].to_string()
}

const OK: &str = r#"
[pipeline]
name = "t"

[sources.a]
type = "gen"
tag = "x"
batches = 1

[sinks.out]
type = "collect"
inputs = ["a"]
tag = "x"
"#;

#[test]
fn a_valid_pipeline_builds_every_component() {
    let p = load(OK).unwrap();
    assert_eq!(p.name, "t");
    assert_eq!(p.sources.len(), 1);
    assert_eq!(p.sinks.len(), 1);
    assert!(p.warnings.is_empty());
}

#[test]
fn unknown_key_points_at_the_key_with_a_suggestion() {
    let e = one_error(&OK.replace("batches = 1", "batches = 1\nbatchez = 2"));
    assert!(e.contains("unknown key `batchez` in `sources.a`"), "{e}");
    assert!(e.contains("p.toml:9:1"), "{e}");
    assert!(e.contains("did you mean `batches`?"), "{e}");
}

#[test]
fn unknown_type_suggests_the_nearest_plugin() {
    let e = one_error(&OK.replace("type = \"collect\"", "type = \"colect\""));
    assert!(e.contains("unknown sink type `colect`"), "{e}");
    assert!(e.contains("p.toml:11:8"), "{e}");
    assert!(e.contains("did you mean `collect`?"), "{e}");
}

#[test]
fn a_plugin_of_another_kind_is_named_as_such() {
    let e = one_error(&OK.replace("type = \"collect\"", "type = \"gen\""));
    assert!(e.contains("`gen` is a source"), "{e}");
}

#[test]
fn wrong_value_type_names_the_key() {
    let e = one_error(&OK.replace("batches = 1", "batches = \"one\""));
    assert!(e.contains("wrong type for `batches`"), "{e}");
    assert!(e.contains("p.toml:8:11"), "{e}");
}

#[test]
fn missing_required_key_is_reported_at_the_component() {
    let e = one_error(&OK.replace("batches = 1", ""));
    assert!(
        e.contains("missing required key `batches` in `sources.a`"),
        "{e}"
    );
}

#[test]
fn missing_type_is_reported() {
    let e = one_error(&OK.replace("type = \"gen\"\n", ""));
    assert!(e.contains("source `a` has no `type`"), "{e}");
    assert!(e.contains("p.toml:5:10"), "{e}");
}

#[test]
fn unknown_input_suggests_an_existing_id() {
    let e = one_error(&OK.replace("inputs = [\"a\"]", "inputs = [\"aa\"]"));
    assert!(e.contains("unknown input `aa`"), "{e}");
    assert!(e.contains("p.toml:12:11"), "{e}");
}

#[test]
fn sink_without_inputs_is_an_error() {
    let e = one_error(&OK.replace("inputs = [\"a\"]\n", ""));
    assert!(e.contains("sink `out` has no `inputs`"), "{e}");
    let e = one_error(&OK.replace("inputs = [\"a\"]", "inputs = []"));
    assert!(e.contains("empty `inputs`"), "{e}");
}

#[test]
fn cycles_are_reported_with_their_path() {
    let text = OK.replace("inputs = [\"a\"]", "inputs = [\"t1\"]")
        + "\n[transforms.t1]\ntype = \"even\"\ninputs = [\"t2\"]\n\n[transforms.t2]\ntype = \"even\"\ninputs = [\"t1\"]\n";
    let e = one_error(&text);
    assert!(e.contains("cycle"), "{e}");
    assert!(
        e.contains("t1 -> t2 -> t1") || e.contains("t2 -> t1 -> t2"),
        "{e}"
    );
}

#[test]
fn duplicate_ids_across_sections_are_errors() {
    let text = OK.to_owned() + "\n[transforms.a]\ntype = \"even\"\ninputs = [\"a\"]\n";
    let errs = load(&text).err().unwrap().to_string();
    assert!(errs.contains("duplicate id `a`"), "{errs}");
}

#[test]
fn incompatible_fan_in_is_an_error() {
    let text = OK.replace("inputs = [\"a\"]", "inputs = [\"a\", \"b\"]")
        + "\n[sources.b]\ntype = \"gen\"\ntag = \"x\"\nbatches = 1\nother_schema = true\n";
    let e = one_error(&text);
    assert!(e.contains("fan-in of incompatible schemas"), "{e}");
    assert!(e.contains("column `n` is Int64 vs Utf8"), "{e}");
}

#[test]
fn empty_pipeline_is_an_error() {
    let errs = load("[pipeline]\nname = \"x\"\n")
        .err()
        .unwrap()
        .to_string();
    assert!(errs.contains("the pipeline has no sources"), "{errs}");
    assert!(errs.contains("the pipeline has no sinks"), "{errs}");
}

#[test]
fn syntax_errors_are_located() {
    let e = one_error("[sources.a\ntype = \"gen\"\n");
    assert!(e.contains("TOML syntax error"), "{e}");
    assert!(e.contains("p.toml:1:"), "{e}");
}

#[test]
fn build_errors_point_at_the_key_the_plugin_names() {
    let e = one_error(&OK.replace("batches = 1", "batches = 1\nrows = 0"));
    assert!(e.contains("must be at least 1"), "{e}");
    assert!(e.contains("p.toml:9:8 [sources.a.rows]"), "{e}");
    assert!(e.contains("help: use rows = 1"), "{e}");
}

#[test]
fn env_interpolation_happens_inside_strings_after_parsing() {
    let text = OK.replace(
        "tag = \"x\"\nbatches",
        "tag = \"${TAG}-${NOPE:-d}\"\nbatches",
    );
    let p = load_env(&text, &[("TAG", "a\"b = 1")]).unwrap();
    assert_eq!(p.sources.len(), 1);
}

#[test]
fn unset_variable_names_the_variable_not_a_value() {
    let text = OK.replace("tag = \"x\"\nbatches", "tag = \"${SECRET_TAG}\"\nbatches");
    let e = one_error(&text);
    assert!(
        e.contains("environment variable `SECRET_TAG` is not set"),
        "{e}"
    );
    assert!(e.contains("p.toml:7:7"), "{e}");
}

#[test]
fn required_variable_message_is_shown() {
    let text = OK.replace(
        "tag = \"x\"\nbatches",
        "tag = \"${T:?set T to the probe tag}\"\nbatches",
    );
    let e = one_error(&text);
    assert!(e.contains("`T` is required: set T to the probe tag"), "{e}");
}

#[test]
fn interpolated_values_never_appear_in_errors() {
    // `batches` wants an integer; the string comes from a secret variable.
    let text = OK.replace("batches = 1", "batches = \"${TOKEN}\"");
    let errs = load_env(&text, &[("TOKEN", "EAAB-very-secret")])
        .err()
        .unwrap()
        .to_string();
    assert!(!errs.contains("EAAB-very-secret"), "{errs}");
    assert!(errs.contains("wrong type for `batches`"), "{errs}");
}

#[test]
fn unknown_top_level_key_is_an_error_with_suggestion() {
    let e = one_error(&(OK.to_owned() + "\n[sink.x]\ntype = \"collect\"\n"));
    assert!(e.contains("unknown top-level key `sink`"), "{e}");
    assert!(e.contains("did you mean `sinks`?"), "{e}");
}

#[test]
fn sources_cannot_have_inputs() {
    let e = one_error(&OK.replace("batches = 1", "batches = 1\ninputs = [\"out\"]"));
    assert!(e.contains("source `a` cannot have `inputs`"), "{e}");
}

#[test]
fn a_source_feeding_nothing_is_a_warning() {
    let text = OK.to_owned() + "\n[sources.lonely]\ntype = \"gen\"\ntag = \"x\"\nbatches = 1\n";
    let p = load(&text).unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].to_string().contains("feeds no sink"));
}

#[test]
fn several_errors_are_reported_at_once_in_file_order() {
    let text = OK
        .replace("batches = 1", "batchez = 1")
        .replace("inputs = [\"a\"]", "inputs = [\"zz\"]");
    let errs = load(&text).err().unwrap();
    let lines: Vec<usize> = errs.errors().map(|d| d.line).collect();
    assert!(lines.len() >= 2, "{errs}");
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{errs}");
}

/// Every error's message, in file order.
fn messages(text: &str) -> Vec<String> {
    load(text)
        .expect_err("expected config errors")
        .errors()
        .map(|d| d.message.clone())
        .collect()
}

#[test]
fn typos_in_a_source_and_two_sinks_are_all_reported_in_one_pass() {
    // The sinks read from a source that fails to build: their own keys are still checked.
    let text = OK.replace("batches = 1", "batchez = 1")
        + "\n[sinks.second]\ntype = \"collect\"\ninputs = [\"a\"]\ntagg = \"y\"\n";
    let text = text.replacen(
        "inputs = [\"a\"]\ntag = \"x\"",
        "inputs = [\"a\"]\ntag = \"x\"\nfail_onn = 1",
        1,
    );
    let m = messages(&text);
    assert!(
        m.contains(&"unknown key `batchez` in `sources.a`".to_owned()),
        "{m:?}"
    );
    assert!(
        m.contains(&"unknown key `fail_onn` in `sinks.out`".to_owned()),
        "{m:?}"
    );
    assert!(
        m.contains(&"unknown key `tagg` in `sinks.second`".to_owned()),
        "{m:?}"
    );
}

#[test]
fn every_wrong_key_of_one_component_is_reported() {
    let text = OK.replace(
        "batches = 1",
        "batchez = 1\nrowz = 2\nstart = \"zero\"\nendles = true",
    );
    let m = messages(&text);
    for key in ["batchez", "rowz", "endles"] {
        assert!(
            m.contains(&format!("unknown key `{key}` in `sources.a`")),
            "{key}: {m:?}"
        );
    }
    assert!(
        m.iter().any(|e| e.contains("wrong type for `start`")),
        "{m:?}"
    );
    // `batches` really is missing (its misspelling was set aside): reported once, at the end.
    assert!(
        m.contains(&"missing required key `batches` in `sources.a`".to_owned()),
        "{m:?}"
    );
    assert_eq!(m.len(), 5, "{m:?}");
}

#[test]
fn a_required_key_with_a_wrong_value_is_not_also_reported_missing() {
    let m = messages(&OK.replace("batches = 1", "batches = \"one\"\nbatchez = 2"));
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m.iter().any(|e| e.contains("wrong type for `batches`")),
        "{m:?}"
    );
    assert!(m.iter().all(|e| !e.contains("missing")), "{m:?}");
}

#[test]
fn a_broken_graph_still_reports_every_components_keys() {
    let text = OK.replace("inputs = [\"a\"]", "inputs = [\"t1\"]")
        + "\n[transforms.t1]\ntype = \"even\"\ninputs = [\"t2\"]\n\n[transforms.t2]\ntype = \"even\"\ninputs = [\"t1\"]\n";
    let text = text.replace("batches = 1", "batchez = 1");
    let m = messages(&text);
    assert!(m.iter().any(|e| e.contains("cycle")), "{m:?}");
    assert!(
        m.contains(&"unknown key `batchez` in `sources.a`".to_owned()),
        "{m:?}"
    );
}

#[test]
fn state_is_a_path_or_a_table_with_the_sinks_store_options() {
    use tributary_core::state::StateConfig;
    use tributary_core::store::StoreOptions;
    let short =
        load(&OK.replace("name = \"t\"", "name = \"t\"\nstate = \"s3://b/s.json\"")).unwrap();
    let state = short.settings.state.unwrap();
    assert_eq!(state.path(), "s3://b/s.json");
    assert_eq!(state.store_options(), StoreOptions::default());
    let table = load(&OK.replace(
        "name = \"t\"",
        "name = \"t\"\n[pipeline.state]\npath = \"s3://b/s.json\"\nendpoint = \"http://127.0.0.1:9\"\n\
         allow_http = true\nregion = \"eu-west-1\"",
    ))
    .unwrap();
    let Some(StateConfig::Table(t)) = table.settings.state else {
        panic!("the table form")
    };
    assert_eq!(t.path, "s3://b/s.json");
    assert_eq!(
        t.store,
        StoreOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            allow_http: true,
            region: Some("eu-west-1".into()),
        }
    );
    // The same checks as a sink's: `region` on a local path is refused at its key.
    let e = one_error(&OK.replace(
        "name = \"t\"",
        "name = \"t\"\n[pipeline.state]\npath = \"state/t.json\"\nregion = \"eu-west-1\"",
    ));
    assert!(e.contains("`region` applies only to s3:// paths"), "{e}");
    assert!(e.contains("p.toml:6:10"), "{e}");
    // Neither a string nor a table.
    let e = one_error(&OK.replace("name = \"t\"", "name = \"t\"\nstate = 3"));
    assert!(e.contains("`state` must be a path or a table"), "{e}");
}
