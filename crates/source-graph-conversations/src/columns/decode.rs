//! A Graph list page (`{"data":[threads],"paging":{...}}`) decoded straight into
//! [`ThreadColumns`]: serde visitors that append each value to its column as it is read.
//!
//! Strings are borrowed from the body ([`Text`]: serde's own `Cow<str>` always allocates) and
//! copied once, into the column; a value with escapes is unescaped into a fresh string, as it
//! must be. Unknown thread keys keep their raw JSON ([`RawText`]) and become `extra_json`
//! byte-exact, like the typed decoder. What the canonical schema has no column for (a
//! participant's or message's unknown keys) is skipped without being built.
//!
//! The visitors are generic over the JSON parser. Pages are read with sonic-rs (SIMD string
//! scanning and unescaping: 1.5x serde_json on the S4 pages, same visitor, BENCHMARKS.md);
//! serde_json runs the same visitors in the tests as the reference. simd-json was measured too
//! and left out: it unescapes in place and has no raw values, so unknown fields could not stay
//! byte-exact.
//!
//! Semantics follow the typed path (client `Thread` + `threads_to_batch`) exactly; the
//! `columns` module's tests decode the same bodies all three ways and compare the batches.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use arrow::array::StringBuilder;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use super::{
    Columns, MessageLists, MessageRow, MessageStructs, ParticipantRow, ParticipantStructs,
    ScalarRow, ThreadColumns,
};
use crate::client::UnitKey;
use crate::client::model::{GraphTime, Paging, extra_json_into};

/// One list page as a canonical batch, plus what the walk needs to know of each row.
#[derive(Debug)]
pub struct DecodedPage {
    /// The threads, in the order Graph listed them (`extracted_at` = when decoded).
    pub batch: RecordBatch,
    /// `paging.next` of the page.
    pub next: Option<String>,
    /// Each row's `updated_time` (also when the column itself was not requested).
    pub(crate) times: Vec<Option<DateTime<Utc>>>,
    /// Each row's nested `messages.paging.next`, when it has fewer messages than wanted.
    pub(crate) more: Vec<Option<String>>,
}

/// Decodes one list page of `unit`. `columns`: the columns to fill (the rest are null);
/// `messages_max`: messages are read, at most this many per thread (a thread with fewer and a
/// nested `next` is noted in `more`); `None`: messages are not read (the column is null), as
/// in the client's walk.
pub fn decode_list_page(
    body: &[u8],
    unit: &UnitKey,
    columns: &Columns,
    messages_max: Option<usize>,
) -> Result<DecodedPage, sonic_rs::Error> {
    let mut de = sonic_rs::Deserializer::from_slice(body);
    let (state, next) = decode::<_, sonic_rs::LazyValue<'_>>(&mut de, unit, columns, messages_max)?;
    de.end()?;
    state.finish(next).map_err(sonic_rs::Error::custom)
}

/// [`decode_list_page`] with serde_json instead of sonic-rs, the same visitors: the reference
/// the tests compare against, and the other side of the parser benchmark
/// (`cargo bench -p source-graph-conversations -- decode`).
#[doc(hidden)]
pub fn decode_list_page_serde_json(
    body: &[u8],
    unit: &UnitKey,
    columns: &Columns,
    messages_max: Option<usize>,
) -> Result<DecodedPage, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let (state, next) = decode::<_, &RawValue>(&mut de, unit, columns, messages_max)?;
    de.end()?;
    state.finish(next).map_err(serde_json::Error::custom)
}

/// Runs the page visitor over any JSON deserializer; `R` keeps raw values.
fn decode<'de, 'c, D, R>(
    de: D,
    unit: &'c UnitKey,
    columns: &'c Columns,
    messages_max: Option<usize>,
) -> Result<(State<'de, 'c, R>, Option<String>), D::Error>
where
    D: Deserializer<'de>,
    R: RawText<'de>,
{
    let mut state = State {
        cols: ThreadColumns::with_capacity(0),
        unit,
        columns,
        messages_max: messages_max.filter(|_| columns.messages()),
        times: Vec::new(),
        more: Vec::new(),
        extra: Vec::new(),
        extra_json: String::new(),
    };
    let next = PageSeed(&mut state).deserialize(de)?;
    Ok((state, next))
}

