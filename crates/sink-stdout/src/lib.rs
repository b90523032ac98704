//! # sink-stdout
//!
//! The `stdout` sink: a quick look at what a pipeline produces, as NDJSON or as a table.
//!
//! ```toml
//! [sinks.console]
//! type      = "stdout"
//! inputs    = ["pages"]
//! format    = "table"                   # or "ndjson" (the default)
//! max_rows  = 20                        # table default: 100; ndjson default: no limit
//! max_width = 30                        # longer cells keep their start and end: `aWdf…MjM0`
//! columns   = ["platform", "folder", "id", "snippet"]
//! order_by  = ["updated_time desc", "id"] # the newest 20 of the run, the same every run
//! ```
//!
//! The one thing to know: **a closed pipe is not an error.** `tributary run p.toml | head -3`
//! ends quietly with exit status 0: when standard output's reader goes away the sink stops
//! writing, tells the runtime it wants no more data (so the sources stop early), and `finish`
//! succeeds. The same happens once `max_rows` rows are printed.
//!
//! Decided here:
//! - `ndjson` prints each batch as it arrives (flushed, so `| head`/`| jq` see rows at once):
//!   one JSON object per row, every column present (`null` when null), timestamps in RFC 3339,
//!   values never cut.
//! - `table` holds at most `max_rows` rows and prints one aligned table at the end of the run
//!   (column widths need every row), then a row count. Without `order_by` those are the first
//!   rows to arrive, and the sink stops wanting data once it has them; with `order_by` it reads
//!   every row and keeps the best `max_rows` so far (a bounded top-N: arrival order, which varies
//!   between runs, cannot change what is shown). Cells longer than `max_width` keep their start
//!   and their end around a `…` (Graph ids share long prefixes and differ at the end), cut on
//!   `char` boundaries, never inside a UTF-8 sequence; control characters are escaped so one
//!   value stays on one line; nested values (lists, structs) are shown in Arrow's display form.
//! - The sink writes nothing anywhere but standard output, and commits nothing: `finish`
//!   reports `files = 0`, location `stdout`, the bytes written, and the rows written in full
//!   before the reader left (a batch cut off by a closed pipe is not counted; a table not
//!   printed because the pipe closed counts 0 rows).

pub mod config;
pub mod sink;

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, Sink, SinkPlugin};

pub use crate::config::{
    DEFAULT_FORMAT, DEFAULT_MAX_WIDTH, DEFAULT_TABLE_MAX_ROWS, Format, StdoutConfig,
};
pub use crate::sink::{Settings, SortKey, StdoutSink};

/// The `stdout` sink plugin (`type = "stdout"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl SinkPlugin for Stdout {
    const NAME: &'static str = "stdout";
    const DESCRIPTION: &'static str =
        "Prints rows on standard output as NDJSON or an aligned table, for quick looks.";
    type Config = StdoutConfig;

    fn build(
        config: StdoutConfig,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        let settings = settings(&config, input, ctx)?;
        let sink = StdoutSink::new(settings, &input.schema)
            .map_err(|e| BuildError::new(format!("cannot set up the stdout sink: {e}")))?;
        Ok(Box::new(sink))
    }
}

/// Validates `config` against the input and resolves it.
pub fn settings(
    config: &StdoutConfig,
    input: &BuildInput,
    ctx: &BuildContext,
) -> Result<Settings, BuildError> {
    if config.max_rows == Some(0) {
        return Err(
            BuildError::at("max_rows", "`max_rows = 0` would print nothing")
                .with_help("set at least 1, or remove `max_rows`"),
        );
    }
    if config.max_width == Some(0) {
        return Err(
            BuildError::at("max_width", "`max_width = 0` leaves no room for any value").with_help(
                format!("set at least 1, or remove `max_width` (default {DEFAULT_MAX_WIDTH})"),
            ),
        );
    }
    if config.format == Format::Ndjson && config.max_width.is_some() {
        ctx.warn(
            Some("max_width"),
            "`max_width` only applies to `format = \"table\"`: NDJSON values are never cut",
        );
    }
    let projection = match &config.columns {
        None => None,
        Some(columns) => Some(projection(columns, input)?),
    };
    let order_by = match &config.order_by {
        None => None,
        Some(_) if config.format == Format::Ndjson => {
            return Err(BuildError::at(
                "order_by",
                "`order_by` sorts a table; NDJSON rows are printed as they arrive",
            )
            .with_help("set `format = \"table\"`, or remove `order_by`"));
        }
        Some(keys) => Some(order_by(keys, input)?),
    };
    Ok(Settings {
        format: config.format,
        max_rows: config.effective_max_rows(),
        max_width: config.effective_max_width(),
        projection,
        order_by,
    })
}

