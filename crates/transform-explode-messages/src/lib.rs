//! # transform-explode-messages
//!
//! The `explode_messages` transform: turns each conversation thread's `messages` list into one
//! row per message, carrying the thread's keys, so one source can feed a conversations table and
//! a messages table.
//!
//! ```toml
//! [transforms.messages]
//! type   = "explode_messages"
//! inputs = ["pages"]        # a graph_conversations source with `messages = { max = 20, ... }`
//!
//! [sinks.messages]
//! type   = "parquet"
//! inputs = ["messages"]
//! path   = "out/messages"
//! ```
//!
//! The one thing to know: **the output schema is fixed** ([`messages_schema`]) whatever the data
//! and whichever message `fields` the source requested (fields not requested are null columns):
//!
//! | column | Arrow type | from |
//! |---|---|---|
//! | `page_id`, `platform`, `folder` | Utf8 | the thread's columns of the same name |
//! | `conversation_id` | Utf8 | the thread's `id` |
//! | `id` | Utf8 (nullable) | `messages[].id`, the message id |
//! | `created_time` | Timestamp(Millisecond, "UTC") (nullable) | `messages[].created_time` |
//! | `from_id`, `from_name`, `from_username` | Utf8 (nullable) | `messages[].from.{id,name,username}` (Messenger has a name, Instagram a username) |
//! | `to` | List<Struct<id, name, email, username>> (nullable) | `messages[].to` |
//! | `message` | Utf8 (nullable) | `messages[].message` (empty for attachment-only messages) |
//! | `sticker` | Utf8 (nullable) | `messages[].sticker` |
//! | `tags` | List<Utf8> (nullable) | `messages[].tags` |
//! | `attachments_json` | Utf8 (nullable) | `messages[].attachments_json` |
//!
//! The key columns keep their input nullability (non-null in the canonical schema).
//!
//! Semantics, decided here:
//! - Rows come out in input order: thread by thread, and within a thread in list order (the API
//!   lists the newest message first).
//! - A thread whose `messages` is null or empty yields no row; a null entry inside the list is not
//!   a message and yields no row either. A batch that yields no row is dropped (`Ok(None)`).
//! - It is columnar: the list offsets give an index array that repeats each thread's row once per
//!   message, `take` gathers the key columns, and the message columns are the list's child
//!   arrays, sliced without a copy whenever the batch has no null thread or null message.
//! - `build` fails when the input lacks a key column or `messages`, or when `messages` is not the
//!   canonical `List<Struct<...>>`, naming the column and the expected type.

pub mod config;
pub mod transform;

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use tributary_core::BuildError;
use tributary_core::canonical::{self, message, participant};
use tributary_core::plugin::{BuildContext, BuildInput, Transform, TransformPlugin};

pub use crate::config::ExplodeMessagesConfig;
pub use crate::transform::ExplodeMessagesTransform;

/// Column names of the messages table, in schema order.
pub mod col {
    /// The Page (or Instagram account) the thread was read from.
    pub const PAGE_ID: &str = "page_id";
    /// `messenger` or `instagram`.
    pub const PLATFORM: &str = "platform";
    /// The folder the thread was read from.
    pub const FOLDER: &str = "folder";
    /// The thread (conversation) id: the `id` of the conversations table.
    pub const CONVERSATION_ID: &str = "conversation_id";
    /// The message id.
    pub const ID: &str = "id";
    /// When the message was sent, UTC milliseconds.
    pub const CREATED_TIME: &str = "created_time";
    /// The sender's id.
    pub const FROM_ID: &str = "from_id";
    /// The sender's name (Messenger).
    pub const FROM_NAME: &str = "from_name";
    /// The sender's username (Instagram).
    pub const FROM_USERNAME: &str = "from_username";
    /// The recipients, a list of participant structs.
    pub const TO: &str = "to";
    /// The text.
    pub const MESSAGE: &str = "message";
    /// Sticker URL.
    pub const STICKER: &str = "sticker";
    /// Tag names.
    pub const TAGS: &str = "tags";
    /// Attachments as the API returned them, as JSON.
    pub const ATTACHMENTS_JSON: &str = "attachments_json";
}

/// The thread columns every message row carries: (input column, output column).
pub(crate) const KEYS: [(&str, &str); 4] = [
    (canonical::col::PAGE_ID, col::PAGE_ID),
    (canonical::col::PLATFORM, col::PLATFORM),
    (canonical::col::FOLDER, col::FOLDER),
    (canonical::col::ID, col::CONVERSATION_ID),
];

/// `List<Utf8>`, the type of `tags`.
pub(crate) fn tags_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

