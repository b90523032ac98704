//! The canonical conversations batch, built column by column.
//!
//! Two ways in, one set of builders ([`ThreadColumns`]):
//! - [`decode`]: a Graph list page's JSON bytes straight into the builders, strings borrowed
//!   from the body (one copy, into the column), no tree of owned values in between. This is
//!   the plugin's path.
//! - [`ThreadColumns::append_thread`]: typed [`Thread`]s (the client API's values), used by
//!   [`threads_to_batch`](crate::source::threads_to_batch).
//!
//! Both go through the same per-row `append_*` functions, so a thread becomes the same row
//! whichever way it came.

mod batches;
pub(crate) mod decode;
mod splice;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListArray, ListBuilder, StringBuilder, StructArray,
    TimestampMillisecondArray, TimestampMillisecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use tributary_core::canonical::{
    col, conversations_schema, message_fields, participant_fields, participant_type,
};

use crate::client::{Folder, Message, Participant, Platform, Thread};

pub use batches::BatchPage;
pub use decode::{DecodedPage, decode_list_page, decode_list_page_serde_json};
pub(crate) use splice::append_messages;

/// Which optional columns the user asked for (the rest stay null). Decided once from the
/// field names: rows are checked against flags, not a set of names.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    wanted: Wanted,
    messages: bool,
}

/// One flag per optional thread column.
#[derive(Clone, Copy, Debug, Default)]
struct Wanted {
    updated_time: bool,
    link: bool,
    snippet: bool,
    name: bool,
    subject: bool,
    scoped_thread_key: bool,
    wallpaper: bool,
    message_count: bool,
    unread_count: bool,
    can_reply: bool,
    is_subscribed: bool,
    participants: bool,
    senders: bool,
    former_participants: bool,
}

impl Columns {
    /// `fields`: the requested UnifiedThread fields; `messages`: whether messages were requested.
    pub fn new(fields: &[String], messages: bool) -> Columns {
        let has = |name: &str| fields.iter().any(|f| f == name);
        Columns {
            wanted: Wanted {
                updated_time: has(col::UPDATED_TIME),
                link: has(col::LINK),
                snippet: has(col::SNIPPET),
                name: has(col::NAME),
                subject: has(col::SUBJECT),
                scoped_thread_key: has(col::SCOPED_THREAD_KEY),
                wallpaper: has(col::WALLPAPER),
                message_count: has(col::MESSAGE_COUNT),
                unread_count: has(col::UNREAD_COUNT),
                can_reply: has(col::CAN_REPLY),
                is_subscribed: has(col::IS_SUBSCRIBED),
                participants: has(col::PARTICIPANTS),
                senders: has(col::SENDERS),
                former_participants: has(col::FORMER_PARTICIPANTS),
            },
            messages,
        }
    }

    /// Whether the participant-list column `name` (`participants`, `senders`,
    /// `former_participants`) was asked for.
    pub(crate) fn list(&self, name: &str) -> bool {
        match name {
            col::PARTICIPANTS => self.wanted.participants,
            col::SENDERS => self.wanted.senders,
            col::FORMER_PARTICIPANTS => self.wanted.former_participants,
            _ => false,
        }
    }

    pub(crate) fn messages(&self) -> bool {
        self.messages
    }
}

/// The scalar fields of one thread, borrowed (from a response body or a [`Thread`]).
#[derive(Default)]
pub(crate) struct ScalarRow<'a> {
    pub id: Option<Cow<'a, str>>,
    pub updated_time: Option<DateTime<Utc>>,
    pub link: Option<Cow<'a, str>>,
    pub snippet: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub subject: Option<Cow<'a, str>>,
    pub scoped_thread_key: Option<Cow<'a, str>>,
    pub wallpaper: Option<Cow<'a, str>>,
    pub message_count: Option<i64>,
    pub unread_count: Option<i64>,
    pub can_reply: Option<bool>,
    pub is_subscribed: Option<bool>,
}