/// The sort keys of `order_by`, checked: known columns, `asc`/`desc`, each once, sortable.
fn order_by(keys: &[String], input: &BuildInput) -> Result<Vec<SortKey>, BuildError> {
    if keys.is_empty() {
        return Err(BuildError::at("order_by", "`order_by` is empty").with_help(
            "name at least one column, e.g. `[\"updated_time desc\"]`, or remove `order_by`",
        ));
    }
    let mut out: Vec<SortKey> = Vec::with_capacity(keys.len());
    for key in keys {
        let mut words = key.split_whitespace();
        let name = words.next().unwrap_or_default();
        let descending = match (words.next().map(str::to_ascii_lowercase), words.next()) {
            (None, None) => false,
            (Some(d), None) if d == "asc" => false,
            (Some(d), None) if d == "desc" => true,
            _ => {
                return Err(BuildError::at(
                    "order_by",
                    format!("`{key}` is not a sort key"),
                )
                .with_help("write a column name, optionally followed by `asc` or `desc`: `\"updated_time desc\"`"));
            }
        };
        let column = column_index(name, input, "order_by")?;
        if out.iter().any(|k| k.column == column) {
            return Err(
                BuildError::at("order_by", format!("column `{name}` is listed twice"))
                    .with_help("list each column once"),
            );
        }
        let data_type = input.schema.field(column).data_type();
        if !sink::sortable(data_type) {
            return Err(BuildError::at(
                "order_by",
                format!("column `{name}` ({data_type}) cannot be sorted"),
            )
            .with_help("sort by a column of numbers, strings, booleans or times"));
        }
        out.push(SortKey { column, descending });
    }
    Ok(out)
}

/// The input indices of `columns`, checked: known, not repeated, not empty.
fn projection(columns: &[String], input: &BuildInput) -> Result<Vec<usize>, BuildError> {
    if columns.is_empty() {
        return Err(BuildError::at(
            "columns",
            "`columns` is empty, so there is nothing to print",
        )
        .with_help("list the columns to print, or remove `columns` to print every column"));
    }
    let mut indices = Vec::with_capacity(columns.len());
    for column in columns {
        let index = column_index(column, input, "columns")?;
        if indices.contains(&index) {
            return Err(
                BuildError::at("columns", format!("column `{column}` is listed twice"))
                    .with_help("list each column once"),
            );
        }
        indices.push(index);
    }
    Ok(indices)
}

/// The input index of column `column` named by config key `key`, with a suggestion if unknown.
fn column_index(column: &str, input: &BuildInput, key: &str) -> Result<usize, BuildError> {
    let names: Vec<&str> = input
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let Some(index) = names.iter().position(|n| *n == column) else {
        let nearest = tributary_core::suggest(column, names.iter().copied());
        let all = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let help = match nearest {
            Some(n) => format!("did you mean `{n}`? the input has {all}"),
            None => format!("the input has {all}"),
        };
        return Err(
            BuildError::at(key, format!("the input has no column `{column}`")).with_help(help),
        );
    };
    Ok(index)
}

#[cfg(test)]
mod tests {
    use tributary_core::canonical::conversations_schema;

    use super::*;

