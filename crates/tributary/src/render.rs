//! Text rendering for the CLI: plugin reference, schemas, run summary, error chains.

use std::fmt::Write;

use serde_json::Value;
use tributary_core::component::ComponentId;
use tributary_core::config::Pipeline;
use tributary_core::registry::PluginInfo;
use tributary_core::runtime::RunReport;

/// `tributary plugins`: each plugin, its keys with type, default and doc.
pub fn plugins(plugins: &[&PluginInfo]) -> String {
    let mut out = String::new();
    for p in plugins {
        let _ = writeln!(out, "{} `{}`: {}", p.kind.noun(), p.name, p.description);
        let schema = p.schema.as_value();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let props = schema.get("properties").and_then(Value::as_object);
        let _ = writeln!(out, "  type = \"{}\"", p.name);
        if p.kind != tributary_core::registry::Kind::Source {
            let _ = writeln!(
                out,
                "  inputs = [ids]  (required) the sources or transforms it reads from"
            );
        }
        for (key, prop) in props.into_iter().flatten() {
            let ty = type_name(prop, schema);
            let req = if required.contains(&key.as_str()) {
                " (required)".to_owned()
            } else {
                String::new()
            };
            let default = prop
                .get("default")
                .map(|d| format!(" [default: {}]", compact(d)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {key}: {ty}{req}{default}");
            let doc = prop
                .get("description")
                .or_else(|| resolve(prop, schema).and_then(|r| r.get("description")))
                .and_then(Value::as_str)
                .unwrap_or("");
            for line in doc.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        out.push('\n');
    }
    out
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Follows a `$ref` to `#/$defs/...`.
fn resolve<'a>(prop: &'a Value, root: &'a Value) -> Option<&'a Value> {
    let r = prop.get("$ref")?.as_str()?;
    let name = r.strip_prefix("#/$defs/")?;
    root.get("$defs")?.get(name)
}

/// A short human name for a JSON Schema type.
fn type_name(prop: &Value, root: &Value) -> String {
    if let Some(target) = resolve(prop, root) {
        return type_name(target, root);
    }
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        return values.iter().map(compact).collect::<Vec<_>>().join(" | ");
    }
    if let Some(c) = prop.get("const") {
        return compact(c);
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(options) = prop.get(combinator).and_then(Value::as_array) {
            let names: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(|o| type_name(o, root))
                .collect();
            return names.join(" | ");
        }
    }
    match prop.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = prop
                .get("items")
                .map(|i| type_name(i, root))
                .unwrap_or_else(|| "value".into());
            format!("[{item}]")
        }
        Some(Value::String(t)) if t == "object" => {
            match prop.get("properties").and_then(Value::as_object) {
                Some(p) => format!("{{ {} }}", p.keys().cloned().collect::<Vec<_>>().join(", ")),
                None => "table".into(),
            }
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "value".into(),
    }
}

/// `tributary schema`: the Arrow schema each component emits.
pub fn schemas(p: &Pipeline) -> String {
    let mut out = String::new();
    let mut section = |name: String, schema: &arrow::datatypes::Schema| {
        let _ = writeln!(out, "{name}");
        for f in schema.fields() {
            let null = if f.is_nullable() { "" } else { " not null" };
            let _ = writeln!(out, "  {}: {}{null}", f.name(), f.data_type());
        }
        out.push('\n');
    };
    for s in &p.sources {
        section(
            format!("{} ({})", ComponentId::source(&s.id), s.plugin),
            &s.schema,
        );
    }
    for t in &p.transforms {
        section(
            format!("{} ({})", ComponentId::transform(&t.id), t.plugin),
            &t.schema,
        );
    }
    for s in &p.sinks {
        section(
            format!("{} ({}) receives", ComponentId::sink(&s.id), s.plugin),
            &s.schema,
        );
    }
    out
}

/// The end-of-run summary: per source unit threads and API calls, per sink rows, files, bytes
/// and where they were committed, and the total time.
pub fn summary(r: &RunReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "dry run" } else { "run" };
    let _ = writeln!(
        out,
        "{verb} {} of `{}` finished in {:.2}s",
        r.run_id,
        r.pipeline,
        r.elapsed.as_secs_f64()
    );
    for s in &r.sources {
        let component = ComponentId::source(&s.id).to_string();
        let units: Vec<_> = r
            .units
            .iter()
            .filter(|u| u.component == component && !u.unit.is_empty())
            .collect();
        let calls: u64 = units.iter().map(|u| u.api_calls).sum();
        let _ = writeln!(
            out,
            "  source {:<36} {:>10} rows {:>8} API calls",
            s.id, s.rows, calls
        );
        pages_summary(&mut out, &units);
        for u in units {
            let mut extra = String::new();
            if u.retries > 0 {
                let _ = write!(extra, " {:>4} retries", u.retries);
            }
            if u.throttles > 0 {
                let _ = write!(extra, " {:>4} throttled", u.throttles);
            }
            let _ = writeln!(
                out,
                "    {:<41} {:>10} rows {:>8} API calls{extra}",
                u.unit, u.rows, u.api_calls
            );
        }
    }
    for s in &r.sinks {
        let _ = writeln!(
            out,
            "  sink   {:<36} {:>10} rows {:>6} files {:>10}  {}",
            s.id,
            s.report.rows,
            s.report.files,
            crate::progress::human_bytes(s.report.bytes),
            s.report.location.as_deref().unwrap_or("")
        );
    }
    out
}

/// One line per Page of a Graph source: its calls, throttled calls and time spent waiting for
/// the rate limit, summed over the Page's units (named `<page> <platform> <folder>`).
fn pages_summary(out: &mut String, units: &[&tributary_core::telemetry::UnitReport]) {
    let mut pages: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for u in units {
        let page = u.unit.split(' ').next().unwrap_or_default();
        let e = pages.entry(page).or_default();
        e.0 += u.api_calls;
        e.1 += u.throttles;
        e.2 += u.wait_ms;
    }
    for (page, (calls, throttled, wait_ms)) in pages {
        let _ = writeln!(
            out,
            "    page {page:<36} {calls:>10} calls {throttled:>6} throttled {:>9.1}s waiting for the rate limit",
            wait_ms as f64 / 1000.0
        );
    }
}

/// `tributary check`: a table of OK/FAIL per target, with the fix for each failure.
pub fn checks(results: &[(String, Vec<tributary_core::plugin::CheckResult>)]) -> String {
    let mut out = String::new();
    let width = results
        .iter()
        .flat_map(|(_, r)| r)
        .map(|r| r.target.chars().count())
        .max()
        .unwrap_or(0);
    for (component, checks) in results {
        let _ = writeln!(out, "{component}");
        if checks.is_empty() {
            let _ = writeln!(out, "  (nothing to check)");
        }
        for c in checks {
            let status = if c.ok { "OK  " } else { "FAIL" };
            // Sources often explain a failure with its fix: the fix gets its own line, so the
            // status line keeps what happened (and what Graph said), and the fix shows once.
            let detail = match &c.fix {
                Some(fix) if !fix.is_empty() && c.detail.contains(fix.as_str()) => c
                    .detail
                    .replacen(&format!("{fix}. "), "", 1)
                    .replacen(fix.as_str(), "", 1)
                    .trim_end_matches([' ', ':', '.'])
                    .to_owned(),
                _ => c.detail.clone(),
            };
            let _ = writeln!(out, "  {status} {:<width$}  {detail}", c.target);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "       {:<width$}  fix: {fix}", "");
            }
        }
    }
    let total = results.iter().map(|(_, r)| r.len()).sum::<usize>();
    let failed = results
        .iter()
        .flat_map(|(_, r)| r)
        .filter(|r| !r.ok)
        .count();
    let _ = writeln!(out, "{} of {total} checks passed", total - failed);
    out
}

/// An error and its causes, on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