/// A JSON value kept as its raw text, borrowed from the body where the parser can.
pub(crate) trait RawText<'de>: Deserialize<'de> {
    /// The value's JSON text, byte-exact.
    fn text(&self) -> &str;
}

impl<'de> RawText<'de> for &'de RawValue {
    fn text(&self) -> &str {
        self.get()
    }
}

impl<'de> RawText<'de> for sonic_rs::LazyValue<'de> {
    fn text(&self) -> &str {
        self.as_raw_str()
    }
}

impl<R> State<'_, '_, R> {
    fn finish(self, next: Option<String>) -> Result<DecodedPage, arrow::error::ArrowError> {
        Ok(DecodedPage {
            batch: self.cols.finish(Utc::now())?,
            next,
            times: self.times,
            more: self.more,
        })
    }
}

struct State<'de, 'c, R> {
    cols: ThreadColumns,
    unit: &'c UnitKey,
    columns: &'c Columns,
    /// Messages kept per thread; `None`: the column is null.
    messages_max: Option<usize>,
    times: Vec<Option<DateTime<Utc>>>,
    more: Vec<Option<String>>,
    /// The current thread's unknown keys (reused from row to row).
    extra: Vec<(Cow<'de, str>, R)>,
    /// The current thread's `extra_json` (reused from row to row).
    extra_json: String,
}

/// A string, borrowed from the body unless it had escapes.
pub(crate) struct Text<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An optional string value (`null` is absent).
fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(map.next_value::<Option<Text<'de>>>()?.map(|t| t.0))
}

/// The next key, borrowed.
fn key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(map.next_key::<Text<'de>>()?.map(|t| t.0))
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// Sets a list slot once: a key given twice in one object would append its items twice.
fn once<E: de::Error, T>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format_args!("duplicate key `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// The envelope: `data` into the columns, `paging.next` returned.
struct PageSeed<'s, 'de, 'c, R>(&'s mut State<'de, 'c, R>);

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for PageSeed<'_, 'de, '_, R> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for PageSeed<'_, 'de, '_, R> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list page {\"data\": [...], \"paging\": {...}}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut next = None;
        while let Some(k) = key(&mut map)? {
            match k.as_ref() {
                "data" => map.next_value_seed(ThreadsSeed(&mut *self.0))?,
                "paging" => next = map.next_value::<Option<Paging>>()?.and_then(|p| p.next),
                _ => skip(&mut map)?,
            }
        }
        Ok(next)
    }
}

struct ThreadsSeed<'s, 'de, 'c, R>(&'s mut State<'de, 'c, R>);

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for ThreadsSeed<'_, 'de, '_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for ThreadsSeed<'_, 'de, '_, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversations")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(ThreadSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One thread: scalars collected, lists appended as read, the row ended at `}`.
struct ThreadSeed<'s, 'de, 'c, R>(&'s mut State<'de, 'c, R>);

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for ThreadSeed<'_, 'de, '_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for ThreadSeed<'_, 'de, '_, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversation (UnifiedThread) object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.0;
        let mut row = ScalarRow::default();
        let mut participants = None;
        let mut senders = None;
        let mut former = None;
        let mut messages = None;
        st.extra.clear();
        while let Some(k) = key(&mut map)? {
            match k.as_ref() {
                "id" => row.id = text(&mut map)?,
                "updated_time" => {
                    row.updated_time = map.next_value::<Option<GraphTime>>()?.and_then(|t| t.0)
                }
                "link" => row.link = text(&mut map)?,
                "snippet" => row.snippet = text(&mut map)?,
                "name" => row.name = text(&mut map)?,
                "subject" => row.subject = text(&mut map)?,
                "scoped_thread_key" => row.scoped_thread_key = text(&mut map)?,
                "wallpaper" => row.wallpaper = text(&mut map)?,
                "message_count" => row.message_count = map.next_value()?,
                "unread_count" => row.unread_count = map.next_value()?,
                "can_reply" => row.can_reply = map.next_value()?,
                "is_subscribed" => row.is_subscribed = map.next_value()?,
                name @ ("participants" | "senders" | "former_participants") => {
                    let (slot, items) = match name {
                        "participants" => (&mut participants, &mut st.cols.participants.items),
                        "senders" => (&mut senders, &mut st.cols.senders.items),
                        _ => (&mut former, &mut st.cols.former.items),
                    };
                    if st.columns.list(name) {
                        let n = map.next_value_seed(ParticipantListSeed(items))?;
                        once(slot, n, name)?;
                    } else {
                        skip(&mut map)?;
                    }
                }
                "messages" if st.messages_max.is_some() => {
                    let seed = MessagesSeed::<R> {
                        lists: &mut st.cols.messages,
                        max: st.messages_max.unwrap_or_default(),
                        raw: PhantomData,
                    };
                    let m = map.next_value_seed(seed)?;
                    once(&mut messages, m, "messages")?;
                }
                "messages" => skip(&mut map)?,
                _ => {
                    let raw = map.next_value::<R>()?;
                    st.extra.push((k, raw));
                }
            }
        }
        if row.id.is_none() {
            return Err(A::Error::custom("a conversation without `id`"));
        }
        let list = |n: Option<Option<usize>>| match n.flatten() {
            Some(n) => (n, true),
            None => (0, false),
        };
        let (n, valid) = list(participants);
        st.cols.participants.end_row(n, valid);
        let (n, valid) = list(senders);
        st.cols.senders.end_row(n, valid);
        let (n, valid) = list(former);
        st.cols.former.end_row(n, valid);
        // As the walk does: a thread without messages has an empty list.
        let mut more = None;
        match (messages.flatten(), st.messages_max) {
            (Some((n, next)), Some(max)) => {
                st.cols.messages.end_row(n, true);
                more = next.filter(|_| n < max);
            }
            (None, Some(_)) => st.cols.messages.end_row(0, true),
            (_, None) => st.cols.messages.end_row(0, false),
        }
        let extra = if st.extra.is_empty() {
            None
        } else {
            extra_json_into(
                st.extra.iter().map(|(k, v)| (k.as_ref(), v.text())),
                &mut st.extra_json,
            );
            Some(st.extra_json.as_str())
        };
        st.times.push(row.updated_time);
        st.more.push(more);
        let unit = (st.unit.page_id.as_str(), st.unit.platform, st.unit.folder);
        st.cols.append_scalars(unit, &row, extra, st.columns);
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ParticipantRow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ParticipantRow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a participant object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut p = ParticipantRow::default();
                while let Some(k) = key(&mut map)? {
                    match k.as_ref() {
                        "id" => p.id = text(&mut map)?,
                        "name" => p.name = text(&mut map)?,
                        "email" => p.email = text(&mut map)?,
                        "username" => p.username = text(&mut map)?,
                        // No column for a participant's other keys.
                        _ => skip(&mut map)?,
                    }
                }
                Ok(p)
            }
        }
        d.deserialize_map(V)
    }
}

