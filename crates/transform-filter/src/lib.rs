//! # transform-filter
//!
//! The `filter` transform: keeps or drops conversation rows by `platform` and `folder`.
//!
//! ```toml
//! [transforms.ig_inbox]
//! type     = "filter"
//! inputs   = ["pages"]
//! platform = ["instagram"]          # keep only these platforms
//! folder   = ["inbox", "other"]     # ... and only these folders
//! # exclude_platform = ["messenger"]  # or: drop these, keep everything else
//! # exclude_folder   = ["spam"]
//! ```
//!
//! The one thing to know: **the filter is columnar and never forwards an empty batch.** Each
//! batch becomes one boolean mask from Arrow's `eq`/`or`/`and` kernels and is cut with
//! `filter_record_batch`; a batch in which no row passes is dropped (`Ok(None)`), one in which
//! every row passes is forwarded as is, without a copy.
//!
//! Semantics, decided here:
//! - A row passes when it passes the rule of each configured column. `platform`/`folder` list the
//!   values to keep: a null (or unlisted) value is dropped. `exclude_*` list the values to drop:
//!   a null (or unlisted) value is kept. With both keys on one column, the exclusions are
//!   subtracted from the kept values.
//! - `build` rejects values outside the known sets (with the nearest valid value for a typo), an
//!   empty `platform`/`folder` list, a combination that keeps nothing, a filter with no rule, and
//!   an input without the column a rule needs (or where it is not a string column).
//! - Directly below a `graph_conversations` source, `build` warns about every platform or folder
//!   the source fetches only for this filter to drop it: each one costs API calls (rate-limit
//!   budget), so the warning names the source key to change.

pub mod config;
pub mod transform;

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, Transform, TransformPlugin, ValueDomain};

pub use crate::config::{FilterConfig, Mode, Rule};
pub use crate::transform::FilterTransform;

use crate::config::quoted;
use crate::transform::is_string_like;

/// The `filter` transform plugin (`type = "filter"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter;

impl TransformPlugin for Filter {
    const NAME: &'static str = "filter";
    const DESCRIPTION: &'static str = "Keeps or drops conversation rows by platform and folder (columnar; empty batches are dropped).";
    type Config = FilterConfig;

    fn build(
        config: FilterConfig,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError> {
        let rules = config.rules(ctx)?;
        for rule in &rules {
            check_column(rule, input)?;
            if let Some(domain) = input.domains.iter().find(|d| d.column == rule.column) {
                warn_fetched_for_nothing(rule, domain, ctx);
            }
        }
        let transform = FilterTransform::new(input.schema.clone(), rules)
            .map_err(|e| BuildError::new(format!("cannot compile the filter: {e}")))?;
        Ok(Box::new(transform))
    }
}

/// Fails unless the input has `rule.column` as a string column.
fn check_column(rule: &Rule, input: &BuildInput) -> Result<(), BuildError> {
    let available: Vec<&str> = input
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let Ok(field) = input.schema.field_with_name(rule.column) else {
        return Err(BuildError::at(
            rule.key,
            format!(
                "the input has no `{}` column, which `{}` filters on",
                rule.column, rule.key
            ),
        )
        .with_help(format!(
            "available columns: {}; put this filter where `{}` still exists, for example directly \
             below a `graph_conversations` source",
            if available.is_empty() {
                "none".to_owned()
            } else {
                quoted(&available)
            },
            rule.column
        )));
    };
    if !is_string_like(field.data_type()) {
        return Err(BuildError::at(
            rule.key,
            format!(
                "column `{}` is {}, but `{}` compares it with strings",
                rule.column,
                field.data_type(),
                rule.key
            ),
        )
        .with_help("filter on a Utf8 (string) column, as in the canonical conversation schema"));
    }
    Ok(())
}

/// Warns when the source directly upstream fetches values of `rule.column` that `rule` drops.
fn warn_fetched_for_nothing(rule: &Rule, domain: &ValueDomain, ctx: &BuildContext) {
    let dropped: Vec<&str> = domain
        .values
        .iter()
        .map(String::as_str)
        .filter(|v| !rule.keeps(v))
        .collect();
    if dropped.is_empty() {
        return;
    }
    let noun = rule.column;
    let plural = if dropped.len() == 1 { "" } else { "s" };
    let (source, source_key) = match domain
        .configured_by
        .strip_prefix("sources.")
        .and_then(|rest| rest.rsplit_once('.'))
    {
        Some((source, key)) => (source, key),
        None => (domain.configured_by.as_str(), domain.configured_by.as_str()),
    };
    let message = if dropped.len() == domain.values.len() {
        format!(
            "this filter drops every {noun} source `{source}` fetches ({}), so it will never \
             forward a row: change `{}` here or `{source_key}` in [sources.{source}] (`{}`)",
            quoted(&dropped),
            rule.key,
            domain.configured_by
        )
    } else {
        format!(
            "source `{source}` fetches {noun}{plural} {} that this filter drops: remove {} from \
             `{source_key}` in [sources.{source}] to save API calls (`{}`)",
            quoted(&dropped),
            if dropped.len() == 1 { "it" } else { "them" },
            domain.configured_by
        )
    };
    ctx.warn(Some(rule.key), message);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use tributary_core::canonical::conversations_schema;

    use super::*;

    fn config(toml_text: &str) -> FilterConfig {
        toml::from_str(toml_text).expect("config parses")
    }

    fn ctx() -> BuildContext {
        BuildContext::transform("test", "ig_inbox")
    }

    fn input_with(domains: Vec<ValueDomain>) -> BuildInput {
        BuildInput {
            schema: conversations_schema(),
            domains,
        }
    }

    fn folders(values: &[&str]) -> ValueDomain {
        ValueDomain {
            column: "folder".into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            configured_by: "sources.pages.folders".into(),
        }
    }

    fn platforms(values: &[&str]) -> ValueDomain {
        ValueDomain {
            column: "platform".into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            configured_by: "sources.pages.platforms".into(),
        }
    }

    fn build_err(toml_text: &str, input: &BuildInput) -> BuildError {
        match Filter::build(config(toml_text), input, &ctx()) {
            Ok(_) => panic!("build should fail"),
            Err(e) => e,
        }
    }

    #[test]
    fn builds_on_the_canonical_schema_and_keeps_it() {
        let input = input_with(vec![]);
        let ctx = ctx();
        let transform =
            Filter::build(config(r#"platform = ["instagram"]"#), &input, &ctx).expect("builds");
        assert_eq!(transform.output_schema(), conversations_schema());
        assert!(ctx.warnings().is_empty(), "{:?}", ctx.warnings());
    }

    #[test]
    fn fails_when_the_input_lacks_the_column_naming_it_and_the_available_ones() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("platform", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
        ]));
        let input = BuildInput {
            schema,
            domains: vec![],
        };
        let err = build_err(r#"folder = ["inbox"]"#, &input);
        assert_eq!(err.key.as_deref(), Some("folder"));
        assert!(err.message.contains("no `folder` column"), "{err}");
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("`platform`, `id`"),
            "{err}"
        );
    }

