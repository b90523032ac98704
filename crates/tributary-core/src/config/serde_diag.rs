//! Serde and toml errors turned into located diagnostics: serde speaks Rust (`unknown field`,
//! `expected u32`) and points at byte spans; users need the component, the key, a TOML word and
//! a suggestion. Also the span helpers every stage uses to point at a key.

use std::ops::Range;

use toml::de::DeTable;

use super::{Loader, Severity, did_you_mean};

impl Loader {
    /// Turns a toml/serde error into a located diagnostic with a suggestion.
    pub(super) fn serde_error(
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
                (
                    unknown_key_message(&field, component),
                    Some(unknown_key_help(&field, keys)),
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
}

impl Loader {
    /// A key of `component`'s table that its plugin does not have.
    pub(super) fn unknown_key(
        &mut self,
        field: &str,
        span: Range<usize>,
        component: &str,
        keys: &[String],
    ) {
        let d = self
            .src
            .diagnostic(
                Severity::Error,
                Some(span),
                unknown_key_message(field, component),
            )
            .component(component)
            .maybe_help(Some(unknown_key_help(field, keys)))
            .key(field);
        self.push(d);
    }
}

fn unknown_key_message(field: &str, component: &str) -> String {
    format!("unknown key `{field}` in `{component}`")
}

fn unknown_key_help(field: &str, keys: &[String]) -> String {
    did_you_mean(field, keys.iter().map(String::as_str))
        .unwrap_or_else(|| format!("valid keys: `{}`", keys.join("`, `")))
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
pub(super) fn top_key_at(table: &DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let holds = |s: Range<usize>| s.start <= span.start && span.end <= s.end;
    table
        .iter()
        .find(|(k, v)| holds(k.span()) || holds(v.span()))
        .map(|(k, _)| k.get_ref().to_string())
}

/// The span of the value of dotted `key` in `table`.
pub(super) fn span_of_key(table: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
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

/// The first line of a message, trimmed: a diagnostic's message is one sentence.
pub(super) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

/// `x` in "...prefix`x`..." (prefix includes the opening backtick).
pub(super) fn between_backticks(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}
