//! [`FilterConfig`]: which platforms and folders a `filter` keeps, and the pure validation that
//! turns it into per-column [`Rule`]s (known values, did-you-mean, a filter that keeps nothing).

use serde::Deserialize;
use tributary_core::BuildError;
use tributary_core::canonical::{FOLDERS, PLATFORMS, col};
use tributary_core::plugin::BuildContext;

/// Configuration of a `filter` transform (`[transforms.ID]` with `type = "filter"`).
///
/// Every key is optional, but at least one must be set. A row is kept when it passes the rule of
/// every column that has one: a `platform` rule (from `platform` and/or `exclude_platform`) and a
/// `folder` rule (from `folder` and/or `exclude_folder`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Platforms to keep (`messenger`, `instagram`); rows of any other platform, or without one,
    /// are dropped. Absent: every platform (minus `exclude_platform`).
    #[serde(default)]
    pub platform: Option<Vec<String>>,

    /// Folders to keep (`inbox`, `other`, `page_done`, `spam`); rows of any other folder, or
    /// without one, are dropped. Absent: every folder (minus `exclude_folder`).
    #[serde(default)]
    pub folder: Option<Vec<String>>,

    /// Platforms to drop; every other row is kept, including rows without a platform.
    /// Applied after `platform`. Absent: drop none.
    #[serde(default)]
    pub exclude_platform: Option<Vec<String>>,

    /// Folders to drop; every other row is kept, including rows without a folder.
    /// Applied after `folder`. Absent: drop none.
    #[serde(default)]
    pub exclude_folder: Option<Vec<String>>,
}

/// What a filter does to one column, resolved from the include and exclude keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The column the rule reads (`platform` or `folder`).
    pub column: &'static str,
    /// The config key that produced `values` (used in warnings: the key to edit).
    pub key: &'static str,
    /// Keep only rows whose value is in `values`, or drop those rows.
    pub mode: Mode,
    /// The values, deduplicated, in configuration order.
    pub values: Vec<String>,
}

/// Whether a [`Rule`] lists the values to keep or the values to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep rows whose value is listed; drop every other row, nulls included.
    Keep,
    /// Drop rows whose value is listed; keep every other row, nulls included.
    Drop,
}

impl Rule {
    /// Whether this rule lets a row with `value` through.
    pub fn keeps(&self, value: &str) -> bool {
        let listed = self.values.iter().any(|v| v == value);
        match self.mode {
            Mode::Keep => listed,
            Mode::Drop => !listed,
        }
    }
}

/// One filterable dimension: its column, its keys and its known values.
struct Dimension {
    column: &'static str,
    include_key: &'static str,
    exclude_key: &'static str,
    /// Singular noun for messages (`platform`, `folder`).
    noun: &'static str,
    known: &'static [&'static str],
}

const PLATFORM: Dimension = Dimension {
    column: col::PLATFORM,
    include_key: "platform",
    exclude_key: "exclude_platform",
    noun: "platform",
    known: &PLATFORMS,
};

const FOLDER: Dimension = Dimension {
    column: col::FOLDER,
    include_key: "folder",
    exclude_key: "exclude_folder",
    noun: "folder",
    known: &FOLDERS,
};

impl FilterConfig {
    /// Validates the values and resolves them into at most one rule per column.
    ///
    /// Fails on an unknown value (with the nearest known one), an empty include list, a
    /// combination that keeps no known value, and a configuration that filters nothing. Leaves a
    /// warning on `ctx` for exclusions that change nothing.
    pub fn rules(&self, ctx: &BuildContext) -> Result<Vec<Rule>, BuildError> {
        let rules: Vec<Rule> = [
            resolve(
                &PLATFORM,
                self.platform.as_deref(),
                self.exclude_platform.as_deref(),
                ctx,
            )?,
            resolve(
                &FOLDER,
                self.folder.as_deref(),
                self.exclude_folder.as_deref(),
                ctx,
            )?,
        ]
        .into_iter()
        .flatten()
        .collect();
        if rules.is_empty() {
            return Err(BuildError::new(
                "this filter has no rule, so it would forward every row unchanged",
            )
            .with_help(
                "set at least one of `platform`, `folder`, `exclude_platform` or `exclude_folder` \
                     (for example `platform = [\"instagram\"]`), or remove the transform",
            ));
        }
        Ok(rules)
    }
}

