//! The build-time plan: which [`Action`] applies to every field of the input schema, resolved
//! from the user's `fields`, then the defaults, into a tree of [`Node`]s that mirrors the schema.
//!
//! Resolution, per field path (struct steps joined by `.`, list items transparent):
//! 1. an explicit `fields` entry for the path itself;
//! 2. else the nearest explicit entry of an ancestor (`keep` keeps everything below it raw, a
//!    `drop` nulls the whole subtree);
//! 3. else the default: the participant rule (`id`/`email`/`username` hashed, `name` dropped in
//!    every participant struct) and the per-column table of [`default_for`].
//!
//! Everything is checked here, without data: unknown paths (with a suggestion), `hash`/`mask` on
//! something that is not a string, `drop` on a non-nullable column, an entry made moot by a dropped
//! ancestor. So `tributary validate` reports them, and the output schema (the input schema: every
//! action keeps the type) is known before the first batch.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::{DataType, Fields, Schema};
use tributary_core::BuildError;
use tributary_core::canonical::participant;
use tributary_core::config::did_you_mean;
use tributary_core::plugin::BuildContext;

use crate::config::Action;

/// What the transform does to one array: a column, or a field inside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Forward the array unchanged (no copy).
    Keep,
    /// Replace it by nulls of the same type.
    Drop,
    /// Replace every string by its keyed pseudonym; `normalize`: trim and lowercase first.
    Hash {
        /// Whether to trim and lowercase before hashing (email fields with `normalize_emails`).
        normalize: bool,
    },
    /// Replace every string by the `*` run of its length class.
    Mask,
    /// Rebuild the struct with these children (one per field, in order).
    Struct(Vec<Node>),
    /// Rebuild the list around its rewritten items.
    List(Box<Node>),
}

impl Node {
    fn is_keep(&self) -> bool {
        matches!(self, Node::Keep)
    }
}

/// The resolved plan of a whole schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One node per column, in schema order.
    pub columns: Vec<Node>,
    /// Every leaf path with the action applied to it, in schema order (for docs and tests).
    pub leaves: Vec<(String, Action)>,
}

/// Columns of the canonical conversation table and of `explode_messages` rows that hold text
/// people wrote or free-form data that may embed personal data: nulled by default.
const DROPPED: [&str; 10] = [
    "snippet",                   // text of the newest message
    "name",                      // thread name: the customer's display name
    "subject",                   // text people wrote (older API versions)
    "wallpaper",                 // semantics undocumented by Meta: possibly a user photo
    "extra_json",                // any field the schema does not know, unvetted
    "messages.message",          // message text
    "messages.attachments_json", // file names, image URLs of what people sent
    "message",                   // explode_messages: message text
    "attachments_json",          // explode_messages: attachments
    "from_name",                 // explode_messages: the sender's display name
];

/// Columns that identify a person or may embed a person-scoped id: hashed by default.
const HASHED: [&str; 4] = [
    "scoped_thread_key", // semantics undocumented by Meta; Messenger keys can embed a PSID
    "from_id",           // explode_messages: the sender's id
    "from_username",     // explode_messages: the sender's Instagram username
    "from_email",        // the sender's email, should a schema flatten it
];

/// Columns known to hold no personal data: kept by default, without a warning.
const KEPT: [&str; 19] = [
    "page_id", // the business's Page, not a person
    "platform",
    "folder",
    "id", // a conversation (or message) id: the table's key, joins conversations and messages
    "updated_time",
    "link", // "/{page-id}/inbox/{thread-id}/": the Page and the thread, no person
    "message_count",
    "unread_count",
    "can_reply",
    "is_subscribed",
    "extracted_at",
    "conversation_id",
    "created_time",
    "sticker", // a sticker's public image URL
    "tags",    // `inbox`, `source:mobile`, ...
    "messages.id",
    "messages.created_time",
    "messages.sticker",
    "messages.tags",
];

