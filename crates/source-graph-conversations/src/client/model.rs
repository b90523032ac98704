//! The typed Graph model: [`Thread`] (a UnifiedThread node plus where it was read from),
//! [`Message`], [`Participant`], and the (page, platform, folder) [`UnitKey`].
//!
//! Every node field is optional (Graph omits zero and null values, e.g. `unread_count`), and
//! every key the model does not know is kept verbatim as raw JSON in `extra` — the decoder is a
//! hand-written map visitor rather than `#[serde(flatten)]`, because flatten buffers the whole
//! object and cannot hold [`RawValue`]s, and we want unknown values byte-exact and decoding fast.
//!
//! `id` is the one exception: Graph always returns it, and dedupe and the canonical schema need
//! it, so a thread without `id` is a decode error.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A messaging platform (`platform=` on the conversations edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// Facebook Messenger.
    Messenger,
    /// Instagram Direct (through the linked Facebook Page).
    Instagram,
}

impl Platform {
    /// Both platforms, in the order units are scheduled.
    pub const ALL: [Platform; 2] = [Platform::Messenger, Platform::Instagram];

    /// Lowercase name, as sent in `platform=` and written in the `platform` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inbox folder (`folder=` on the conversations edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Folder {
    /// The main inbox.
    Inbox,
    /// "Other" (message requests and filtered threads).
    Other,
    /// Threads marked done.
    PageDone,
    /// Spam.
    Spam,
}

impl Folder {
    /// All four folders.
    pub const ALL: [Folder; 4] = [Folder::Inbox, Folder::Other, Folder::PageDone, Folder::Spam];

    /// The name Graph uses, also written in the `folder` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Inbox => "inbox",
            Folder::Other => "other",
            Folder::PageDone => "page_done",
            Folder::Spam => "spam",
        }
    }

    /// Parses a folder name.
    pub fn parse(s: &str) -> Option<Folder> {
        Folder::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One work unit: the listing of one folder of one platform of one Page. Pagination inside a
/// unit is sequential; units run concurrently. Watermarks are kept per unit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitKey {
    /// The Page (or Instagram account) id.
    pub page_id: String,
    /// The platform queried.
    pub platform: Platform,
    /// The folder queried.
    pub folder: Folder,
}

impl fmt::Display for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "page {} ({}, folder {})",
            self.page_id, self.platform, self.folder
        )
    }
}

/// Keys Graph returned that the model does not know, each with its raw JSON value (byte-exact,
/// in the order received).
pub type ExtraFields = Vec<(String, Box<RawValue>)>;

/// A person or Page in a thread. Messenger fills `name`/`email`, Instagram `username`.
#[derive(Clone, Debug, Default)]
pub struct Participant {
    /// Page-scoped or Instagram-scoped id.
    pub id: Option<String>,
    /// Display name (Messenger).
    pub name: Option<String>,
    /// Proxy e-mail `<id>@facebook.com` (Messenger).
    pub email: Option<String>,
    /// Username (Instagram).
    pub username: Option<String>,
    /// Unknown keys, verbatim.
    pub extra: ExtraFields,
}

/// One message of a thread (only the newest 20 have details:
/// <https://developers.facebook.com/docs/graph-api/reference/page/conversations/>).
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// Message id.
    pub id: Option<String>,
    /// When it was sent.
    pub created_time: Option<DateTime<Utc>>,
    /// Sender.
    pub from: Option<Participant>,
    /// Recipients.
    pub to: Option<Vec<Participant>>,
    /// Text (may be empty for attachment-only messages).
    pub message: Option<String>,
    /// Sticker URL.
    pub sticker: Option<String>,
    /// Tag names (`inbox`, `source:mobile`, ...).
    pub tags: Option<Vec<String>>,
    /// The `attachments` edge as Graph returned it (raw JSON).
    pub attachments: Option<Box<RawValue>>,
    /// Unknown keys, verbatim.
    pub extra: ExtraFields,
}

