//! Writes threads, messages, pages and paging straight into the response buffer, in Graph's
//! shape: requested fields in request order, `id` always (appended when not requested),
//! zero `unread_count` omitted, Graph string escaping, ISO `+0000` times.

use crate::config::DETAIL_MESSAGES;
use crate::data::{Dataset, Folder, MessageData, Platform, ThreadData};
use crate::fields::{MField, MessageListSel, ProfileSel, TField};
use crate::util::{
    decode_base64url, escape_graph_into, hash, push_base64url, push_graph_time, push_query_value,
    push_u64,
};

/// What a render needs besides the data.
pub(crate) struct Ctx<'a> {
    pub ds: &'a Dataset,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub origin: &'a str,
    /// `v19.0` etc.
    pub version: &'a str,
    /// Token to embed in `next`/`previous` URLs (only when it was sent as a query parameter).
    pub token_q: Option<&'a str>,
    /// Ground-truth mode: every message, no paging objects.
    pub truth: bool,
}

const K_CURSOR: u64 = 0x6375_7273;

/// Appends an opaque cursor for position `pos` (−1 = before the first thread). `nonce` makes
/// a different cursor string for the same position (empty-page fault), so a client's
/// "cursor did not advance" guard is not tripped by a legal empty page.
pub(crate) fn push_cursor(out: &mut Vec<u8>, seed: u64, pos: i64, nonce: u32) {
    let check = hash(&[seed, K_CURSOR, pos as u64, u64::from(nonce)]) & 0xFF_FFFF;
    let mut raw = Vec::with_capacity(32);
    // "AQH" makes every cursor start with "QVFI", like Graph's.
    raw.extend_from_slice(b"AQH");
    crate::util::push_i64(&mut raw, pos);
    raw.push(b'.');
    push_u64(&mut raw, u64::from(nonce));
    raw.push(b'.');
    push_u64(&mut raw, check);
    push_base64url(out, &raw);
}

/// Decodes a cursor issued by [`push_cursor`] with the same seed.
pub(crate) fn decode_cursor(seed: u64, s: &str) -> Option<i64> {
    let raw = decode_base64url(s)?;
    let text = std::str::from_utf8(&raw).ok()?.strip_prefix("AQH")?;
    let mut parts = text.split('.');
    let pos: i64 = parts.next()?.parse().ok()?;
    let nonce: u32 = parts.next()?.parse().ok()?;
    let check: u64 = parts.next()?.parse().ok()?;
    (parts.next().is_none()
        && pos >= -1
        && check == hash(&[seed, K_CURSOR, pos as u64, u64::from(nonce)]) & 0xFF_FFFF)
        .then_some(pos)
}

/// A paging URL target: path after the version and the parameters echoed from the request.
pub(crate) struct LinkBase<'a> {
    pub path: &'a str,
    /// Original parameters to echo, in request order (credentials and paging params removed).
    pub echo: &'a [(String, String)],
    pub limit: usize,
}

/// Appends a JSON string holding an absolute paging URL.
fn push_link(out: &mut Vec<u8>, ctx: &Ctx, base: &LinkBase, dir: &str, pos: i64, nonce: u32) {
    let mut url = Vec::with_capacity(256);
    url.extend_from_slice(ctx.origin.as_bytes());
    url.push(b'/');
    url.extend_from_slice(ctx.version.as_bytes());
    url.push(b'/');
    url.extend_from_slice(base.path.as_bytes());
    url.push(b'?');
    if let Some(tok) = ctx.token_q {
        url.extend_from_slice(b"access_token=");
        push_query_value(&mut url, tok);
        url.push(b'&');
    }
    url.extend_from_slice(b"pretty=0");
    for (k, v) in base.echo {
        url.push(b'&');
        push_query_value(&mut url, k);
        url.push(b'=');
        push_query_value(&mut url, v);
    }
    url.extend_from_slice(b"&limit=");
    push_u64(&mut url, base.limit as u64);
    url.push(b'&');
    url.extend_from_slice(dir.as_bytes());
    url.push(b'=');
    push_cursor(&mut url, ctx.ds.seed, pos, nonce);
    out.push(b'"');
    // The URL is ASCII; escaping turns `/` into `\/` as Graph does.
    escape_graph_into(out, std::str::from_utf8(&url).unwrap_or_default());
    out.push(b'"');
}