/// The builders of every column of the canonical batch.
pub(crate) struct ThreadColumns {
    page_id: StringBuilder,
    platform: StringBuilder,
    folder: StringBuilder,
    id: StringBuilder,
    updated: TimestampMillisecondBuilder,
    link: StringBuilder,
    snippet: StringBuilder,
    name: StringBuilder,
    subject: StringBuilder,
    scoped_thread_key: StringBuilder,
    wallpaper: StringBuilder,
    message_count: Int64Builder,
    unread_count: Int64Builder,
    can_reply: BooleanBuilder,
    is_subscribed: BooleanBuilder,
    pub participants: ParticipantLists,
    pub senders: ParticipantLists,
    pub former: ParticipantLists,
    pub messages: MessageLists,
    extra: StringBuilder,
    rows: usize,
}

impl ThreadColumns {
    /// Builders sized for about `rows` threads.
    pub fn with_capacity(rows: usize) -> ThreadColumns {
        let s = |bytes: usize| StringBuilder::with_capacity(rows, rows * bytes);
        ThreadColumns {
            page_id: s(16),
            platform: s(9),
            folder: s(6),
            id: s(24),
            updated: TimestampMillisecondBuilder::with_capacity(rows),
            link: s(0),
            snippet: s(32),
            name: s(0),
            subject: s(0),
            scoped_thread_key: s(0),
            wallpaper: s(0),
            message_count: Int64Builder::with_capacity(rows),
            unread_count: Int64Builder::with_capacity(rows),
            can_reply: BooleanBuilder::with_capacity(rows),
            is_subscribed: BooleanBuilder::with_capacity(rows),
            participants: ParticipantLists::default(),
            senders: ParticipantLists::default(),
            former: ParticipantLists::default(),
            messages: MessageLists::default(),
            extra: s(0),
            rows: 0,
        }
    }

    /// Appends the unit and scalar columns and `extra_json` of one row (the list columns are
    /// appended by their own builders). Columns the user did not ask for are null.
    pub fn append_scalars(
        &mut self,
        unit: (&str, Platform, Folder),
        row: &ScalarRow<'_>,
        extra_json: Option<&str>,
        columns: &Columns,
    ) {
        let w = columns.wanted;
        let text = |b: &mut StringBuilder, v: &Option<Cow<'_, str>>, wanted: bool| {
            b.append_option(v.as_deref().filter(|_| wanted));
        };
        let (page_id, platform, folder) = unit;
        self.page_id.append_value(page_id);
        self.platform.append_value(platform.as_str());
        self.folder.append_value(folder.as_str());
        self.id.append_option(row.id.as_deref());
        self.updated.append_option(
            row.updated_time
                .filter(|_| w.updated_time)
                .map(|t| t.timestamp_millis()),
        );
        text(&mut self.link, &row.link, w.link);
        text(&mut self.snippet, &row.snippet, w.snippet);
        text(&mut self.name, &row.name, w.name);
        text(&mut self.subject, &row.subject, w.subject);
        text(
            &mut self.scoped_thread_key,
            &row.scoped_thread_key,
            w.scoped_thread_key,
        );
        text(&mut self.wallpaper, &row.wallpaper, w.wallpaper);
        self.message_count
            .append_option(row.message_count.filter(|_| w.message_count));
        self.unread_count
            .append_option(row.unread_count.filter(|_| w.unread_count));
        self.can_reply
            .append_option(row.can_reply.filter(|_| w.can_reply));
        self.is_subscribed
            .append_option(row.is_subscribed.filter(|_| w.is_subscribed));
        self.extra.append_option(extra_json);
        self.rows += 1;
    }

    /// Appends one typed thread (every column).
    pub fn append_thread(&mut self, t: &Thread, columns: &Columns) {
        let b = borrowed;
        let row = ScalarRow {
            id: Some(Cow::Borrowed(&t.id)),
            updated_time: t.updated_time,
            link: b(&t.link),
            snippet: b(&t.snippet),
            name: b(&t.name),
            subject: b(&t.subject),
            scoped_thread_key: b(&t.scoped_thread_key),
            wallpaper: b(&t.wallpaper),
            message_count: t.message_count,
            unread_count: t.unread_count,
            can_reply: t.can_reply,
            is_subscribed: t.is_subscribed,
        };
        let w = columns.wanted;
        self.participants
            .append(wanted_list(&t.participants, w.participants));
        self.senders.append(wanted_list(&t.senders, w.senders));
        self.former
            .append(wanted_list(&t.former_participants, w.former_participants));
        self.messages
            .append(t.messages.as_deref().filter(|_| columns.messages));
        let unit = (t.page_id.as_str(), t.platform, t.folder);
        self.append_scalars(unit, &row, t.extra_json().as_deref(), columns);
    }

    /// The canonical batch, `extracted_at` set to `at` on every row.
    pub fn finish(mut self, extracted_at: DateTime<Utc>) -> Result<RecordBatch, ArrowError> {
        let n = self.rows;
        let extracted = TimestampMillisecondArray::from_value(extracted_at.timestamp_millis(), n)
            .with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.page_id.finish()),
            Arc::new(self.platform.finish()),
            Arc::new(self.folder.finish()),
            Arc::new(self.id.finish()),
            Arc::new(self.updated.finish().with_timezone("UTC")),
            Arc::new(self.link.finish()),
            Arc::new(self.snippet.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.subject.finish()),
            Arc::new(self.scoped_thread_key.finish()),
            Arc::new(self.wallpaper.finish()),
            Arc::new(self.message_count.finish()),
            Arc::new(self.unread_count.finish()),
            Arc::new(self.can_reply.finish()),
            Arc::new(self.is_subscribed.finish()),
            self.participants.finish()?,
            self.senders.finish()?,
            self.former.finish()?,
            self.messages.finish()?,
            Arc::new(self.extra.finish()),
            Arc::new(extracted),
        ];
        RecordBatch::try_new(conversations_schema(), columns)
    }
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn wanted_list(list: &Option<Vec<Participant>>, wanted: bool) -> Option<&[Participant]> {
    list.as_deref().filter(|_| wanted)
}

