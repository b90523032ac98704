//! # transform-pseudonymize
//!
//! The `pseudonymize` transform: lands conversations without raw personal data, yet joinable.
//! People's ids, emails and usernames become keyed pseudonyms (the same person gets the same
//! pseudonym in every run and every table); names and the text people wrote are dropped.
//!
//! ```toml
//! [transforms.private]
//! type   = "pseudonymize"
//! inputs = ["pages"]                 # canonical threads, or rows of `explode_messages`
//! key    = "${PSEUDONYM_KEY}"        # >= 32 bytes; `openssl rand -hex 32`
//! # normalize_emails = true          # trim + lowercase emails before hashing
//! # fields = { "participants.name" = "mask", snippet = "keep" }
//! ```
//!
//! The one thing to know: **a pseudonym is `lower(hex(HMAC-SHA256(key, utf8(value))))`**, 64
//! characters, with the key's UTF-8 bytes as the HMAC key, so a warehouse job holding the key
//! reproduces it (Python: `hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()`).
//! With `normalize_emails`, an email is first trimmed of surrounding whitespace and lowercased
//! (Python: `value.strip().lower()`).
//!
//! Defaults, per field (a path names struct fields with `.`; list items need no step):
//!
//! | field | default | why |
//! |---|---|---|
//! | `id`, `email`, `username` of every participant struct: `participants`, `senders`, `former_participants`, `messages.from`, `messages.to`, and `to` of message rows | `hash` | identify a person; a pseudonym keeps counts and joins |
//! | `name` of every participant struct | `drop` | a display name |
//! | `from_id`, `from_username` (message rows) | `hash` | the sender, as in `messages.from` |
//! | `from_name` (message rows) | `drop` | the sender's display name |
//! | `snippet`, `messages.message`, `message` (message rows), `subject` | `drop` | text people wrote |
//! | thread `name` | `drop` | Graph names a thread after the customer |
//! | `messages.attachments_json`, `attachments_json` (message rows) | `drop` | file names and image URLs of what people sent |
//! | `extra_json` | `drop` | fields the schema does not know: unvetted |
//! | `scoped_thread_key` | `hash` | semantics unconfirmed; Messenger keys can embed a person-scoped id |
//! | `wallpaper` | `drop` | semantics unconfirmed; possibly a user photo |
//! | `page_id`, `platform`, `folder`, `id`, `conversation_id`, `link`, times, counts, flags, `sticker`, `tags` | `keep` | the business's Page, thread and message keys, no person |
//! | anything else | `keep`, with a build warning | decide it with `fields` |
//!
//! Semantics, decided here:
//! - The output schema is the input schema: `hash` and `mask` keep strings strings, `drop`
//!   nulls a nullable field. Row order, row count, list lengths and nulls never change; a null
//!   stays null (it is not hashed).
//! - Explicit `fields` entries win over the defaults; the most specific path wins (`messages =
//!   "keep"` keeps the messages raw except for fields named below it).
//! - `build` refuses a key shorter than 32 bytes, an unknown path (with a suggestion), `hash` or
//!   `mask` on a non-string, `drop` on a non-nullable column, and an entry inside a dropped one.
//!   The key never appears in an error, a log line or `Debug` output.
//! - Columnar: each column is rewritten once by Arrow kernels over its buffers; a batch memoises
//!   pseudonyms by value, so a person repeated in `participants`, `senders` and 20 messages costs
//!   one HMAC.

pub mod config;
pub mod plan;
pub mod transform;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, Transform, TransformPlugin};

pub use crate::config::{Action, DEMO_KEY, MIN_KEY_BYTES, PseudonymizeConfig};
pub use crate::transform::{PseudonymizeTransform, mask_of, normalize_email, pseudonym};

/// The `pseudonymize` transform plugin (`type = "pseudonymize"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pseudonymize;

impl TransformPlugin for Pseudonymize {
    const NAME: &'static str = "pseudonymize";
    const DESCRIPTION: &'static str = "Replaces people's ids, emails and usernames by keyed HMAC-SHA256 pseudonyms and drops names and message text (per-field hash/drop/mask/keep).";
    type Config = PseudonymizeConfig;

    fn build(
        config: PseudonymizeConfig,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError> {
        let key = config.key_bytes()?;
        if config.is_demo_key() {
            ctx.warn(
                Some("key"),
                "this is the example's public demo key: anyone can reverse its pseudonyms by \
                 hashing candidate ids and emails; set PSEUDONYM_KEY (`openssl rand -hex 32`) \
                 before landing real data",
            );
        }
        // HMAC takes keys of any length; the error type cannot occur, and carries no key bytes.
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| BuildError::at("key", "the pseudonym key cannot key HMAC-SHA256"))?;
        let plan = plan::plan(&input.schema, &config.fields, config.normalize_emails, ctx)?;
        Ok(Box::new(PseudonymizeTransform::new(
            input.schema.clone(),
            plan.columns,
            mac,
        )))
    }
}

#[cfg(test)]
mod tests;