/// What the `paging` object of a page contains.
pub(crate) struct PagingSpec {
    /// `(first, last)` positions of the data on this page (cursors), `None` when empty.
    pub cursors: Option<(i64, i64)>,
    /// Write `previous` (with `before=` the first position).
    pub previous: bool,
    /// `next` with `after=` this position and nonce.
    pub next: Option<(i64, u32)>,
}

/// Appends `"paging":{...}` (nothing when there is nothing to say).
pub(crate) fn push_paging(out: &mut Vec<u8>, ctx: &Ctx, base: &LinkBase, spec: &PagingSpec) {
    if spec.cursors.is_none() && spec.next.is_none() {
        return;
    }
    out.extend_from_slice(b",\"paging\":{");
    let mut first = true;
    if let Some((before, after)) = spec.cursors {
        out.extend_from_slice(b"\"cursors\":{\"before\":\"");
        push_cursor(out, ctx.ds.seed, before, 0);
        out.extend_from_slice(b"\",\"after\":\"");
        push_cursor(out, ctx.ds.seed, after, 0);
        out.extend_from_slice(b"\"}");
        first = false;
        if spec.previous {
            out.extend_from_slice(b",\"previous\":");
            push_link(out, ctx, base, "before", before, 0);
        }
    }
    if let Some((pos, nonce)) = spec.next {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"next\":");
        push_link(out, ctx, base, "after", pos, nonce);
    }
    out.push(b'}');
}

#[inline]
fn key(out: &mut Vec<u8>, first: &mut bool, name: &[u8]) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
}

fn push_quoted_u64(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    push_u64(out, v);
    out.push(b'"');
}

/// Writes a participant: the customer or the page, in the platform's shape.
fn push_profile(out: &mut Vec<u8>, ds: &Dataset, t: &ThreadData, customer: bool, sel: ProfileSel) {
    let page = t.key.unit.page as usize;
    let mut first = true;
    out.push(b'{');
    match t.key.unit.platform {
        Platform::Messenger => {
            if sel.name {
                key(out, &mut first, b"name");
                if customer {
                    out.extend_from_slice(&ds.names[t.name_index(ds.names.len())].esc);
                } else {
                    out.extend_from_slice(&ds.page_names[page].esc);
                }
            }
            if sel.email {
                key(out, &mut first, b"email");
                out.push(b'"');
                if customer {
                    push_u64(out, t.customer);
                } else {
                    out.extend_from_slice(ds.page_ids[page].as_bytes());
                }
                out.extend_from_slice(b"@facebook.com\"");
            }
            key(out, &mut first, b"id");
            if customer {
                push_quoted_u64(out, t.customer);
            } else {
                out.push(b'"');
                out.extend_from_slice(ds.page_ids[page].as_bytes());
                out.push(b'"');
            }
        }
        Platform::Instagram => {
            if sel.username {
                key(out, &mut first, b"username");
                out.push(b'"');
                if customer {
                    const HANDLES: &[&str] = &[
                        "customer_handle",
                        "zoe.ang",
                        "li.xiaolong",
                        "m.abdallah",
                        "sean_obrien",
                        "jose.alvarez",
                        "nani.perez",
                        "d.ivanov",
                        "hanako_sato",
                        "an.nguyen",
                    ];
                    out.extend_from_slice(HANDLES[t.name_index(HANDLES.len())].as_bytes());
                    out.push(b'_');
                    push_u64(out, t.customer % 1000);
                } else {
                    out.extend_from_slice(ds.ig_names[page].as_bytes());
                }
                out.push(b'"');
            }
            key(out, &mut first, b"id");
            if customer {
                push_quoted_u64(out, t.customer);
            } else {
                out.push(b'"');
                out.extend_from_slice(ds.ig_ids[page].as_bytes());
                out.push(b'"');
            }
        }
    }
    out.push(b'}');
}