    fn config(text: &str) -> StdoutConfig {
        toml::from_str(text).expect("config parses")
    }

    fn input() -> BuildInput {
        BuildInput {
            schema: conversations_schema(),
            domains: vec![],
        }
    }

    fn ctx() -> BuildContext {
        BuildContext::sink("test", "console")
    }

    fn resolve(text: &str) -> Result<Settings, BuildError> {
        settings(&config(text), &input(), &ctx())
    }

    #[test]
    fn builds_with_defaults() {
        let settings = resolve("").expect("valid");
        assert_eq!(
            settings,
            Settings {
                format: Format::Ndjson,
                max_rows: None,
                max_width: DEFAULT_MAX_WIDTH,
                projection: None,
                order_by: None,
            }
        );
        assert!(Stdout::build(config(r#"format = "table""#), &input(), &ctx()).is_ok());
    }

    #[test]
    fn resolves_columns_to_input_indices_in_the_given_order() {
        let settings = resolve(r#"columns = ["id", "platform"]"#).expect("valid");
        assert_eq!(settings.projection, Some(vec![3, 1]));
    }

    #[test]
    fn rejects_an_unknown_column_with_a_suggestion() {
        let err = resolve(r#"columns = ["snipet"]"#).expect_err("unknown column");
        assert_eq!(err.key.as_deref(), Some("columns"));
        assert!(err.message.contains("`snipet`"), "{err}");
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `snippet`?"),
            "{err}"
        );
    }

    #[test]
    fn rejects_empty_or_repeated_columns() {
        assert_eq!(
            resolve("columns = []").expect_err("empty").key.as_deref(),
            Some("columns")
        );
        let err = resolve(r#"columns = ["id", "id"]"#).expect_err("twice");
        assert!(err.message.contains("twice"), "{err}");
    }

    #[test]
    fn resolves_order_by_with_directions() {
        let settings = resolve(
            "format = \"table\"\norder_by = [\"updated_time desc\", \"id\", \"platform ASC\"]",
        )
        .expect("valid");
        let keys = settings.order_by.expect("order");
        let schema = conversations_schema();
        let named: Vec<(&str, bool)> = keys
            .iter()
            .map(|k| (schema.field(k.column).name().as_str(), k.descending))
            .collect();
        assert_eq!(
            named,
            [("updated_time", true), ("id", false), ("platform", false)]
        );
    }

    #[test]
    fn rejects_bad_order_by_keys_with_help() {
        let table = |keys: &str| resolve(&format!("format = \"table\"\norder_by = {keys}"));
        let err = table(r#"["updated_tme desc"]"#).expect_err("unknown column");
        assert_eq!(err.key.as_deref(), Some("order_by"));
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `updated_time`?"),
            "{err}"
        );
        for bad in [
            r#"["id sideways"]"#,
            r#"["id desc nulls"]"#,
            "[]",
            r#"["id", "id desc"]"#,
        ] {
            let err = table(bad).expect_err(bad);
            assert_eq!(err.key.as_deref(), Some("order_by"), "{bad}");
        }
        let err = resolve(r#"order_by = ["id"]"#).expect_err("ndjson");
        assert!(err.message.contains("NDJSON"), "{err}");
    }

    #[test]
    fn rejects_zero_limits() {
        assert_eq!(
            resolve("max_rows = 0").expect_err("zero").key.as_deref(),
            Some("max_rows")
        );
        assert_eq!(
            resolve("max_width = 0").expect_err("zero").key.as_deref(),
            Some("max_width")
        );
    }

    #[test]
    fn warns_that_max_width_does_not_cut_ndjson() {
        let ctx = ctx();
        settings(&config("max_width = 10"), &input(), &ctx).expect("valid");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key.as_deref(), Some("max_width"));
        let ctx = self::ctx();
        settings(
            &config("format = \"table\"\nmax_width = 10"),
            &input(),
            &ctx,
        )
        .expect("valid");
        assert!(ctx.warnings().is_empty());
    }
}