/// A participant list, `{"data": [...]}` or a bare array, appended to `items`. Returns how
/// many, or `None` for `null`.
struct ParticipantListSeed<'s>(&'s mut ParticipantStructs);

impl<'de> DeserializeSeed<'de> for ParticipantListSeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParticipantListSeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\"data\": [participants]} or [participants]")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<usize>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
        let mut n = 0;
        while let Some(p) = seq.next_element::<ParticipantRow<'de>>()? {
            self.0.append(Some(&p));
            n += 1;
        }
        Ok(Some(n))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<usize>, A::Error> {
        let mut n = 0;
        while let Some(k) = key(&mut map)? {
            if k == "data" {
                // `"data": null` is an empty list, as in the typed decoder.
                n += map
                    .next_value_seed(ParticipantListSeed(&mut *self.0))?
                    .unwrap_or(0);
            } else {
                // `paging`/`summary` of a participant list carry nothing we keep.
                skip(&mut map)?;
            }
        }
        Ok(Some(n))
    }
}

/// A thread's `messages` edge: items appended (at most `max`), returns how many and the
/// nested `paging.next`; `None` for `null`.
struct MessagesSeed<'s, R> {
    lists: &'s mut MessageLists,
    max: usize,
    raw: PhantomData<R>,
}

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for MessagesSeed<'_, R> {
    type Value = Option<(usize, Option<String>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for MessagesSeed<'_, R> {
    type Value = Option<(usize, Option<String>)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a messages edge {\"data\": [...]}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut n = 0;
        let mut next = None;
        while let Some(k) = key(&mut map)? {
            match k.as_ref() {
                "data" => {
                    let seed = MessageItemsSeed::<R> {
                        items: &mut self.lists.items,
                        room: self.max.saturating_sub(n),
                        raw: PhantomData,
                    };
                    n += map.next_value_seed(seed)?;
                }
                "paging" => next = map.next_value::<Option<Paging>>()?.and_then(|p| p.next),
                _ => skip(&mut map)?,
            }
        }
        Ok(Some((n, next)))
    }
}