/// A conversation: the UnifiedThread node plus where it was read from.
#[derive(Clone, Debug)]
pub struct Thread {
    /// The Page (or Instagram account) it was read from.
    pub page_id: String,
    /// The platform queried.
    pub platform: Platform,
    /// The folder queried.
    pub folder: Folder,
    /// Conversation id (`t_...` on Messenger, opaque on Instagram).
    pub id: String,
    /// Last activity.
    pub updated_time: Option<DateTime<Utc>>,
    /// Relative inbox link.
    pub link: Option<String>,
    /// Snippet of the newest message.
    pub snippet: Option<String>,
    /// Thread name.
    pub name: Option<String>,
    /// Subject (API versions before v23).
    pub subject: Option<String>,
    /// Scoped thread key.
    pub scoped_thread_key: Option<String>,
    /// Wallpaper.
    pub wallpaper: Option<String>,
    /// Estimated number of messages.
    pub message_count: Option<i64>,
    /// Estimated number of unread messages (omitted by Graph when 0).
    pub unread_count: Option<i64>,
    /// Whether the Page can reply.
    pub can_reply: Option<bool>,
    /// Whether the Page is subscribed.
    pub is_subscribed: Option<bool>,
    /// Current participants.
    pub participants: Option<Vec<Participant>>,
    /// Senders.
    pub senders: Option<Vec<Participant>>,
    /// Former participants.
    pub former_participants: Option<Vec<Participant>>,
    /// The newest messages, newest first, when requested (nested pages already followed).
    pub messages: Option<Vec<Message>>,
    /// Unknown keys, verbatim (they become `extra_json`).
    pub extra: ExtraFields,
}

impl Thread {
    /// The unknown keys as one JSON object (`{"key":<raw value>,...}`), or `None` if there were
    /// none. Values are copied byte-exact from the response.
    pub fn extra_json(&self) -> Option<String> {
        extra_json(&self.extra)
    }

    /// The unit this thread was read from.
    pub fn unit(&self) -> UnitKey {
        UnitKey {
            page_id: self.page_id.clone(),
            platform: self.platform,
            folder: self.folder,
        }
    }
}

/// Renders unknown keys as one JSON object string.
pub(crate) fn extra_json(extra: &ExtraFields) -> Option<String> {
    if extra.is_empty() {
        return None;
    }
    let mut out = String::new();
    extra_json_into(extra.iter().map(|(k, v)| (k.as_str(), v.get())), &mut out);
    Some(out)
}

/// Writes `{"key":<raw value>,...}` into `out` (cleared first): keys re-escaped, values as
/// they came.
pub(crate) fn extra_json_into<'a>(
    extra: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    out: &mut String,
) {
    out.clear();
    out.reserve(
        2 + extra
            .clone()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, (key, value)) in extra.enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Keys came out of a JSON string; re-escaping cannot fail.
        out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| "\"\"".into()));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
}

/// Parses Graph's time format `2026-11-20T09:28:50+0000` (no colon in the offset). RFC 3339
/// (`Z`, `+00:00`) and Unix seconds (the `date_format=U` variant) are accepted too.
pub fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_graph_format(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    s.parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// Graph's own `YYYY-MM-DDTHH:MM:SS±HHMM`, read by hand: chrono's `parse_from_str` interprets
/// its format string on every call, and a thread carries 21 timestamps (it was ~6% of a
/// profile of the whole run). Anything else falls through to chrono.
fn parse_graph_format(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let local = chrono::NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?.and_hms_opt(
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    )?;
    let sign = match b[19] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(20, 22)?, num(22, 24)?);
    if oh > 23 || om > 59 {
        return None;
    }
    let offset = sign * i64::from(oh * 3600 + om * 60);
    Some(local.and_utc() - chrono::TimeDelta::seconds(offset))
}

/// A time value: a Graph time string, or Unix seconds.
pub(crate) struct GraphTime(pub Option<DateTime<Utc>>);

