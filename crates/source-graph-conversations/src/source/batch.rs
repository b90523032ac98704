//! Threads to one canonical RecordBatch, built column by column with Arrow builders (no
//! per-row JSON beyond `extra_json`, which is copied from the raw response bytes).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListArray, ListBuilder, StringBuilder, StructArray,
    TimestampMillisecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use tributary_core::canonical::{
    conversations_schema, message_fields, participant_fields, participant_type,
};

use crate::client::{Message, Participant, Thread};

/// Which optional columns the user asked for (the rest stay null).
#[derive(Clone, Debug, Default)]
pub struct Columns {
    names: HashSet<String>,
    messages: bool,
}

impl Columns {
    /// `fields`: the requested UnifiedThread fields; `messages`: whether messages were requested.
    pub fn new(fields: &[String], messages: bool) -> Columns {
        Columns {
            names: fields.iter().cloned().collect(),
            messages,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// Builds one canonical batch from threads (columns not in `columns` are null).
pub fn threads_to_batch(
    threads: &[Thread],
    extracted_at: DateTime<Utc>,
    columns: &Columns,
) -> Result<RecordBatch, ArrowError> {
    let n = threads.len();
    let str_col = |f: &dyn Fn(&Thread) -> Option<&str>, wanted: bool| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        for t in threads {
            b.append_option(if wanted { f(t) } else { None });
        }
        Arc::new(b.finish())
    };
    let mut page_id = StringBuilder::with_capacity(n, n * 16);
    let mut platform = StringBuilder::with_capacity(n, n * 9);
    let mut folder = StringBuilder::with_capacity(n, n * 6);
    let mut id = StringBuilder::with_capacity(n, n * 24);
    let mut updated = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut message_count = Int64Builder::with_capacity(n);
    let mut unread_count = Int64Builder::with_capacity(n);
    let mut can_reply = BooleanBuilder::with_capacity(n);
    let mut is_subscribed = BooleanBuilder::with_capacity(n);
    let mut participants = ParticipantLists::default();
    let mut senders = ParticipantLists::default();
    let mut former = ParticipantLists::default();
    let mut messages = MessageLists::default();
    let mut extra = StringBuilder::with_capacity(n, 0);
    let mut extracted = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let at = extracted_at.timestamp_millis();
    for t in threads {
        page_id.append_value(&t.page_id);
        platform.append_value(t.platform.as_str());
        folder.append_value(t.folder.as_str());
        id.append_value(&t.id);
        updated.append_option(
            t.updated_time
                .filter(|_| columns.has("updated_time"))
                .map(|t| t.timestamp_millis()),
        );
        message_count.append_option(t.message_count.filter(|_| columns.has("message_count")));
        unread_count.append_option(t.unread_count.filter(|_| columns.has("unread_count")));
        can_reply.append_option(t.can_reply.filter(|_| columns.has("can_reply")));
        is_subscribed.append_option(t.is_subscribed.filter(|_| columns.has("is_subscribed")));
        participants.append(
            t.participants
                .as_deref()
                .filter(|_| columns.has("participants")),
        );
        senders.append(t.senders.as_deref().filter(|_| columns.has("senders")));
        former.append(
            t.former_participants
                .as_deref()
                .filter(|_| columns.has("former_participants")),
        );
        messages.append(t.messages.as_deref().filter(|_| columns.messages));
        extra.append_option(t.extra_json());
        extracted.append_value(at);
    }
    let columns_out: Vec<ArrayRef> = vec![
        Arc::new(page_id.finish()),
        Arc::new(platform.finish()),
        Arc::new(folder.finish()),
        Arc::new(id.finish()),
        Arc::new(updated.finish()),
        str_col(&|t| t.link.as_deref(), columns.has("link")),
        str_col(&|t| t.snippet.as_deref(), columns.has("snippet")),
        str_col(&|t| t.name.as_deref(), columns.has("name")),
        str_col(&|t| t.subject.as_deref(), columns.has("subject")),
        str_col(
            &|t| t.scoped_thread_key.as_deref(),
            columns.has("scoped_thread_key"),
        ),
        str_col(&|t| t.wallpaper.as_deref(), columns.has("wallpaper")),
        Arc::new(message_count.finish()),
        Arc::new(unread_count.finish()),
        Arc::new(can_reply.finish()),
        Arc::new(is_subscribed.finish()),
        participants.finish()?,
        senders.finish()?,
        former.finish()?,
        messages.finish()?,
        Arc::new(extra.finish()),
        Arc::new(extracted.finish()),
    ];
    RecordBatch::try_new(conversations_schema(), columns_out)
}

/// Validity of list rows plus their offsets.
#[derive(Default)]
struct Offsets {
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl Offsets {
    fn push(&mut self, len: usize, valid: bool) -> Result<(), ArrowError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        let next = i32::try_from(len)
            .ok()
            .and_then(|l| last.checked_add(l))
            .ok_or_else(|| ArrowError::ComputeError("list offsets overflow".into()))?;
        self.offsets.push(next);
        self.valid.push(valid);
        Ok(())
    }

    fn finish(mut self) -> (OffsetBuffer<i32>, Option<NullBuffer>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let nulls = self
            .valid
            .iter()
            .any(|v| !v)
            .then(|| NullBuffer::from(self.valid));
        (OffsetBuffer::new(ScalarBuffer::from(self.offsets)), nulls)
    }
}

/// Flat participant structs (id, name, email, username).
#[derive(Default)]
struct ParticipantStructs {
    id: StringBuilder,
    name: StringBuilder,
    email: StringBuilder,
    username: StringBuilder,
    valid: Vec<bool>,
}

impl ParticipantStructs {
    fn append(&mut self, p: Option<&Participant>) {
        self.id.append_option(p.and_then(|p| p.id.as_deref()));
        self.name.append_option(p.and_then(|p| p.name.as_deref()));
        self.email.append_option(p.and_then(|p| p.email.as_deref()));
        self.username
            .append_option(p.and_then(|p| p.username.as_deref()));
        self.valid.push(p.is_some());
    }

    fn finish(mut self) -> Result<StructArray, ArrowError> {
        let nulls = self
            .valid
            .iter()
            .any(|v| !v)
            .then(|| NullBuffer::from(self.valid));
        StructArray::try_new(
            participant_fields(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.name.finish()),
                Arc::new(self.email.finish()),
                Arc::new(self.username.finish()),
            ],
            nulls,
        )
    }
}

/// `List<Struct<participant>>`.
#[derive(Default)]
struct ParticipantLists {
    offsets: Offsets,
    items: ParticipantStructs,
    error: Option<ArrowError>,
}

impl ParticipantLists {
    fn append(&mut self, list: Option<&[Participant]>) {
        let len = list.map_or(0, <[Participant]>::len);
        for p in list.unwrap_or_default() {
            self.items.append(Some(p));
        }
        if let Err(e) = self.offsets.push(len, list.is_some()) {
            self.error.get_or_insert(e);
        }
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let (offsets, nulls) = self.offsets.finish();
        let values = self.items.finish()?;
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(participant_type(), true)),
            offsets,
            Arc::new(values),
            nulls,
        )?))
    }
}