/// The default action of a leaf at `path`, named `name`; `None` for a path this crate does not
/// know (kept, with a warning).
pub fn default_for(path: &str, name: &str, in_participant: bool) -> Option<Action> {
    if in_participant {
        return match name {
            participant::ID | participant::EMAIL | participant::USERNAME => Some(Action::Hash),
            participant::NAME => Some(Action::Drop),
            _ => None,
        };
    }
    if DROPPED.contains(&path) {
        Some(Action::Drop)
    } else if HASHED.contains(&path) {
        Some(Action::Hash)
    } else if KEPT.contains(&path) {
        Some(Action::Keep)
    } else {
        None
    }
}

/// A participant struct (`participants`, `senders`, `former_participants` items, a message's
/// `from` and `to` items): an `id` plus at least one of `name`, `email`, `username`.
fn is_participant(fields: &Fields) -> bool {
    let has = |n: &str| fields.iter().any(|f| f.name() == n);
    has(participant::ID)
        && (has(participant::NAME) || has(participant::EMAIL) || has(participant::USERNAME))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// Every addressable path of `schema` (columns, struct fields at any depth), in schema order.
pub fn all_paths(schema: &Schema) -> Vec<String> {
    fn visit(path: String, data_type: &DataType, out: &mut Vec<String>) {
        out.push(path.clone());
        let mut data_type = data_type;
        while let DataType::List(item) | DataType::LargeList(item) = data_type {
            data_type = item.data_type();
        }
        if let DataType::Struct(fields) = data_type {
            for f in fields {
                visit(join(&path, f.name()), f.data_type(), out);
            }
        }
    }
    let mut out = Vec::new();
    for f in schema.fields() {
        visit(f.name().clone(), f.data_type(), &mut out);
    }
    out
}

struct Planner<'a> {
    overrides: &'a BTreeMap<String, Action>,
    used: BTreeSet<&'a str>,
    normalize_emails: bool,
    ctx: &'a BuildContext,
    leaves: Vec<(String, Action)>,
}

/// Resolves the action of every field of `schema`.
pub fn plan(
    schema: &Schema,
    overrides: &BTreeMap<String, Action>,
    normalize_emails: bool,
    ctx: &BuildContext,
) -> Result<Plan, BuildError> {
    let mut planner = Planner {
        overrides,
        used: BTreeSet::new(),
        normalize_emails,
        ctx,
        leaves: Vec::new(),
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        columns.push(planner.field(f.name(), f.data_type(), f.is_nullable(), None, false)?);
    }
    planner.check_unused(schema)?;
    Ok(Plan {
        columns,
        leaves: planner.leaves,
    })
}

impl<'a> Planner<'a> {
    /// The node of the field at `path`: its own explicit entry, else `inherited`.
    fn field(
        &mut self,
        path: &str,
        data_type: &DataType,
        nullable: bool,
        inherited: Option<Action>,
        in_participant: bool,
    ) -> Result<Node, BuildError> {
        let explicit = self.overrides.get_key_value(path).map(|(k, a)| {
            self.used.insert(k.as_str());
            *a
        });
        self.node(
            path,
            data_type,
            nullable,
            explicit.or(inherited),
            in_participant,
        )
    }