fn resolve(
    dim: &Dimension,
    include: Option<&[String]>,
    exclude: Option<&[String]>,
    ctx: &BuildContext,
) -> Result<Option<Rule>, BuildError> {
    let include = include
        .map(|values| known_values(dim, dim.include_key, values))
        .transpose()?;
    let exclude = exclude
        .map(|values| known_values(dim, dim.exclude_key, values))
        .transpose()?;
    let exclude = exclude.unwrap_or_default();

    match include {
        Some(include) if include.is_empty() => Err(BuildError::at(
            dim.include_key,
            format!(
                "`{}` is empty, so this filter would drop every row",
                dim.include_key
            ),
        )
        .with_help(format!(
            "list the {n}s to keep (known: {}), or remove `{}` to keep every {n}",
            quoted(dim.known),
            dim.include_key,
            n = dim.noun
        ))),
        Some(include) => {
            // With an include list, excluding is subtraction: one `Keep` rule does both.
            let redundant: Vec<&str> = exclude
                .iter()
                .filter(|v| !include.contains(v))
                .map(String::as_str)
                .collect();
            if !redundant.is_empty() {
                ctx.warn(
                    Some(dim.exclude_key),
                    format!(
                        "`{}` lists {} {} that `{}` does not keep anyway; remove {} from `{}`",
                        dim.exclude_key,
                        dim.noun,
                        quoted(&redundant),
                        dim.include_key,
                        if redundant.len() == 1 { "it" } else { "them" },
                        dim.exclude_key
                    ),
                );
            }
            let keep: Vec<String> = include
                .into_iter()
                .filter(|v| !exclude.contains(v))
                .collect();
            if keep.is_empty() {
                return Err(BuildError::at(
                    dim.exclude_key,
                    format!(
                        "`{}` drops every {} that `{}` keeps, so this filter would drop every row",
                        dim.exclude_key, dim.noun, dim.include_key
                    ),
                )
                .with_help(format!(
                    "remove from `{}` the {}s you want to keep",
                    dim.exclude_key, dim.noun
                )));
            }
            Ok(Some(Rule {
                column: dim.column,
                key: dim.include_key,
                mode: Mode::Keep,
                values: keep,
            }))
        }
        None if exclude.is_empty() => Ok(None),
        None => {
            if dim.known.iter().all(|k| exclude.iter().any(|v| v == k)) {
                return Err(BuildError::at(
                    dim.exclude_key,
                    format!(
                        "`{}` drops every known {} ({}), so this filter would drop every row",
                        dim.exclude_key,
                        dim.noun,
                        quoted(dim.known)
                    ),
                )
                .with_help(format!(
                    "remove from `{}` the {}s you want to keep",
                    dim.exclude_key, dim.noun
                )));
            }
            Ok(Some(Rule {
                column: dim.column,
                key: dim.exclude_key,
                mode: Mode::Drop,
                values: exclude,
            }))
        }
    }
}

/// Checks every value against the known set and deduplicates, keeping the configured order.
fn known_values(dim: &Dimension, key: &str, values: &[String]) -> Result<Vec<String>, BuildError> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !dim.known.contains(&value.as_str()) {
            let known = quoted(dim.known);
            let help = match suggest_known(value, dim.known) {
                Some(near) => format!("did you mean `{near}`? known {}s: {known}", dim.noun),
                None => format!("known {}s: {known}", dim.noun),
            };
            return Err(
                BuildError::at(key, format!("unknown {} `{value}` in `{key}`", dim.noun))
                    .with_help(help),
            );
        }
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    Ok(out)
}

/// The known value nearest to `value`, if it is near enough to be a plausible typo; `value` is
/// compared as known values are written (lower case, `_` for `-` and spaces).
fn suggest_known(value: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower = value.trim().to_lowercase().replace(['-', ' '], "_");
    tributary_core::suggest(&lower, known.iter().copied())
}