fn push_participants(out: &mut Vec<u8>, ds: &Dataset, t: &ThreadData, sel: ProfileSel) {
    out.extend_from_slice(b"{\"data\":[");
    push_profile(out, ds, t, true, sel);
    out.push(b',');
    push_profile(out, ds, t, false, sel);
    out.extend_from_slice(b"]}");
}

fn push_thread_id_quoted(out: &mut Vec<u8>, ds: &Dataset, t: &ThreadData) {
    out.push(b'"');
    ds.push_thread_id(out, t);
    out.push(b'"');
}

/// Writes one Conversation node with the selected fields.
pub(crate) fn push_thread(out: &mut Vec<u8>, ctx: &Ctx, t: &ThreadData, fields: &[TField]) {
    let ds = ctx.ds;
    let mut first = true;
    let mut wrote_id = false;
    out.push(b'{');
    for f in fields {
        wrote_id |= matches!(f, TField::Id);
        push_thread_field(out, &mut first, ctx, t, f);
    }
    // Some threads carry a field nobody asked for and no schema knows (clients must keep it).
    if t.has_extra_field() {
        key(out, &mut first, b"ad_id");
        out.extend_from_slice(b"\"120210");
        push_u64(out, 100_000_000 + t.th % 900_000_000);
        out.push(b'"');
    }
    if !wrote_id {
        key(out, &mut first, b"id");
        push_thread_id_quoted(out, ds, t);
    }
    out.push(b'}');
}