    fn node(
        &mut self,
        path: &str,
        data_type: &DataType,
        nullable: bool,
        action: Option<Action>,
        in_participant: bool,
    ) -> Result<Node, BuildError> {
        match data_type {
            DataType::List(item) => {
                if action == Some(Action::Drop) {
                    return self.drop(path, nullable);
                }
                // List items have no path of their own: the list's action applies to them.
                let inner = self.node(
                    path,
                    item.data_type(),
                    item.is_nullable(),
                    action,
                    in_participant,
                )?;
                Ok(if inner.is_keep() {
                    Node::Keep
                } else {
                    Node::List(Box::new(inner))
                })
            }
            DataType::Struct(fields) => {
                match action {
                    Some(Action::Drop) => return self.drop(path, nullable),
                    Some(a @ (Action::Hash | Action::Mask)) => {
                        return Err(self.not_a_string(path, data_type, a));
                    }
                    _ => {}
                }
                let participant = is_participant(fields);
                let mut children = Vec::with_capacity(fields.len());
                for f in fields {
                    children.push(self.field(
                        &join(path, f.name()),
                        f.data_type(),
                        f.is_nullable(),
                        action,
                        participant,
                    )?);
                }
                Ok(if children.iter().all(Node::is_keep) {
                    Node::Keep
                } else {
                    Node::Struct(children)
                })
            }
            leaf => {
                let name = path.rsplit('.').next().unwrap_or(path);
                let action = match action {
                    Some(a) => a,
                    None => default_for(path, name, in_participant).unwrap_or_else(|| {
                        self.ctx.warn(
                            Some("fields"),
                            format!(
                                "`{path}` is not a field of the conversation or message schema, so \
                                 it is kept as is; decide with `fields = {{ \"{path}\" = \"drop\" }}` \
                                 (or \"hash\", \"mask\", \"keep\")"
                            ),
                        );
                        Action::Keep
                    }),
                };
                self.leaves.push((path.to_owned(), action));
                match action {
                    Action::Keep => Ok(Node::Keep),
                    Action::Drop => self.drop(path, nullable),
                    Action::Hash | Action::Mask if leaf != &DataType::Utf8 => {
                        Err(self.not_a_string(path, leaf, action))
                    }
                    Action::Hash => Ok(Node::Hash {
                        normalize: self.normalize_emails
                            && (name == participant::EMAIL || name == "from_email"),
                    }),
                    Action::Mask => Ok(Node::Mask),
                }
            }
        }
    }

    fn drop(&self, path: &str, nullable: bool) -> Result<Node, BuildError> {
        if nullable {
            return Ok(Node::Drop);
        }
        Err(BuildError::at(
            format!("fields.{path}"),
            format!("`{path}` cannot be dropped: the column is not nullable (a key of the table)"),
        )
        .with_help(format!(
            "use `\"{path}\" = \"hash\"` to pseudonymize it, or `\"keep\"`"
        )))
    }

    fn not_a_string(&self, path: &str, data_type: &DataType, action: Action) -> BuildError {
        let below = match data_type {
            DataType::Struct(_) | DataType::List(_) => format!(
                "; set it on the string fields below it instead (for example `{}`)",
                self.example_below(path)
            ),
            _ => String::new(),
        };
        BuildError::at(
            format!("fields.{path}"),
            format!(
                "`{path}` is {data_type}, but `{}` applies to strings only",
                action.as_str()
            ),
        )
        .with_help(format!("use `drop` or `keep` for `{path}`{below}"))
    }

    fn example_below(&self, path: &str) -> String {
        let _ = self;
        if path.ends_with("messages") {
            format!("{path}.from.id")
        } else {
            format!("{path}.id")
        }
    }

    /// Entries that matched no field: unknown paths (with a suggestion), or paths inside a
    /// dropped ancestor.
    fn check_unused(&self, schema: &Schema) -> Result<(), BuildError> {
        let paths = all_paths(schema);
        for (path, action) in self.overrides {
            if self.used.contains(path.as_str()) {
                continue;
            }
            let key = format!("fields.{path}");
            if paths.contains(path) {
                let ancestor = path
                    .match_indices('.')
                    .map(|(i, _)| &path[..i])
                    .find(|p| self.overrides.get(*p) == Some(&Action::Drop))
                    .unwrap_or("an ancestor");
                return Err(BuildError::at(
                    key,
                    format!(
                        "`{path}` = \"{}\" has no effect: it is inside `{ancestor}`, which is dropped",
                        action.as_str()
                    ),
                )
                .with_help(format!("remove one of the two entries for `{ancestor}` and `{path}`")));
            }
            let suffix = format!(".{path}");
            let ending: Vec<&str> = paths
                .iter()
                .filter(|p| p.ends_with(&suffix))
                .map(String::as_str)
                .collect();
            let help = if !ending.is_empty() {
                format!("name the full path: `{}`", ending.join("`, `"))
            } else if let Some(s) = did_you_mean(path, paths.iter().map(String::as_str)) {
                s
            } else {
                format!("the input's fields are `{}`", paths.join("`, `"))
            };
            return Err(
                BuildError::at(key, format!("the input has no field `{path}`")).with_help(help),
            );
        }
        Ok(())
    }
}