fn message_columns() -> Vec<Field> {
    vec![
        Field::new(col::ID, DataType::Utf8, true),
        Field::new(col::CREATED_TIME, canonical::timestamp_type(), true),
        Field::new(col::FROM_ID, DataType::Utf8, true),
        Field::new(col::FROM_NAME, DataType::Utf8, true),
        Field::new(col::FROM_USERNAME, DataType::Utf8, true),
        Field::new(col::TO, canonical::participant_list_type(), true),
        Field::new(col::MESSAGE, DataType::Utf8, true),
        Field::new(col::STICKER, DataType::Utf8, true),
        Field::new(col::TAGS, tags_type(), true),
        Field::new(col::ATTACHMENTS_JSON, DataType::Utf8, true),
    ]
}

static MESSAGES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = KEYS
        .iter()
        .map(|(_, out)| Field::new(*out, DataType::Utf8, false))
        .collect();
    fields.extend(message_columns());
    Arc::new(Schema::new(fields))
});

/// The output schema for the canonical conversation schema as input (see the table above).
pub fn messages_schema() -> SchemaRef {
    MESSAGES.clone()
}

/// The output schema for `input`: [`messages_schema`], with each key column as nullable as its
/// input column.
fn output_schema(input: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = KEYS
        .iter()
        .map(|(from, to)| {
            let nullable = input
                .field_with_name(from)
                .map(|f| f.is_nullable())
                .unwrap_or(true);
            Field::new(*to, DataType::Utf8, nullable)
        })
        .collect();
    fields.extend(message_columns());
    Arc::new(Schema::new(fields))
}

/// The `explode_messages` transform plugin (`type = "explode_messages"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplodeMessages;

impl TransformPlugin for ExplodeMessages {
    const NAME: &'static str = "explode_messages";
    const DESCRIPTION: &'static str =
        "Turns each thread's `messages` list into one row per message, with the thread's keys.";
    type Config = ExplodeMessagesConfig;