/// Messages appended while there is `room`; the rest read and dropped (as the walk truncates
/// to the limit).
struct MessageItemsSeed<'s, R> {
    items: &'s mut MessageStructs,
    room: usize,
    raw: PhantomData<R>,
}

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for MessageItemsSeed<'_, R> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for MessageItemsSeed<'_, R> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while n < self.room {
            if seq
                .next_element_seed(MessageSeed::<R>(&mut *self.items, PhantomData))?
                .is_none()
            {
                return Ok(n);
            }
            n += 1;
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(n)
    }
}

/// One message: `from`, `to` and `tags` appended as read, the scalars at `}`.
struct MessageSeed<'s, R>(&'s mut MessageStructs, PhantomData<R>);

impl<'de, R: RawText<'de>> DeserializeSeed<'de> for MessageSeed<'_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: RawText<'de>> Visitor<'de> for MessageSeed<'_, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let items = self.0;
        let mut row = MessageRow::default();
        let mut from = None;
        let mut to = None;
        let mut tags = None;
        let mut attachments: Option<R> = None;
        while let Some(k) = key(&mut map)? {
            match k.as_ref() {
                "id" => row.id = text(&mut map)?,
                "created_time" => {
                    row.created_time = map.next_value::<Option<GraphTime>>()?.and_then(|t| t.0)
                }
                "from" => from = map.next_value::<Option<ParticipantRow<'de>>>()?,
                "to" => {
                    let n = map.next_value_seed(ParticipantListSeed(&mut items.to.items))?;
                    once(&mut to, n, "to")?;
                }
                "message" => row.message = text(&mut map)?,
                "sticker" => row.sticker = text(&mut map)?,
                "tags" => {
                    let t = map.next_value_seed(TagsSeed(items.tags.values()))?;
                    once(&mut tags, t, "tags")?;
                }
                "attachments" => attachments = Some(map.next_value::<R>()?),
                // No column for a message's other keys.
                _ => skip(&mut map)?,
            }
        }
        items.from.append(from.as_ref());
        match to.flatten() {
            Some(n) => items.to.end_row(n, true),
            None => items.to.end_row(0, false),
        }
        items.tags.append(tags.flatten().is_some());
        row.attachments = attachments.as_ref().map(RawText::text);
        items.append_scalars(&row);
        Ok(())
    }
}

/// `tags`: `{"data":[{"name":"inbox"}]}`, names appended; `None` for `null`.
struct TagsSeed<'s>(&'s mut StringBuilder);

impl<'de> DeserializeSeed<'de> for TagsSeed<'_> {
    type Value = Option<()>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<()>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_> {
    type Value = Option<()>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tags edge {\"data\": [{\"name\": ...}]}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<()>, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<()>, A::Error> {
        while let Some(k) = key(&mut map)? {
            if k == "data" {
                for tag in map.next_value::<Vec<Tag<'de>>>()? {
                    if let Some(name) = tag.0 {
                        self.0.append_value(name);
                    }
                }
            } else {
                skip(&mut map)?;
            }
        }
        Ok(Some(()))
    }
}

/// `{"name": ...}` of a tag (other keys ignored).
struct Tag<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Tag<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tag<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tag<'de>, A::Error> {
                let mut name = None;
                while let Some(k) = key(&mut map)? {
                    if k == "name" {
                        name = text(&mut map)?;
                    } else {
                        skip(&mut map)?;
                    }
                }
                Ok(Tag(name))
            }
        }
        d.deserialize_map(V)
    }
}