/// `List<Struct<message>>`.
#[derive(Default)]
struct MessageLists {
    offsets: Offsets,
    id: StringBuilder,
    created: TimestampMillisecondBuilder,
    from: ParticipantStructs,
    to: ParticipantLists,
    text: StringBuilder,
    sticker: StringBuilder,
    tags: ListBuilder<StringBuilder>,
    attachments: StringBuilder,
    error: Option<ArrowError>,
}

impl MessageLists {
    fn append(&mut self, list: Option<&[Message]>) {
        let len = list.map_or(0, <[Message]>::len);
        for m in list.unwrap_or_default() {
            self.id.append_option(m.id.as_deref());
            self.created
                .append_option(m.created_time.map(|t| t.timestamp_millis()));
            self.from.append(m.from.as_ref());
            self.to.append(m.to.as_deref());
            self.text.append_option(m.message.as_deref());
            self.sticker.append_option(m.sticker.as_deref());
            match &m.tags {
                Some(tags) => {
                    for t in tags {
                        self.tags.values().append_value(t);
                    }
                    self.tags.append(true);
                }
                None => self.tags.append(false),
            }
            self.attachments
                .append_option(m.attachments.as_ref().map(|a| a.get()));
        }
        if let Err(e) = self.offsets.push(len, list.is_some()) {
            self.error.get_or_insert(e);
        }
    }

