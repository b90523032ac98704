//! [`ExplodeMessagesConfig`]: `explode_messages` has no options; the output schema is fixed.

use serde::Deserialize;

/// Configuration of an `explode_messages` transform (`[transforms.ID]` with
/// `type = "explode_messages"`).
///
/// There are no options: the transform reads the canonical `messages` column and the thread keys,
/// and always produces the schema of [`crate::messages_schema`], so every sink below it sees the
/// same columns whatever the data (and whichever message `fields` the source requested: the ones
/// not requested are null).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplodeMessagesConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_empty_table() {
        let config: ExplodeMessagesConfig = toml::from_str("").expect("parses");
        assert_eq!(config, ExplodeMessagesConfig {});
    }

    #[test]
    fn rejects_an_unknown_key() {
        let err =
            toml::from_str::<ExplodeMessagesConfig>("keep_empty = true").expect_err("unknown key");
        assert!(err.to_string().contains("`keep_empty`"), "{err}");
    }
}