    #[test]
    fn fails_when_the_column_is_not_a_string() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "platform",
            DataType::Int64,
            false,
        )]));
        let input = BuildInput {
            schema,
            domains: vec![],
        };
        let err = build_err(r#"exclude_platform = ["messenger"]"#, &input);
        assert_eq!(err.key.as_deref(), Some("exclude_platform"));
        assert!(err.message.contains("Int64"), "{err}");
    }

    #[test]
    fn warns_about_a_folder_the_source_fetches_for_nothing_naming_the_source_key() {
        let input = input_with(vec![folders(&["inbox", "spam"]), platforms(&["instagram"])]);
        let ctx = ctx();
        Filter::build(config(r#"folder = ["inbox"]"#), &input, &ctx).expect("builds");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].component, "transforms.ig_inbox");
        assert_eq!(warnings[0].key.as_deref(), Some("folder"));
        assert_eq!(
            warnings[0].message,
            "source `pages` fetches folder `spam` that this filter drops: remove it from `folders` \
             in [sources.pages] to save API calls (`sources.pages.folders`)"
        );
    }

    #[test]
    fn warns_about_excluded_platforms_on_the_exclude_key() {
        let input = input_with(vec![platforms(&["messenger", "instagram"])]);
        let ctx = ctx();
        Filter::build(config(r#"exclude_platform = ["messenger"]"#), &input, &ctx).expect("builds");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key.as_deref(), Some("exclude_platform"));
        assert!(
            warnings[0].message.contains("platform `messenger`"),
            "{warnings:?}"
        );
        assert!(
            warnings[0].message.contains("`sources.pages.platforms`"),
            "{warnings:?}"
        );
    }

    #[test]
    fn warns_once_listing_several_wasted_folders() {
        let input = input_with(vec![folders(&["inbox", "other", "page_done", "spam"])]);
        let ctx = ctx();
        Filter::build(config(r#"folder = ["inbox", "other"]"#), &input, &ctx).expect("builds");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].message.contains("folders `page_done`, `spam`"),
            "{warnings:?}"
        );
        assert!(warnings[0].message.contains("remove them"), "{warnings:?}");
    }

    #[test]
    fn warns_that_a_filter_dropping_everything_fetched_forwards_nothing() {
        let input = input_with(vec![platforms(&["messenger"])]);
        let ctx = ctx();
        Filter::build(config(r#"platform = ["instagram"]"#), &input, &ctx).expect("builds");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].message.contains("never forward a row"),
            "{warnings:?}"
        );
    }

    #[test]
    fn does_not_warn_when_the_source_fetches_only_what_the_filter_keeps() {
        let input = input_with(vec![
            folders(&["inbox"]),
            platforms(&["instagram", "messenger"]),
        ]);
        let ctx = ctx();
        Filter::build(config(r#"folder = ["inbox", "other"]"#), &input, &ctx).expect("builds");
        assert!(ctx.warnings().is_empty(), "{:?}", ctx.warnings());
    }

    #[test]
    fn a_built_filter_filters_canonical_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("platform", DataType::Utf8, false),
            Field::new("folder", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let input = BuildInput {
            schema: schema.clone(),
            domains: vec![],
        };
        let transform = Filter::build(
            config(
                r#"
                platform = ["instagram"]
                exclude_folder = ["spam"]
                "#,
            ),
            &input,
            &ctx(),
        )
        .expect("builds");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                "instagram",
                "instagram",
                "messenger",
                "instagram",
            ])),
            Arc::new(StringArray::from(vec![
                "inbox",
                "spam",
                "inbox",
                "page_done",
            ])),
            Arc::new(Int64Array::from(vec![0, 1, 2, 3])),
        ];
        let batch = RecordBatch::try_new(schema, columns).expect("batch");
        let out = transform.apply(batch).expect("applies").expect("rows kept");
        let n = out
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        assert_eq!(n.values().to_vec(), vec![0, 3]);
    }
}