impl<'de> Deserialize<'de> for GraphTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GraphTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Graph time like 2026-11-20T09:28:50+0000")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GraphTime, E> {
                parse_graph_time(s)
                    .map(|t| GraphTime(Some(t)))
                    .ok_or_else(|| E::custom(format_args!("invalid Graph time `{s}`")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GraphTime, E> {
                Ok(GraphTime(DateTime::from_timestamp(v, 0)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GraphTime, E> {
                Ok(GraphTime(
                    i64::try_from(v)
                        .ok()
                        .and_then(|v| DateTime::from_timestamp(v, 0)),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<GraphTime, E> {
                Ok(GraphTime(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `paging` of an edge. Only `next` matters: cursors are never used to rebuild URLs.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub next: Option<String>,
}

/// `{ "data": [...], "paging": {...} }`, the envelope of every edge.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub(crate) struct Edge<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl<T> Edge<T> {
    pub fn next(&self) -> Option<&str> {
        self.paging.as_ref().and_then(|p| p.next.as_deref())
    }
}

/// A thread as decoded from one list page, before provenance is attached.
#[derive(Debug, Default)]
pub(crate) struct ThreadNode {
    pub id: Option<String>,
    pub updated_time: Option<DateTime<Utc>>,
    pub link: Option<String>,
    pub snippet: Option<String>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub scoped_thread_key: Option<String>,
    pub wallpaper: Option<String>,
    pub message_count: Option<i64>,
    pub unread_count: Option<i64>,
    pub can_reply: Option<bool>,
    pub is_subscribed: Option<bool>,
    pub participants: Option<Vec<Participant>>,
    pub senders: Option<Vec<Participant>>,
    pub former_participants: Option<Vec<Participant>>,
    pub messages: Option<Edge<Message>>,
    pub extra: ExtraFields,
}

impl ThreadNode {
    /// Attaches provenance. `messages` are set by the caller after nested paging.
    pub fn into_thread(self, unit: &UnitKey, id: String) -> (Thread, Option<Edge<Message>>) {
        (
            Thread {
                page_id: unit.page_id.clone(),
                platform: unit.platform,
                folder: unit.folder,
                id,
                updated_time: self.updated_time,
                link: self.link,
                snippet: self.snippet,
                name: self.name,
                subject: self.subject,
                scoped_thread_key: self.scoped_thread_key,
                wallpaper: self.wallpaper,
                message_count: self.message_count,
                unread_count: self.unread_count,
                can_reply: self.can_reply,
                is_subscribed: self.is_subscribed,
                participants: self.participants,
                senders: self.senders,
                former_participants: self.former_participants,
                messages: None,
                extra: self.extra,
            },
            self.messages,
        )
    }
}

/// Participants come as `{"data":[...]}` (lists) — a bare array is accepted too.
struct ParticipantList(Vec<Participant>);

impl<'de> Deserialize<'de> for ParticipantList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Hand-written rather than `#[serde(untagged)]`: untagged buffers its input, and
        // buffered input cannot produce the `RawValue`s that keep unknown keys.
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ParticipantList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{\"data\": [participants]} or [participants]")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ParticipantList, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element()? {
                    out.push(p);
                }
                Ok(ParticipantList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParticipantList, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "data" {
                        out = map
                            .next_value::<Option<Vec<Participant>>>()?
                            .unwrap_or_default();
                    } else {
                        // `paging`/`summary` of a participant list carry nothing we keep.
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                Ok(ParticipantList(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Tag {
    #[serde(default)]
    name: Option<String>,
}

/// `tags` come as `{"data":[{"name":"inbox"}]}`.
struct TagList(Vec<String>);

impl<'de> Deserialize<'de> for TagList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let edge = Edge::<Tag>::deserialize(d)?;
        Ok(TagList(
            edge.data.into_iter().filter_map(|t| t.name).collect(),
        ))
    }
}

/// Reads an optional value where JSON `null` means absent.
fn opt<'de, A: MapAccess<'de>, T: Deserialize<'de>>(map: &mut A) -> Result<Option<T>, A::Error> {
    map.next_value::<Option<T>>()
}

impl<'de> Deserialize<'de> for Participant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Participant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a participant object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Participant, A::Error> {
                let mut p = Participant::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "id" => p.id = opt(&mut map)?,
                        "name" => p.name = opt(&mut map)?,
                        "email" => p.email = opt(&mut map)?,
                        "username" => p.username = opt(&mut map)?,
                        _ => p.extra.push((key.into_owned(), map.next_value()?)),
                    }
                }
                Ok(p)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Message;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
                let mut m = Message::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "id" => m.id = opt(&mut map)?,
                        "created_time" => {
                            m.created_time =
                                map.next_value::<Option<GraphTime>>()?.and_then(|t| t.0)
                        }
                        "from" => m.from = opt(&mut map)?,
                        "to" => m.to = opt::<_, ParticipantList>(&mut map)?.map(|l| l.0),
                        "message" => m.message = opt(&mut map)?,
                        "sticker" => m.sticker = opt(&mut map)?,
                        "tags" => m.tags = opt::<_, TagList>(&mut map)?.map(|l| l.0),
                        "attachments" => m.attachments = Some(map.next_value()?),
                        _ => m.extra.push((key.into_owned(), map.next_value()?)),
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for ThreadNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ThreadNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a conversation (UnifiedThread) object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ThreadNode, A::Error> {
                let mut t = ThreadNode::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "id" => t.id = opt(&mut map)?,
                        "updated_time" => {
                            t.updated_time =
                                map.next_value::<Option<GraphTime>>()?.and_then(|t| t.0)
                        }
                        "link" => t.link = opt(&mut map)?,
                        "snippet" => t.snippet = opt(&mut map)?,
                        "name" => t.name = opt(&mut map)?,
                        "subject" => t.subject = opt(&mut map)?,
                        "scoped_thread_key" => t.scoped_thread_key = opt(&mut map)?,
                        "wallpaper" => t.wallpaper = opt(&mut map)?,
                        "message_count" => t.message_count = opt(&mut map)?,
                        "unread_count" => t.unread_count = opt(&mut map)?,
                        "can_reply" => t.can_reply = opt(&mut map)?,
                        "is_subscribed" => t.is_subscribed = opt(&mut map)?,
                        "participants" => {
                            t.participants = opt::<_, ParticipantList>(&mut map)?.map(|l| l.0)
                        }
                        "senders" => t.senders = opt::<_, ParticipantList>(&mut map)?.map(|l| l.0),
                        "former_participants" => {
                            t.former_participants =
                                opt::<_, ParticipantList>(&mut map)?.map(|l| l.0)
                        }
                        "messages" => t.messages = opt(&mut map)?,
                        _ => t.extra.push((key.into_owned(), map.next_value()?)),
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_plus_0000_offsets() {
        let t = parse_graph_time("2021-07-23T09:28:50+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-07-23T09:28:50+00:00");
        let t = parse_graph_time("2021-07-23T11:28:50+0200").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-07-23T09:28:50+00:00");
        assert_eq!(
            parse_graph_time("2021-07-23T09:28:50Z"),
            parse_graph_time("1627032530")
        );
        assert!(parse_graph_time("yesterday").is_none());
    }

    #[test]
    fn the_hand_parser_agrees_with_chrono() {
        for s in [
            "2021-07-23T09:28:50+0000",
            "2021-07-23T11:28:50+0200",
            "2021-07-23T04:58:50-0430",
            "2024-02-29T23:59:59+0000",
            "2026-01-01T00:00:00-2359",
            "1970-01-01T00:00:00+0000",
        ] {
            let chrono = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_graph_format(s.as_bytes()), Some(chrono), "{s}");
        }
        for bad in [
            "2023-02-29T00:00:00+0000",
            "2021-07-23T24:00:00+0000",
            "2021-07-23T09:28:50+0060",
            "2021-07-23T09:28:50Z0000",
            "2021-07-23 09:28:50+0000",
            "2021-o7-23T09:28:50+0000",
        ] {
            assert_eq!(parse_graph_format(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn keeps_unknown_fields_byte_exact_and_tolerates_missing_ones() {
        let json = r#"{"id":"t_1","updated_time":"2021-07-23T09:28:50+0000",
            "is_owner":true,"linked_group":{"id":"9","name":"\ud83d\ude00 caf\u00e9"},
            "participants":{"data":[{"name":"Kun","email":"1@facebook.com","id":"1","extra_key":1}]},
            "messages":{"data":[{"id":"m_1","message":"he said \"hi\" 😀","from":{"username":"u","id":"2"},
              "to":{"data":[{"username":"b","id":"3"}]},"tags":{"data":[{"name":"inbox"}]},
              "attachments":{"data":[{"id":"a"}]},"shares":{"data":[]}}],
              "paging":{"cursors":{"after":"x"},"next":"https://graph.facebook.com/v25.0/t_1/messages?after=x"}}}"#;
        let node: ThreadNode = serde_json::from_str(json).unwrap();
        let unit = UnitKey {
            page_id: "p".into(),
            platform: Platform::Instagram,
            folder: Folder::Spam,
        };
        let (thread, messages) = node.into_thread(&unit, "t_1".into());
        assert_eq!(thread.unread_count, None);
        assert_eq!(
            thread.extra_json().unwrap(),
            r#"{"is_owner":true,"linked_group":{"id":"9","name":"\ud83d\ude00 caf\u00e9"}}"#
        );
        let p = &thread.participants.as_ref().unwrap()[0];
        assert_eq!(p.email.as_deref(), Some("1@facebook.com"));
        assert_eq!(p.extra.len(), 1);
        let messages = messages.unwrap();
        assert!(messages.next().unwrap().ends_with("after=x"));
        let m = &messages.data[0];
        assert_eq!(m.message.as_deref(), Some("he said \"hi\" 😀"));
        assert_eq!(m.to.as_ref().unwrap()[0].username.as_deref(), Some("b"));
        assert_eq!(m.tags.as_deref(), Some(&["inbox".to_string()][..]));
        assert_eq!(
            m.attachments.as_ref().unwrap().get(),
            r#"{"data":[{"id":"a"}]}"#
        );
        assert_eq!(m.extra[0].0, "shares");
    }

    #[test]
    fn escaped_surrogate_pairs_decode_to_the_same_text() {
        let node: ThreadNode =
            serde_json::from_str(r#"{"id":"t","snippet":"\ud83d\ude00 e\u0301 שלום"}"#).unwrap();
        assert_eq!(node.snippet.as_deref(), Some("😀 e\u{301} שלום"));
    }
}