/// `` `a`, `b` `` for messages.
pub(crate) fn quoted<S: AsRef<str>>(values: &[S]) -> String {
    values
        .iter()
        .map(|v| format!("`{}`", v.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<FilterConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    fn ctx() -> BuildContext {
        BuildContext::transform("test", "f")
    }

    fn rules(toml_text: &str) -> Result<Vec<Rule>, BuildError> {
        let config = parse(toml_text).expect("config parses");
        config.rules(&ctx())
    }

    #[test]
    fn parses_every_key() {
        let config = parse(
            r#"
            platform = ["instagram"]
            folder = ["inbox", "other"]
            exclude_platform = ["messenger"]
            exclude_folder = ["spam"]
            "#,
        )
        .expect("parses");
        assert_eq!(config.platform, Some(vec!["instagram".to_owned()]));
        assert_eq!(
            config.folder,
            Some(vec!["inbox".to_owned(), "other".to_owned()])
        );
        assert_eq!(config.exclude_platform, Some(vec!["messenger".to_owned()]));
        assert_eq!(config.exclude_folder, Some(vec!["spam".to_owned()]));
    }

    #[test]
    fn rejects_an_unknown_key_naming_it() {
        let err = parse(r#"platforms = ["instagram"]"#).expect_err("unknown key");
        let text = err.to_string();
        assert!(text.contains("`platforms`"), "{text}");
        // serde lists the accepted keys, so the user sees the one they meant.
        assert!(text.contains("`platform`"), "{text}");
    }

    #[test]
    fn rejects_a_string_where_a_list_is_expected() {
        assert!(parse(r#"platform = "instagram""#).is_err());
    }

    #[test]
    fn suggests_the_nearest_platform_for_a_typo() {
        let err = rules(r#"platform = ["instagrm"]"#).expect_err("typo");
        assert_eq!(err.key.as_deref(), Some("platform"));
        assert!(err.message.contains("`instagrm`"), "{err}");
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `instagram`?"),
            "{err}"
        );
    }

    #[test]
    fn suggests_the_nearest_folder_for_a_typo_in_an_exclude_key() {
        let err = rules(r#"exclude_folder = ["page-done"]"#).expect_err("typo");
        assert_eq!(err.key.as_deref(), Some("exclude_folder"));
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `page_done`?"),
            "{err}"
        );
    }

    #[test]
    fn suggests_the_lowercase_value_for_a_capitalised_one() {
        let err = rules(r#"platform = ["Messenger"]"#).expect_err("case");
        assert!(
            err.help
                .as_deref()
                .unwrap_or("")
                .contains("did you mean `messenger`?"),
            "{err}"
        );
    }

    #[test]
    fn lists_known_values_without_a_suggestion_for_an_unrelated_word() {
        let err = rules(r#"platform = ["whatsapp"]"#).expect_err("unknown");
        let help = err.help.unwrap_or_default();
        assert!(!help.contains("did you mean"), "{help}");
        assert!(help.contains("`messenger`, `instagram`"), "{help}");
    }

    #[test]
    fn rejects_a_config_without_any_rule() {
        let err = rules("").expect_err("no keys");
        assert_eq!(err.key, None);
        assert!(err.message.contains("no rule"), "{err}");
        let err = rules("exclude_folder = []").expect_err("an empty exclude list filters nothing");
        assert!(err.message.contains("no rule"), "{err}");
    }

    #[test]
    fn rejects_an_empty_include_list() {
        let err = rules("folder = []").expect_err("keeps nothing");
        assert_eq!(err.key.as_deref(), Some("folder"));
    }

    #[test]
    fn rejects_excluding_everything_the_include_list_keeps() {
        let err = rules(
            r#"
            platform = ["instagram"]
            exclude_platform = ["instagram"]
            "#,
        )
        .expect_err("keeps nothing");
        assert_eq!(err.key.as_deref(), Some("exclude_platform"));
        assert!(err.message.contains("drop every row"), "{err}");
    }

    #[test]
    fn rejects_excluding_every_known_value() {
        let err =
            rules(r#"exclude_platform = ["instagram", "messenger"]"#).expect_err("keeps nothing");
        assert_eq!(err.key.as_deref(), Some("exclude_platform"));
    }

    #[test]
    fn subtracts_the_exclude_list_from_the_include_list() {
        let got = rules(
            r#"
            folder = ["inbox", "spam", "inbox"]
            exclude_folder = ["spam"]
            "#,
        )
        .expect("valid");
        assert_eq!(
            got,
            vec![Rule {
                column: "folder",
                key: "folder",
                mode: Mode::Keep,
                values: vec!["inbox".into()]
            }]
        );
    }

    #[test]
    fn warns_about_an_exclusion_the_include_list_already_implies() {
        let ctx = ctx();
        let config = parse(
            r#"
            folder = ["inbox"]
            exclude_folder = ["spam"]
            "#,
        )
        .expect("parses");
        config.rules(&ctx).expect("valid");
        let warnings = ctx.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key.as_deref(), Some("exclude_folder"));
        assert!(warnings[0].message.contains("`spam`"), "{warnings:?}");
    }

    #[test]
    fn an_exclude_list_alone_becomes_a_drop_rule() {
        let got = rules(r#"exclude_platform = ["messenger"]"#).expect("valid");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].mode, Mode::Drop);
        assert_eq!(got[0].key, "exclude_platform");
        assert!(got[0].keeps("instagram"));
        assert!(!got[0].keeps("messenger"));
    }

    #[test]
    fn both_columns_get_a_rule() {
        let got = rules(
            r#"
            platform = ["instagram"]
            exclude_folder = ["spam"]
            "#,
        )
        .expect("valid");
        let columns: Vec<_> = got.iter().map(|r| r.column).collect();
        assert_eq!(columns, vec!["platform", "folder"]);
    }
}