/// Validity of list rows plus their offsets (and the first overflow, reported at `finish`).
#[derive(Default)]
pub(crate) struct Offsets {
    offsets: Vec<i32>,
    valid: Vec<bool>,
    error: Option<ArrowError>,
}

impl Offsets {
    /// Ends a list row of `len` items (`valid == false`: a null list, `len` is 0).
    pub fn end_row(&mut self, len: usize, valid: bool) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        match i32::try_from(len).ok().and_then(|l| last.checked_add(l)) {
            Some(next) => {
                self.offsets.push(next);
                self.valid.push(valid);
            }
            None => {
                self.error
                    .get_or_insert(ArrowError::ComputeError("list offsets overflow".into()));
            }
        }
    }

    /// The list array of `values` (items of type `item`) with these offsets.
    fn finish(mut self, item: DataType, values: ArrayRef) -> Result<ArrayRef, ArrowError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(item, true)),
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            values,
            nulls(self.valid),
        )?))
    }
}

/// A null buffer, or none when every entry is valid (what readers expect of a column without
/// nulls).
fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
    valid.iter().any(|v| !v).then(|| NullBuffer::from(valid))
}

/// One participant's fields, borrowed.
#[derive(Default)]
pub(crate) struct ParticipantRow<'a> {
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub email: Option<Cow<'a, str>>,
    pub username: Option<Cow<'a, str>>,
}

impl<'a> From<&'a Participant> for ParticipantRow<'a> {
    fn from(p: &'a Participant) -> Self {
        let b = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        ParticipantRow {
            id: b(&p.id),
            name: b(&p.name),
            email: b(&p.email),
            username: b(&p.username),
        }
    }
}

/// Flat participant structs (id, name, email, username).
#[derive(Default)]
pub(crate) struct ParticipantStructs {
    id: StringBuilder,
    name: StringBuilder,
    email: StringBuilder,
    username: StringBuilder,
    valid: Vec<bool>,
}

impl ParticipantStructs {
    /// Appends one participant (`None`: a null struct).
    pub fn append(&mut self, p: Option<&ParticipantRow<'_>>) {
        self.id.append_option(p.and_then(|p| p.id.as_deref()));
        self.name.append_option(p.and_then(|p| p.name.as_deref()));
        self.email.append_option(p.and_then(|p| p.email.as_deref()));
        self.username
            .append_option(p.and_then(|p| p.username.as_deref()));
        self.valid.push(p.is_some());
    }

