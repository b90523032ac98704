//! [`StdoutConfig`]: how a `stdout` sink prints (NDJSON or a table), how much, and which columns.

use serde::Deserialize;

/// Default of `format`.
pub const DEFAULT_FORMAT: Format = Format::Ndjson;
/// Default of `max_rows` with `format = "table"`: a table is for looking, and it is printed only
/// at the end of the run, so it holds its rows in memory.
pub const DEFAULT_TABLE_MAX_ROWS: u64 = 100;
/// Default of `max_width`: the longest table cell, in characters, ellipsis included.
pub const DEFAULT_MAX_WIDTH: usize = 40;

/// How a `stdout` sink prints its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per row and line, every column present (`null` when null), timestamps as
    /// RFC 3339, printed as batches arrive. Values are never truncated.
    #[default]
    Ndjson,
    /// One table with aligned columns, printed at the end of the run; long values are cut in
    /// the middle to `max_width` characters (`…` marks the cut, so values sharing a long prefix
    /// stay distinguishable), control characters are shown escaped (`\n`).
    Table,
}

/// Configuration of a `stdout` sink (`[sinks.ID]` with `type = "stdout"`): a quick look at a
/// pipeline's output while developing it.
///
/// When the reader of standard output goes away (`tributary run p.toml | head -3`), the sink stops
/// quietly: the run ends early and successfully, with no error text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Output format: `ndjson` (default) or `table`.
    #[serde(default)]
    pub format: Format,

    /// Most rows to print; once reached (and without `order_by`), the sink wants no more data
    /// and the run stops its sources early. Absent: 100 with `format = "table"`, no limit with
    /// `ndjson`.
    #[serde(default)]
    pub max_rows: Option<u64>,

    /// `table` only: the longest cell, in characters; longer values keep their start and their
    /// end, with `…` in place of the middle. Absent: 40.
    #[serde(default)]
    pub max_width: Option<usize>,

    /// Columns to print, in this order. Absent: every column of the input.
    #[serde(default)]
    pub columns: Option<Vec<String>>,

    /// `table` only: sort the rows by these input columns, each `"name"` or `"name desc"`
    /// (`"name asc"` too), e.g. `["updated_time desc", "id"]`; nulls last. With `max_rows` the
    /// table shows the first rows of the whole run in this order (the sink reads every row and
    /// keeps the best `max_rows`), the same on every run. Absent: rows in arrival order, the
    /// first `max_rows` to arrive (which may differ between runs).
    #[serde(default)]
    pub order_by: Option<Vec<String>>,
}

impl StdoutConfig {
    /// The row limit in effect (see `max_rows`).
    pub fn effective_max_rows(&self) -> Option<u64> {
        match (self.max_rows, self.format) {
            (Some(n), _) => Some(n),
            (None, Format::Table) => Some(DEFAULT_TABLE_MAX_ROWS),
            (None, Format::Ndjson) => None,
        }
    }

    /// The cell width in effect (see `max_width`).
    pub fn effective_max_width(&self) -> usize {
        self.max_width.unwrap_or(DEFAULT_MAX_WIDTH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StdoutConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_to_ndjson_without_limits() {
        let config = parse("").expect("parses");
        assert_eq!(config.format, DEFAULT_FORMAT);
        assert_eq!(config.effective_max_rows(), None);
        assert_eq!(config.effective_max_width(), DEFAULT_MAX_WIDTH);
        assert_eq!(config.columns, None);
    }

    #[test]
    fn a_table_has_a_default_row_limit() {
        let config = parse(r#"format = "table""#).expect("parses");
        assert_eq!(config.format, Format::Table);
        assert_eq!(config.effective_max_rows(), Some(DEFAULT_TABLE_MAX_ROWS));
    }

    #[test]
    fn parses_every_key() {
        let config = parse(
            r#"
            format = "table"
            max_rows = 5
            max_width = 12
            columns = ["platform", "id"]
            "#,
        )
        .expect("parses");
        assert_eq!(config.effective_max_rows(), Some(5));
        assert_eq!(config.effective_max_width(), 12);
        assert_eq!(
            config.columns,
            Some(vec!["platform".to_owned(), "id".to_owned()])
        );
    }

    #[test]
    fn an_explicit_row_limit_applies_to_ndjson_too() {
        let config = parse("max_rows = 3").expect("parses");
        assert_eq!(config.effective_max_rows(), Some(3));
    }

    #[test]
    fn rejects_an_unknown_format_listing_the_valid_ones() {
        let err = parse(r#"format = "csv""#).expect_err("unknown format");
        let text = err.to_string();
        assert!(
            text.contains("`ndjson`") && text.contains("`table`"),
            "{text}"
        );
    }

    #[test]
    fn rejects_an_unknown_key() {
        let err = parse("max_row = 3").expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("`max_row`"), "{text}");
        assert!(text.contains("`max_rows`"), "{text}");
    }

    #[test]
    fn rejects_a_negative_limit() {
        assert!(parse("max_rows = -1").is_err());
    }
}