/// One requested field of a thread: its own values here, its edges and objects in
/// [`push_thread_edge`].
fn push_thread_field(out: &mut Vec<u8>, first: &mut bool, ctx: &Ctx, t: &ThreadData, f: &TField) {
    let ds = ctx.ds;
    match f {
        TField::Id => {
            key(out, first, b"id");
            push_thread_id_quoted(out, ds, t);
        }
        TField::Link => {
            key(out, first, b"link");
            out.extend_from_slice(b"\"\\/");
            out.extend_from_slice(ds.page_ids[t.key.unit.page as usize].as_bytes());
            out.extend_from_slice(b"\\/inbox\\/");
            push_u64(out, t.num);
            out.extend_from_slice(b"\\/\"");
        }
        TField::MessageCount => {
            key(out, first, b"message_count");
            push_u64(out, u64::from(t.message_count()));
        }
        TField::UnreadCount => {
            // Graph omits unread_count when it is zero.
            let n = t.unread_count();
            if n > 0 {
                key(out, first, b"unread_count");
                push_u64(out, u64::from(n));
            }
        }
        TField::UpdatedTime => {
            key(out, first, b"updated_time");
            out.push(b'"');
            push_graph_time(out, t.updated_time());
            out.push(b'"');
        }
        TField::Snippet => {
            key(out, first, b"snippet");
            out.extend_from_slice(&ds.message_text(t, t.message_count() - 1).esc);
        }
        TField::CanReply => {
            key(out, first, b"can_reply");
            out.extend_from_slice(if t.key.unit.folder == Folder::Spam {
                b"false"
            } else {
                b"true"
            });
        }
        TField::IsSubscribed => {
            key(out, first, b"is_subscribed");
            out.extend_from_slice(b"true");
        }
        TField::Name => {
            key(out, first, b"name");
            if t.has_name() {
                out.extend_from_slice(&ds.names[t.name_index(ds.names.len())].esc);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        TField::Subject => {
            key(out, first, b"subject");
            out.extend_from_slice(b"null");
        }
        TField::ScopedThreadKey => {
            key(out, first, b"scoped_thread_key");
            out.extend_from_slice(b"\"t_");
            push_u64(out, t.num);
            out.push(b'"');
        }
        TField::Wallpaper => {
            key(out, first, b"wallpaper");
            out.extend_from_slice(b"null");
        }
        TField::Folder => {
            key(out, first, b"folder");
            out.push(b'"');
            out.extend_from_slice(t.key.unit.folder.as_str().as_bytes());
            out.push(b'"');
        }
        TField::IsOwner => {
            key(out, first, b"is_owner");
            out.extend_from_slice(b"true");
        }
        _ => push_thread_edge(out, first, ctx, t, f),
    }
}

/// One requested edge or object of a thread (participants, messages, …).
fn push_thread_edge(out: &mut Vec<u8>, first: &mut bool, ctx: &Ctx, t: &ThreadData, f: &TField) {
    let ds = ctx.ds;
    match f {
        TField::Participants(sel) => {
            key(out, first, b"participants");
            push_participants(out, ds, t, *sel);
        }
        TField::Senders(sel) => {
            key(out, first, b"senders");
            push_participants(out, ds, t, *sel);
        }
        TField::FormerParticipants(_) => {
            key(out, first, b"former_participants");
            out.extend_from_slice(b"{\"data\":[]}");
        }
        // No thread belongs to a group: Graph omits empty edges/objects.
        TField::LinkedGroup => {}
        TField::Messages(sel) => {
            key(out, first, b"messages");
            push_message_list(out, ctx, t, sel, 0, &[]);
        }
        // Written by push_thread_field.
        TField::Id
        | TField::Link
        | TField::MessageCount
        | TField::UnreadCount
        | TField::UpdatedTime
        | TField::Snippet
        | TField::CanReply
        | TField::IsSubscribed
        | TField::Name
        | TField::Subject
        | TField::ScopedThreadKey
        | TField::Wallpaper
        | TField::Folder
        | TField::IsOwner => {}
    }
}

const STICKER_URL: &[u8] =
    b"\"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/t39.1997-6\\/851557_369239266556155_759568595_n.png?_nc_cat=1&oh=00_AfC&oe=6A1B2C3D\"";
const TAGS_IN: &[u8] =
    b"{\"data\":[{\"name\":\"inbox\"},{\"name\":\"read\"},{\"name\":\"source:mobile\"}]}";
const TAGS_OUT: &[u8] = b"{\"data\":[{\"name\":\"sent\"},{\"name\":\"source:web\"}]}";

/// Writes one Message node. Messages outside the newest 20 only have `id` and `created_time`.
pub(crate) fn push_message(
    out: &mut Vec<u8>,
    ctx: &Ctx,
    t: &ThreadData,
    m: &MessageData,
    pos: u32,
    fields: &[MField],
) {
    let ds = ctx.ds;
    let detailed = (pos as usize) < DETAIL_MESSAGES;
    let mut first = true;
    let mut wrote_id = false;
    out.push(b'{');
    for f in fields {
        match f {
            MField::Id => {
                key(out, &mut first, b"id");
                out.push(b'"');
                ds.push_message_id(out, t, m.seq);
                out.push(b'"');
                wrote_id = true;
            }
            MField::CreatedTime => {
                key(out, &mut first, b"created_time");
                out.push(b'"');
                push_graph_time(out, m.created);
                out.push(b'"');
            }
            _ if !detailed => {}
            MField::From(sel) => {
                key(out, &mut first, b"from");
                push_profile(out, ds, t, m.from_customer, *sel);
            }
            MField::To(sel) => {
                key(out, &mut first, b"to");
                out.extend_from_slice(b"{\"data\":[");
                push_profile(out, ds, t, !m.from_customer, *sel);
                out.extend_from_slice(b"]}");
            }
            MField::Message => {
                key(out, &mut first, b"message");
                if m.sticker {
                    out.extend_from_slice(b"\"\"");
                } else {
                    out.extend_from_slice(&ds.message_text(t, m.seq).esc);
                }
            }
            MField::Sticker => {
                if m.sticker {
                    key(out, &mut first, b"sticker");
                    out.extend_from_slice(STICKER_URL);
                }
            }
            MField::Tags => {
                key(out, &mut first, b"tags");
                out.extend_from_slice(if m.from_customer { TAGS_IN } else { TAGS_OUT });
            }
            MField::Attachments => {
                if m.attachment {
                    key(out, &mut first, b"attachments");
                    push_attachments(out, ctx, t, m);
                }
            }
            MField::IsUnsupported => {
                key(out, &mut first, b"is_unsupported");
                out.extend_from_slice(b"false");
            }
            // Edges and objects this dataset never has: Graph omits them.
            MField::Shares | MField::Reactions | MField::Story | MField::ReplyTo => {}
        }
    }
    if !wrote_id {
        key(out, &mut first, b"id");
        out.push(b'"');
        ds.push_message_id(out, t, m.seq);
        out.push(b'"');
    }
    out.push(b'}');
}

fn push_attachments(out: &mut Vec<u8>, ctx: &Ctx, t: &ThreadData, m: &MessageData) {
    let n = hash(&[t.th, u64::from(m.seq), 0xa77]) % 1_000_000_000;
    out.extend_from_slice(b"{\"data\":[{\"id\":\"");
    push_u64(out, 1_000_000_000_000 + n);
    out.extend_from_slice(b"\",\"mime_type\":\"image\\/jpeg\",\"name\":\"image-");
    push_u64(out, n);
    out.extend_from_slice(b".jpg\",\"size\":");
    push_u64(out, 20_000 + n % 500_000);
    out.extend_from_slice(b",\"image_data\":{\"width\":720,\"height\":1280,\"max_width\":720,\"max_height\":1280,\"url\":\"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/t1.15752-9\\/");
    push_u64(out, n);
    out.extend_from_slice(b"_n.jpg?_nc_cat=1&oh=00_AfB&oe=6A1B2C3D\",\"preview_url\":\"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/t1.15752-9\\/p100x100\\/");
    push_u64(out, n);
    out.extend_from_slice(
        b"_n.jpg?_nc_cat=1&oh=00_AfB&oe=6A1B2C3D\",\"image_type\":1,\"render_as_sticker\":false}}]",
    );
    if !ctx.truth {
        out.extend_from_slice(b",\"paging\":{\"cursors\":{\"before\":\"");
        push_cursor(out, ctx.ds.seed, 0, 0);
        out.extend_from_slice(b"\",\"after\":\"");
        push_cursor(out, ctx.ds.seed, 0, 0);
        out.extend_from_slice(b"\"}}");
    }
    out.push(b'}');
}

/// Writes `{"data":[messages...],"paging":{...}}` for messages starting at position `start`.
/// `echo` is what the messages-edge request carried (empty for a nested expansion, whose
/// `next` echoes the sub-field list instead).
pub(crate) fn push_message_list(
    out: &mut Vec<u8>,
    ctx: &Ctx,
    t: &ThreadData,
    sel: &MessageListSel,
    start: u32,
    echo: &[(String, String)],
) {
    let count = t.message_count();
    let end = if ctx.truth {
        count
    } else {
        start.saturating_add(sel.limit as u32).min(count)
    };
    out.extend_from_slice(b"{\"data\":[");
    for pos in start..end {
        if pos > start {
            out.push(b',');
        }
        if let Some(m) = t.message(pos) {
            push_message(out, ctx, t, &m, pos, &sel.fields);
        }
    }
    out.push(b']');
    if !ctx.truth {
        let mut path = Vec::with_capacity(96);
        ctx.ds.push_thread_id(&mut path, t);
        path.extend_from_slice(b"/messages");
        let nested_echo;
        let echo = if echo.is_empty() {
            nested_echo = sel
                .raw
                .as_ref()
                .map(|raw| vec![("fields".to_string(), raw.clone())])
                .unwrap_or_default();
            &nested_echo[..]
        } else {
            echo
        };
        let base = LinkBase {
            path: std::str::from_utf8(&path).unwrap_or_default(),
            echo,
            limit: sel.limit,
        };
        let spec = PagingSpec {
            cursors: (end > start).then(|| (i64::from(start), i64::from(end) - 1)),
            previous: start > 0,
            next: (end < count).then(|| (i64::from(end) - 1, 0)),
        };
        push_paging(out, ctx, &base, &spec);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let mut c = Vec::new();
        push_cursor(&mut c, 7, 41, 0);
        let s = String::from_utf8(c).unwrap();
        assert!(s.starts_with("QVFI"));
        assert_eq!(decode_cursor(7, &s), Some(41));
        assert_eq!(decode_cursor(8, &s), None);
        assert_eq!(decode_cursor(7, "QVFIU0pz"), None);
    }
}