    fn finish(mut self) -> Result<StructArray, ArrowError> {
        StructArray::try_new(
            participant_fields(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.name.finish()),
                Arc::new(self.email.finish()),
                Arc::new(self.username.finish()),
            ],
            nulls(self.valid),
        )
    }
}

/// `List<Struct<participant>>`.
#[derive(Default)]
pub(crate) struct ParticipantLists {
    pub offsets: Offsets,
    pub items: ParticipantStructs,
}

impl ParticipantLists {
    /// Appends one typed list (`None`: a null list).
    pub fn append(&mut self, list: Option<&[Participant]>) {
        for p in list.unwrap_or_default() {
            self.items.append(Some(&ParticipantRow::from(p)));
        }
        self.end_row(list.map_or(0, <[Participant]>::len), list.is_some());
    }

    /// Ends a row whose `len` items were appended to `items`.
    pub fn end_row(&mut self, len: usize, valid: bool) {
        self.offsets.end_row(len, valid);
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        let values = Arc::new(self.items.finish()?);
        self.offsets.finish(participant_type(), values)
    }
}

/// The scalar fields of one message, borrowed (`from`, `to` and `tags` are appended to their
/// builders as they are read).
#[derive(Default)]
pub(crate) struct MessageRow<'a> {
    pub id: Option<Cow<'a, str>>,
    pub created_time: Option<DateTime<Utc>>,
    pub message: Option<Cow<'a, str>>,
    pub sticker: Option<Cow<'a, str>>,
    pub attachments: Option<&'a str>,
}

/// The items of `List<Struct<message>>`, one builder per field.
#[derive(Default)]
pub(crate) struct MessageStructs {
    id: StringBuilder,
    created: TimestampMillisecondBuilder,
    pub from: ParticipantStructs,
    pub to: ParticipantLists,
    text: StringBuilder,
    sticker: StringBuilder,
    pub tags: ListBuilder<StringBuilder>,
    attachments: StringBuilder,
}

impl MessageStructs {
    /// Appends the scalar fields of one message whose `from`, `to` and `tags` were appended.
    pub fn append_scalars(&mut self, m: &MessageRow<'_>) {
        self.id.append_option(m.id.as_deref());
        self.created
            .append_option(m.created_time.map(|t| t.timestamp_millis()));
        self.text.append_option(m.message.as_deref());
        self.sticker.append_option(m.sticker.as_deref());
        self.attachments.append_option(m.attachments);
    }

    /// Appends one typed message.
    pub fn append(&mut self, m: &Message) {
        self.from
            .append(m.from.as_ref().map(ParticipantRow::from).as_ref());
        self.to.append(m.to.as_deref());
        match &m.tags {
            Some(tags) => {
                for t in tags {
                    self.tags.values().append_value(t);
                }
                self.tags.append(true);
            }
            None => self.tags.append(false),
        }
        let b = borrowed;
        self.append_scalars(&MessageRow {
            id: b(&m.id),
            created_time: m.created_time,
            message: b(&m.message),
            sticker: b(&m.sticker),
            attachments: m.attachments.as_ref().map(|a| a.get()),
        });
    }

    fn finish(mut self) -> Result<StructArray, ArrowError> {
        let created = self.created.with_timezone("UTC").finish();
        StructArray::try_new(
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
        )
    }
}

/// `List<Struct<message>>`.
#[derive(Default)]
pub(crate) struct MessageLists {
    pub offsets: Offsets,
    pub items: MessageStructs,
}

impl MessageLists {
    /// Appends one typed list (`None`: a null list).
    pub fn append(&mut self, list: Option<&[Message]>) {
        for m in list.unwrap_or_default() {
            self.items.append(m);
        }
        self.end_row(list.map_or(0, <[Message]>::len), list.is_some());
    }

    /// Ends a row whose `len` items were appended to `items`.
    pub fn end_row(&mut self, len: usize, valid: bool) {
        self.offsets.end_row(len, valid);
    }

    /// The items alone (extra messages to splice into a finished column).
    pub fn finish_items(self) -> Result<StructArray, ArrowError> {
        self.items.finish()
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        let values = Arc::new(self.items.finish()?);
        self.offsets
            .finish(DataType::Struct(message_fields()), values)
    }
}
