//! The canonical conversation schema: the public contract between the Graph source,
//! the transforms that route or reshape its threads, and every sink.
//!
//! It lives in the core, not in the source crate, because plugins never depend on each other:
//! transforms and tests build and inspect batches of this shape without knowing who produced them.
//! Column names are part of the public contract; keep them stable.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Column names of the conversation table, in schema order.
pub mod col {
    /// The Page (or Instagram account) the thread was read from.
    pub const PAGE_ID: &str = "page_id";
    /// `messenger` or `instagram`.
    pub const PLATFORM: &str = "platform";
    /// `inbox`, `other`, `page_done` or `spam`: the folder queried.
    pub const FOLDER: &str = "folder";
    /// The conversation id.
    pub const ID: &str = "id";
    /// Last activity, UTC milliseconds.
    pub const UPDATED_TIME: &str = "updated_time";
    /// Relative inbox link.
    pub const LINK: &str = "link";
    /// Snippet of the newest message.
    pub const SNIPPET: &str = "snippet";
    /// Thread name.
    pub const NAME: &str = "name";
    /// Thread subject (older API versions).
    pub const SUBJECT: &str = "subject";
    /// Scoped thread key.
    pub const SCOPED_THREAD_KEY: &str = "scoped_thread_key";
    /// Wallpaper.
    pub const WALLPAPER: &str = "wallpaper";
    /// Estimated number of messages.
    pub const MESSAGE_COUNT: &str = "message_count";
    /// Estimated number of unread messages (the API omits it when zero).
    pub const UNREAD_COUNT: &str = "unread_count";
    /// Whether the Page can reply.
    pub const CAN_REPLY: &str = "can_reply";
    /// Whether the Page is subscribed.
    pub const IS_SUBSCRIBED: &str = "is_subscribed";
    /// Current participants.
    pub const PARTICIPANTS: &str = "participants";
    /// Senders.
    pub const SENDERS: &str = "senders";
    /// Former participants.
    pub const FORMER_PARTICIPANTS: &str = "former_participants";
    /// The newest messages, when requested.
    pub const MESSAGES: &str = "messages";
    /// Every field the API returned that the schema does not know, as a JSON object.
    pub const EXTRA_JSON: &str = "extra_json";
    /// When this run read the thread.
    pub const EXTRACTED_AT: &str = "extracted_at";
}

/// Field names inside a participant struct (Messenger: id/name/email; Instagram: id/username).
pub mod participant {
    /// Page-scoped or Instagram-scoped id.
    pub const ID: &str = "id";
    /// Messenger display name.
    pub const NAME: &str = "name";
    /// Messenger proxy e-mail (`<id>@facebook.com`).
    pub const EMAIL: &str = "email";
    /// Instagram username.
    pub const USERNAME: &str = "username";
}

/// Field names inside a message struct.
pub mod message {
    /// Message id.
    pub const ID: &str = "id";
    /// When the message was sent, UTC milliseconds.
    pub const CREATED_TIME: &str = "created_time";
    /// Sender (a participant struct).
    pub const FROM: &str = "from";
    /// Recipients (a list of participant structs).
    pub const TO: &str = "to";
    /// Text (may be empty for attachment-only messages).
    pub const MESSAGE: &str = "message";
    /// Sticker URL.
    pub const STICKER: &str = "sticker";
    /// Tag names (`inbox`, `source:mobile`, ...).
    pub const TAGS: &str = "tags";
    /// Attachments as the API returned them, as JSON.
    pub const ATTACHMENTS_JSON: &str = "attachments_json";
}

/// `Timestamp(Millisecond, "UTC")`, the type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The fields of a participant struct.
pub fn participant_fields() -> Fields {
    Fields::from(vec![
        Field::new(participant::ID, DataType::Utf8, true),
        Field::new(participant::NAME, DataType::Utf8, true),
        Field::new(participant::EMAIL, DataType::Utf8, true),
        Field::new(participant::USERNAME, DataType::Utf8, true),
    ])
}

/// `Struct<id, name, email, username>`.
pub fn participant_type() -> DataType {
    DataType::Struct(participant_fields())
}

/// `List<Struct<id, name, email, username>>`.
pub fn participant_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(participant_type(), true)))
}

/// The fields of a message struct.
pub fn message_fields() -> Fields {
    Fields::from(vec![
        Field::new(message::ID, DataType::Utf8, true),
        Field::new(message::CREATED_TIME, timestamp_type(), true),
        Field::new(message::FROM, participant_type(), true),
        Field::new(message::TO, participant_list_type(), true),
        Field::new(message::MESSAGE, DataType::Utf8, true),
        Field::new(message::STICKER, DataType::Utf8, true),
        Field::new(
            message::TAGS,
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
        Field::new(message::ATTACHMENTS_JSON, DataType::Utf8, true),
    ])
}

/// `List<Struct<message fields>>`.
pub fn message_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(message_fields()),
        true,
    )))
}

static CONVERSATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(col::PAGE_ID, DataType::Utf8, false),
        Field::new(col::PLATFORM, DataType::Utf8, false),
        Field::new(col::FOLDER, DataType::Utf8, false),
        Field::new(col::ID, DataType::Utf8, false),
        Field::new(col::UPDATED_TIME, timestamp_type(), true),
        Field::new(col::LINK, DataType::Utf8, true),
        Field::new(col::SNIPPET, DataType::Utf8, true),
        Field::new(col::NAME, DataType::Utf8, true),
        Field::new(col::SUBJECT, DataType::Utf8, true),
        Field::new(col::SCOPED_THREAD_KEY, DataType::Utf8, true),
        Field::new(col::WALLPAPER, DataType::Utf8, true),
        Field::new(col::MESSAGE_COUNT, DataType::Int64, true),
        Field::new(col::UNREAD_COUNT, DataType::Int64, true),
        Field::new(col::CAN_REPLY, DataType::Boolean, true),
        Field::new(col::IS_SUBSCRIBED, DataType::Boolean, true),
        Field::new(col::PARTICIPANTS, participant_list_type(), true),
        Field::new(col::SENDERS, participant_list_type(), true),
        Field::new(col::FORMER_PARTICIPANTS, participant_list_type(), true),
        Field::new(col::MESSAGES, message_list_type(), true),
        Field::new(col::EXTRA_JSON, DataType::Utf8, true),
        Field::new(col::EXTRACTED_AT, timestamp_type(), false),
    ]))
});

/// The canonical conversation schema, shared (cheap to clone).
pub fn conversations_schema() -> SchemaRef {
    CONVERSATIONS.clone()
}

/// The known values of the `platform` column.
pub const PLATFORMS: [&str; 2] = ["messenger", "instagram"];

/// The known values of the `folder` column.
pub const FOLDERS: [&str; 4] = ["inbox", "other", "page_done", "spam"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_order_is_the_documented_contract() {
        let names: Vec<_> = conversations_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("page_id"));
        assert_eq!(names.last().map(String::as_str), Some("extracted_at"));
        assert_eq!(names.len(), 21);
        assert!(names.iter().any(|n| n == "extra_json"));
    }
}