    fn finish(mut self) -> Result<ArrayRef, ArrowError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let created = self.created.with_timezone("UTC").finish();
        let values = StructArray::try_new(
            message_fields(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(created),
                Arc::new(self.from.finish()?),
                self.to.finish()?,
                Arc::new(self.text.finish()),
                Arc::new(self.sticker.finish()),
                Arc::new(self.tags.finish()),
                Arc::new(self.attachments.finish()),
            ],
            None,
        )?;
        let (offsets, nulls) = self.offsets.finish();
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(
                DataType::Struct(message_fields()),
                true,
            )),
            offsets,
            Arc::new(values),
            nulls,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMillisecondType;

    use crate::client::{Folder, Platform};

    fn thread(id: &str) -> Thread {
        Thread {
            page_id: "p".into(),
            platform: Platform::Instagram,
            folder: Folder::Other,
            id: id.into(),
            updated_time: crate::client::parse_graph_time("2026-11-20T09:28:50+0000"),
            link: Some("/l".into()),
            snippet: Some("שלום 😀".into()),
            name: None,
            subject: None,
            scoped_thread_key: None,
            wallpaper: None,
            message_count: Some(3),
            unread_count: None,
            can_reply: Some(true),
            is_subscribed: None,
            participants: Some(vec![Participant {
                id: Some("1".into()),
                username: Some("u".into()),
                ..Default::default()
            }]),
            senders: None,
            former_participants: None,
            messages: Some(vec![Message {
                id: Some("m".into()),
                message: Some("hi".into()),
                to: Some(vec![Participant {
                    id: Some("2".into()),
                    ..Default::default()
                }]),
                tags: Some(vec!["inbox".into()]),
                ..Default::default()
            }]),
            extra: vec![(
                "is_owner".into(),
                serde_json::value::RawValue::from_string("true".into()).unwrap(),
            )],
        }
    }

    #[test]
    fn batch_matches_the_canonical_schema_and_nulls_unrequested_columns() {
        let mut t2 = thread("t2");
        t2.participants = None;
        t2.messages = None;
        t2.extra.clear();
        let cols = Columns::new(
            &[
                "snippet".into(),
                "participants".into(),
                "updated_time".into(),
            ],
            true,
        );
        let batch = threads_to_batch(&[thread("t1"), t2], Utc::now(), &cols).unwrap();
        assert_eq!(batch.schema(), conversations_schema());
        assert_eq!(batch.num_rows(), 2);
        let snippet = batch.column_by_name("snippet").unwrap().as_string::<i32>();
        assert_eq!(snippet.value(0), "שלום 😀");
        // `link` was returned but not requested.
        assert_eq!(batch.column_by_name("link").unwrap().null_count(), 2);
        let updated = batch
            .column_by_name("updated_time")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(updated.value(0), 1_795_166_930_000);
        let parts = batch
            .column_by_name("participants")
            .unwrap()
            .as_list::<i32>();
        assert!(parts.is_valid(0) && parts.is_null(1));
        let msgs = batch.column_by_name("messages").unwrap().as_list::<i32>();
        assert_eq!(msgs.value(0).len(), 1);
        let extra = batch
            .column_by_name("extra_json")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"is_owner":true}"#);
        assert!(extra.is_null(1));
    }

    #[test]
    fn empty_batch_is_valid() {
        let batch = threads_to_batch(&[], Utc::now(), &Columns::default()).unwrap();
        assert_eq!(batch.num_rows(), 0);
    }
}
