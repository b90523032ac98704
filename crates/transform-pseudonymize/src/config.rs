//! [`PseudonymizeConfig`]: the secret key, per-field [`Action`]s and email normalisation, and
//! the pure key validation (a key shorter than [`MIN_KEY_BYTES`] is refused at build time).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tributary_core::BuildError;

/// The shortest key accepted, in bytes: HMAC-SHA256's security rests on the key, and 32 bytes
/// is SHA-256's output size (RFC 2104 §3 recommends at least that).
pub const MIN_KEY_BYTES: usize = 32;

/// The key of the example pipeline (`pipelines/privacy.toml`), used when `PSEUDONYM_KEY` is unset.
/// It is public, so anyone can reverse pseudonyms made with it by hashing candidate values: `build`
/// accepts it (the example must run out of the box) but always warns.
pub const DEMO_KEY: &str = "public-demo-key-never-use-outside-the-emulator";

/// Default of [`PseudonymizeConfig::normalize_emails`]: hash emails byte for byte, exactly as
/// the API served them.
pub const DEFAULT_NORMALIZE_EMAILS: bool = false;

/// Configuration of a `pseudonymize` transform (`[transforms.ID]` with `type = "pseudonymize"`).
///
/// ```toml
/// [transforms.private]
/// type   = "pseudonymize"
/// inputs = ["pages"]
/// key    = "${PSEUDONYM_KEY}"
/// fields = { "participants.name" = "mask", snippet = "keep" }
/// ```
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PseudonymizeConfig {
    /// The secret HMAC-SHA256 key, at least 32 bytes (its UTF-8 bytes are the key). Use
    /// `${PSEUDONYM_KEY}`; never printed. Keep it stable: the same key gives the same pseudonym
    /// in every run and table; a new key breaks every join with earlier data.
    #[schemars(with = "String")]
    pub key: SecretString,

    /// Per-field actions, overriding the defaults: `{ "participants.name" = "mask", snippet =
    /// "keep" }`. A path names a column or a field inside it (`participants.email`,
    /// `messages.from.id`; list items need no step). Actions: `hash` (keyed pseudonym),
    /// `drop` (null), `mask` (a run of `*` as long as the value's length class), `keep`.
    /// The most specific path wins. Absent: the defaults (README, "Privacy: pseudonymize").
    #[serde(default)]
    pub fields: BTreeMap<String, Action>,

    /// Trim surrounding whitespace and lowercase every `email` field before hashing it (so
    /// `" Ana@X.com"` and `"ana@x.com"` get one pseudonym). Default `false`: emails are hashed
    /// exactly as served.
    #[serde(default)]
    #[schemars(default = "default_normalize_emails")]
    pub normalize_emails: bool,
}

fn default_normalize_emails() -> bool {
    DEFAULT_NORMALIZE_EMAILS
}

/// What happens to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The lowercase hex HMAC-SHA256 of the value's UTF-8 bytes under `key` (strings only).
    Hash,
    /// Null, whatever the value (nullable fields only).
    Drop,
    /// Only the length class of the value survives, as a run of `*` (strings only).
    Mask,
    /// The value as is.
    Keep,
}

impl Action {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Hash => "hash",
            Action::Drop => "drop",
            Action::Mask => "mask",
            Action::Keep => "keep",
        }
    }
}

impl PseudonymizeConfig {
    /// The key's bytes, once checked to be long enough. The error never contains the key, nor
    /// its length (a length narrows a brute-force search).
    pub(crate) fn key_bytes(&self) -> Result<&[u8], BuildError> {
        let key = self.key.expose_secret().as_bytes();
        if key.len() < MIN_KEY_BYTES {
            return Err(BuildError::at(
                "key",
                format!("the pseudonym key is shorter than {MIN_KEY_BYTES} bytes"),
            )
            .with_help(
                "generate one with `openssl rand -hex 32` (64 characters), keep it in your secret \
                 store, and pass it as `key = \"${PSEUDONYM_KEY}\"`",
            ));
        }
        Ok(key)
    }

    /// Whether the key is the published [`DEMO_KEY`].
    pub(crate) fn is_demo_key(&self) -> bool {
        self.key.expose_secret() == DEMO_KEY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef-secret";

    fn parse(text: &str) -> Result<PseudonymizeConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn parses_a_key_fields_and_normalisation() {
        let config = parse(&format!(
            "key = \"{KEY}\"\nnormalize_emails = true\nfields = {{ \"participants.name\" = \"mask\", snippet = \"keep\" }}"
        ))
        .expect("parses");
        assert_eq!(config.key.expose_secret(), KEY);
        assert!(config.normalize_emails);
        assert_eq!(
            config.fields.get("participants.name"),
            Some(&Action::Mask),
            "{:?}",
            config.fields
        );
        assert_eq!(config.fields.get("snippet"), Some(&Action::Keep));
    }

    #[test]
    fn defaults_to_exact_emails_and_no_overrides() {
        let config = parse(&format!("key = \"{KEY}\"")).expect("parses");
        assert_eq!(config.normalize_emails, DEFAULT_NORMALIZE_EMAILS);
        assert!(config.fields.is_empty());
    }

    #[test]
    fn requires_a_key() {
        let err = parse("normalize_emails = true").expect_err("no key");
        assert!(err.to_string().contains("missing field `key`"), "{err}");
    }

    #[test]
    fn rejects_an_unknown_key() {
        let err = parse(&format!("key = \"{KEY}\"\nnormalise_emails = true")).expect_err("typo");
        assert!(err.to_string().contains("`normalise_emails`"), "{err}");
    }

    #[test]
    fn rejects_an_unknown_action_naming_the_valid_ones() {
        let err = parse(&format!("key = \"{KEY}\"\nfields = {{ name = \"hsah\" }}"))
            .expect_err("unknown action");
        let text = err.to_string();
        assert!(text.contains("hsah") && text.contains("`hash`"), "{text}");
    }

    #[test]
    fn refuses_a_short_key_without_showing_it() {
        let short = "short-but-secret-value";
        let config = parse(&format!("key = \"{short}\"")).expect("parses");
        let err = config.key_bytes().expect_err("too short");
        assert_eq!(err.key.as_deref(), Some("key"));
        let text = err.to_string();
        assert!(text.contains("32 bytes"), "{text}");
        assert!(!text.contains(short), "the key leaked: {text}");
        assert!(!text.contains(&short.len().to_string()), "{text}");
    }

    #[test]
    fn accepts_a_key_of_exactly_32_bytes() {
        let config = parse(&format!("key = \"{}\"", "k".repeat(32))).expect("parses");
        assert_eq!(config.key_bytes().expect("long enough").len(), 32);
        let config = parse(&format!("key = \"{}\"", "k".repeat(31))).expect("parses");
        assert!(config.key_bytes().is_err());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let config = parse(&format!("key = \"{KEY}\"")).expect("parses");
        let debug = format!("{config:?}");
        assert!(!debug.contains(KEY), "{debug}");
    }
}