    fn build(
        _config: ExplodeMessagesConfig,
        input: &BuildInput,
        _ctx: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError> {
        check_input(&input.schema)?;
        Ok(Box::new(ExplodeMessagesTransform::new(output_schema(
            &input.schema,
        ))))
    }
}

/// Fails unless `schema` has Utf8 key columns and a canonical `messages` column.
fn check_input(schema: &Schema) -> Result<(), BuildError> {
    let missing =
        |column: &str, what: &str| {
            let available: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .collect();
            BuildError::new(format!(
            "the input has no `{column}` column ({what}), which explode_messages needs"
        ))
        .with_help(format!(
            "available columns: {}; put explode_messages directly below a `graph_conversations` \
             source (or a transform that keeps its columns)",
            if available.is_empty() { "none".to_owned() } else { available.join(", ") }
        ))
        };
    for (column, what) in [
        (canonical::col::PAGE_ID, "the Page id"),
        (canonical::col::PLATFORM, "the platform"),
        (canonical::col::FOLDER, "the folder"),
        (canonical::col::ID, "the conversation id"),
    ] {
        let field = schema
            .field_with_name(column)
            .map_err(|_| missing(column, what))?;
        if field.data_type() != &DataType::Utf8 {
            return Err(BuildError::new(format!(
                "column `{column}` is {}, but explode_messages expects Utf8",
                field.data_type()
            )));
        }
    }
    let field = schema
        .field_with_name(canonical::col::MESSAGES)
        .map_err(|_| {
            missing(
                canonical::col::MESSAGES,
                "the list of messages of each thread",
            )
        })?;
    check_messages_type(field.data_type())
}

/// Fails unless `data_type` is the canonical `List<Struct<message fields>>` (field order and list
/// item names may differ; the message fields are found by name).
fn check_messages_type(data_type: &DataType) -> Result<(), BuildError> {
    let wrong = |why: String| {
        BuildError::new(format!("column `messages` is {data_type}: {why}")).with_help(format!(
            "explode_messages expects the canonical `messages` column of a `graph_conversations` \
             source: {}",
            canonical::message_list_type()
        ))
    };
    let DataType::List(item) = data_type else {
        return Err(wrong("expected a List".into()));
    };
    let DataType::Struct(fields) = item.data_type() else {
        return Err(wrong("expected a List of Struct".into()));
    };
    let utf8 = DataType::Utf8;
    let expected: [(&str, DataType); 7] = [
        (message::ID, utf8.clone()),
        (message::CREATED_TIME, canonical::timestamp_type()),
        (message::TO, canonical::participant_list_type()),
        (message::MESSAGE, utf8.clone()),
        (message::STICKER, utf8.clone()),
        (message::TAGS, tags_type()),
        (message::ATTACHMENTS_JSON, utf8.clone()),
    ];
    for (name, want) in &expected {
        let field = find(fields, name)
            .ok_or_else(|| wrong(format!("its messages have no `{name}` field")))?;
        // `equals_datatype` ignores nested field names (`item` vs `element`), which differ
        // between writers; the layout is what matters, and the transform fixes the names.
        if !field.data_type().equals_datatype(want) {
            return Err(wrong(format!(
                "field `{name}` is {}, expected {want}",
                field.data_type()
            )));
        }
    }
    let from = find(fields, message::FROM)
        .ok_or_else(|| wrong(format!("its messages have no `{}` field", message::FROM)))?;
    let DataType::Struct(from_fields) = from.data_type() else {
        return Err(wrong(format!(
            "field `from` is {}, expected a Struct",
            from.data_type()
        )));
    };
    for name in [participant::ID, participant::NAME, participant::USERNAME] {
        match find(from_fields, name) {
            Some(f) if f.data_type() == &utf8 => {}
            Some(f) => {
                return Err(wrong(format!(
                    "field `from.{name}` is {}, expected Utf8",
                    f.data_type()
                )));
            }
            None => return Err(wrong(format!("field `from` has no `{name}` field"))),
        }
    }
    Ok(())
}

fn find<'a>(fields: &'a Fields, name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name() == name).map(AsRef::as_ref)
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::TimeUnit;
    use tributary_core::canonical::conversations_schema;

    use super::*;

    fn build(schema: SchemaRef) -> Result<Box<dyn Transform>, BuildError> {
        let input = BuildInput {
            schema,
            domains: vec![],
        };
        ExplodeMessages::build(
            ExplodeMessagesConfig {},
            &input,
            &BuildContext::transform("t", "m"),
        )
    }

    fn canonical_without(column: &str) -> SchemaRef {
        let fields: Vec<Field> = conversations_schema()
            .fields()
            .iter()
            .filter(|f| f.name() != column)
            .map(|f| f.as_ref().clone())
            .collect();
        Arc::new(Schema::new(fields))
    }

    fn canonical_with_messages(data_type: DataType) -> SchemaRef {
        let fields: Vec<Field> = conversations_schema()
            .fields()
            .iter()
            .map(|f| {
                if f.name() == "messages" {
                    Field::new("messages", data_type.clone(), true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn builds_on_the_canonical_schema_with_the_documented_output_schema() {
        let transform = build(conversations_schema()).expect("builds");
        assert_eq!(transform.output_schema(), messages_schema());
        let schema = messages_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "page_id",
                "platform",
                "folder",
                "conversation_id",
                "id",
                "created_time",
                "from_id",
                "from_name",
                "from_username",
                "to",
                "message",
                "sticker",
                "tags",
                "attachments_json"
            ]
        );
        assert_eq!(
            messages_schema()
                .field_with_name("created_time")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("UTC".into())
            ))
        );
    }

    #[test]
    fn fails_without_messages_naming_the_column_and_listing_the_available_ones() {
        let err = build(canonical_without("messages")).err().expect("fails");
        assert!(err.message.contains("no `messages` column"), "{err}");
        assert!(
            err.help.as_deref().unwrap_or("").contains("`page_id`"),
            "{err}"
        );
    }

    #[test]
    fn fails_without_each_key_column() {
        for key in ["page_id", "platform", "folder", "id"] {
            let err = build(canonical_without(key)).err().expect("fails");
            assert!(
                err.message.contains(&format!("no `{key}` column")),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn fails_when_messages_is_not_a_list_of_structs_naming_the_expected_type() {
        let err = build(canonical_with_messages(DataType::Utf8))
            .err()
            .expect("fails");
        assert!(err.message.contains("column `messages` is Utf8"), "{err}");
        assert!(err.help.as_deref().unwrap_or("").contains("List("), "{err}");

        let list_of_strings = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let err = build(canonical_with_messages(list_of_strings))
            .err()
            .expect("fails");
        assert!(err.message.contains("List of Struct"), "{err}");
    }

    #[test]
    fn fails_when_a_message_field_is_missing_or_mistyped() {
        let fields: Vec<Field> = canonical::message_fields()
            .iter()
            .filter(|f| f.name() != "sticker")
            .map(|f| f.as_ref().clone())
            .collect();
        let item = DataType::Struct(Fields::from(fields));
        let list = DataType::List(Arc::new(Field::new_list_field(item, true)));
        let err = build(canonical_with_messages(list)).err().expect("fails");
        assert!(err.message.contains("no `sticker` field"), "{err}");

        let fields: Vec<Field> = canonical::message_fields()
            .iter()
            .map(|f| {
                if f.name() == "created_time" {
                    Field::new("created_time", DataType::Utf8, true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        let item = DataType::Struct(Fields::from(fields));
        let list = DataType::List(Arc::new(Field::new_list_field(item, true)));
        let err = build(canonical_with_messages(list)).err().expect("fails");
        assert!(
            err.message.contains("field `created_time` is Utf8"),
            "{err}"
        );
    }

    #[test]
    fn accepts_other_list_item_names() {
        let item = DataType::Struct(canonical::message_fields());
        let list = DataType::List(Arc::new(Field::new("element", item, true)));
        let transform = build(canonical_with_messages(list)).expect("builds");
        assert_eq!(transform.output_schema(), messages_schema());
    }
}
