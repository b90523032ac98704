//! The synthetic dataset: every thread and message is a pure function of the seed and its
//! coordinates `(page, platform, folder, index)`, so a million-thread unit costs no memory.
//! Mutations (new, updated, deleted threads) live in a small [`Overlay`] on top.
//!
//! Index 0 of a unit is its newest thread; `updated_time` strictly decreases with the index
//! (except where [`crate::Faults::equal_times_every`] deliberately injects ties).

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{EmulatorConfig, MessageCount, ThreadCount};
use crate::util::{ID_BITS, days_from_civil, feistel, feistel_inv, hash, push_base64url};

/// A messaging platform, as in `platform=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Facebook Messenger.
    Messenger,
    /// Instagram Direct.
    Instagram,
}

impl Platform {
    /// Both platforms.
    pub const ALL: [Platform; 2] = [Platform::Messenger, Platform::Instagram];

    /// Lowercase name (`messenger`, `instagram`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Messenger => "messenger",
            Platform::Instagram => "instagram",
        }
    }

    /// Parses `platform=` case-insensitively.
    pub fn parse(s: &str) -> Option<Platform> {
        if s.eq_ignore_ascii_case("messenger") {
            Some(Platform::Messenger)
        } else if s.eq_ignore_ascii_case("instagram") {
            Some(Platform::Instagram)
        } else {
            None
        }
    }

    fn bit(self) -> u64 {
        match self {
            Platform::Messenger => 0,
            Platform::Instagram => 1,
        }
    }
}

/// An inbox folder, as in `folder=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Folder {
    /// `inbox` (the default when `folder` is omitted — **UNCONFIRMED**).
    Inbox,
    /// `other`.
    Other,
    /// `page_done`.
    PageDone,
    /// `spam`.
    Spam,
}

impl Folder {
    /// All four folders.
    pub const ALL: [Folder; 4] = [Folder::Inbox, Folder::Other, Folder::PageDone, Folder::Spam];

    /// The name used by Graph (`inbox`, `other`, `page_done`, `spam`).
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::Inbox => "inbox",
            Folder::Other => "other",
            Folder::PageDone => "page_done",
            Folder::Spam => "spam",
        }
    }

    /// Parses `folder=` (case-insensitive).
    pub fn parse(s: &str) -> Option<Folder> {
        Folder::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
    }

    fn bits(self) -> u64 {
        self as u64
    }
}

/// One (page, platform, folder) listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct UnitKey {
    pub page: u32,
    pub platform: Platform,
    pub folder: Folder,
}

impl UnitKey {
    pub fn code(self) -> u64 {
        u64::from(self.page) << 3 | self.platform.bit() << 2 | self.folder.bits()
    }
}

/// Identity of a thread: a base thread by index, or a thread created by a mutation by serial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ThreadKey {
    pub unit: UnitKey,
    pub new: bool,
    pub index: u32,
}

const PAGE_BITS: u32 = 16;
const INDEX_BITS: u32 = 24;
/// Largest number of pages / threads per unit the id layout can address.
pub(crate) const MAX_PAGES: usize = 1 << PAGE_BITS;
pub(crate) const MAX_THREADS_PER_UNIT: usize = (1 << INDEX_BITS) - 1;

impl ThreadKey {
    fn pack(self) -> u64 {
        u64::from(self.new)
            | u64::from(self.unit.page) << 1
            | self.unit.platform.bit() << (1 + PAGE_BITS)
            | self.unit.folder.bits() << (2 + PAGE_BITS)
            | u64::from(self.index) << (4 + PAGE_BITS)
    }

    fn unpack(p: u64) -> Option<ThreadKey> {
        if p >> (4 + PAGE_BITS + INDEX_BITS) != 0 {
            return None;
        }
        let platform = if p >> (1 + PAGE_BITS) & 1 == 0 {
            Platform::Messenger
        } else {
            Platform::Instagram
        };
        let folder = Folder::ALL[(p >> (2 + PAGE_BITS) & 3) as usize];
        Some(ThreadKey {
            unit: UnitKey {
                page: (p >> 1 & ((1 << PAGE_BITS) - 1)) as u32,
                platform,
                folder,
            },
            new: p & 1 == 1,
            index: (p >> (4 + PAGE_BITS)) as u32,
        })
    }
}

/// Key salts, so the same coordinates scramble differently for different purposes.
const K_THREAD: u64 = 0x7468_7265_6164;
const K_CUSTOMER: u64 = 0x6375_7374;
const K_T0: u64 = 0x7430;
const K_TIME: u64 = 0x7469_6d65;
const K_MSGS: u64 = 0x6d73_6773;
const K_MSG: u64 = 0x006d_7367;
const K_COUNT: u64 = 0x0063_6f75_6e74;

/// Newest base thread times sit within the day before this instant (2026-11-20T12:00:00Z).
pub(crate) const BASE_EPOCH: i64 = days_from_civil(2026, 11, 20) * 86_400 + 12 * 3600;
/// Seconds between consecutive threads (plus jitter below it).
const THREAD_GAP: i64 = 137;
/// Seconds between consecutive messages of a thread (plus jitter below it).
const MESSAGE_GAP: i64 = 53;

/// A string with its Graph-escaped JSON form (quotes included), computed once so the hot path
/// only copies bytes.
pub(crate) struct Text {
    pub raw: String,
    pub esc: Vec<u8>,
}

impl Text {
    fn new(raw: impl Into<String>) -> Text {
        let raw = raw.into();
        let mut esc = Vec::with_capacity(raw.len() * 2 + 2);
        crate::util::push_json_str(&mut esc, &raw);
        Text { raw, esc }
    }
}

/// Message texts that are hard to carry through a pipeline byte-exact.
const MESSAGE_TEXTS: &[&str] = &[
    "Hi! Is this still available?",
    "ok thanks",
    "Merci beaucoup, à bientôt !",
    "Ça coûte combien ? 😀👍",
    "東京の店舗は何時に開きますか？",
    "你好，我想查询一下我的订单状态。",
    "مرحبا، هل يمكنني إرجاع المنتج؟",
    "שלום, מתי המשלוח יגיע?",
    "Family: 👨\u{200D}👩\u{200D}👧\u{200D}👦 and flags 🇫🇷🇯🇵",
    "Combining marks: e\u{301} a\u{308} n\u{303} Z\u{335}\u{321}a\u{334}l\u{336}g\u{337}o",
    "He said \"hi\" and left a back\\slash \\ here",
    "multi\nline\r\nmessage\twith a tab",
    "See https://example.com/a/b?x=1&y=2 or C:\\Users\\me\\file.txt",
    "Math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 and music 𝄞",
    "zero\u{200B}width\u{200C}non\u{200D}joiner\u{FEFF}bom",
    "Skin tones 👍🏽👋🏿 and keycap 1\u{FE0F}\u{20E3}",
    "<script>alert('x')</script> & ampersand",
    "Ünïcödé ÄÖÜ ß ø å — “curly” ‘quotes’",
    "Здравствуйте! Когда доставка?",
    "नमस्ते, क्या यह उपलब्ध है?",
    "bell\u{7}and\u{1F}controls",
    "line\u{2028}separator\u{2029}paragraph",
    "Mixed RTL: order #123 مرحبا 456 עברית end",
    "Ελληνικά: Γειά σου!",
];

/// Customer display names (Messenger).
const NAMES: &[&str] = &[
    "Kun Liu",
    "Zoë Ångström",
    "李小龙",
    "محمد عبد الله",
    "Seán O'Brien",
    "Jose\u{301} A\u{301}lvarez",
    "Ana \"Nani\" Pérez",
    "Дмитрий Иванов",
    "佐藤 花子",
    "Nguyễn Văn An",
    "👩\u{200D}💻 Dev Person",
    "Ελένη Παπαδοπούλου",
    "यश शर्मा",
    "דוד כהן",
    "Łukasz Żółć",
    "𝓕𝓪𝓷𝓬𝔂 Name",
    "Back\\Slash Smith",
    "Maria-Luísa",
];

const PAGE_NAMES: &[&str] = &[
    "Tributary Demo Page",
    "Café Zoë — 東京店",
    "مكتبة النيل",
    "Ünïcode Shop 🛍\u{FE0F}",
    "O'Reilly \"Books\" & Co",
];

/// The emulator's dataset: configuration plus precomputed, escaped text tables.
pub(crate) struct Dataset {
    pub seed: u64,
    pub pages: usize,
    threads: ThreadCount,
    messages: MessageCount,
    equal_every: Option<usize>,
    pub page_ids: Vec<String>,
    pub page_names: Vec<Text>,
    pub ig_ids: Vec<String>,
    pub ig_names: Vec<String>,
    pub texts: Vec<Text>,
    pub long_text: Text,
    pub kitchen_sink: Text,
    pub names: Vec<Text>,
}

/// Page id of the page with 0-based index `i`: `104857600000001`, `104857600000002`, …
pub fn page_id(i: usize) -> String {
    format!("1048576{:08}", i + 1)
}

impl Dataset {
    pub fn new(cfg: &EmulatorConfig) -> Dataset {
        let pages = cfg.pages.min(MAX_PAGES);
        let page_ids = (0..pages).map(page_id).collect();
        let page_names = (0..pages)
            .map(|i| Text::new(format!("{} {}", PAGE_NAMES[i % PAGE_NAMES.len()], i + 1)))
            .collect();
        let ig_ids = (0..pages)
            .map(|i| format!("1784140{:010}", i + 1))
            .collect();
        let ig_names = (0..pages)
            .map(|i| format!("tributary.demo_{}", i + 1))
            .collect();
        let segment = "Lorem ipsum 😀 東京 مرحبا \"q\" \\ / e\u{301} ";
        let long = format!("Very long message: {}THE END", segment.repeat(50));
        let kitchen = "Kitchen sink: 😀 👨\u{200D}👩\u{200D}👧\u{200D}👦 🇯🇵 𝄞 東京 你好 مرحبا بالعالم שלום \
             e\u{301} a\u{308} zero\u{200B}width\u{200D}joiner \"quoted\" back\\slash /slash/ \
             line1\nline2\r\n\ttab \u{1} end";
        Dataset {
            seed: cfg.seed,
            pages,
            threads: cfg.threads_per_unit,
            messages: cfg.messages_per_thread,
            equal_every: cfg.faults.equal_times_every.filter(|n| *n > 0),
            page_ids,
            page_names,
            ig_ids,
            ig_names,
            texts: MESSAGE_TEXTS.iter().map(|s| Text::new(*s)).collect(),
            long_text: Text::new(long),
            kitchen_sink: Text::new(kitchen),
            names: NAMES.iter().map(|s| Text::new(*s)).collect(),
        }
    }

    /// The page index of a page id, if it is one of ours.
    pub fn page_index(&self, id: &str) -> Option<u32> {
        let rest = id.strip_prefix("1048576")?;
        if rest.len() != 8 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: usize = rest.parse().ok()?;
        (1..=self.pages).contains(&n).then(|| (n - 1) as u32)
    }

    /// Number of base (unmutated) threads in a unit.
    pub fn base_count(&self, unit: UnitKey) -> u32 {
        let n = match self.threads {
            ThreadCount::Exact(n) => n,
            ThreadCount::Around(0) => 0,
            ThreadCount::Around(n) => {
                n / 2 + (hash(&[self.seed, K_COUNT, unit.code()]) % (n as u64 + 1)) as usize
            }
        };
        n.min(MAX_THREADS_PER_UNIT) as u32
    }

    fn raw_time(&self, unit: UnitKey, index: u32) -> i64 {
        let t0 = BASE_EPOCH - (hash(&[self.seed, K_T0, unit.code()]) % 86_400) as i64;
        let i = i64::from(index);
        let jitter = if index == 0 {
            0
        } else {
            (hash(&[self.seed, K_TIME, unit.code(), u64::from(index)]) % THREAD_GAP as u64) as i64
        };
        t0 - i * THREAD_GAP - jitter
    }

    /// `updated_time` of base thread `index` (before any mutation).
    pub fn base_time(&self, unit: UnitKey, index: u32) -> i64 {
        match self.equal_every {
            Some(n) if index > 0 && (index as usize).is_multiple_of(n) => {
                self.raw_time(unit, index - 1)
            }
            _ => self.raw_time(unit, index),
        }
    }

    /// Number of messages a thread starts with.
    pub fn base_messages(&self, th: u64) -> u32 {
        let n = match self.messages {
            MessageCount::Exact(n) => n.max(1),
            MessageCount::UpTo(n) => 1 + (hash(&[th, K_MSGS]) % n.max(1) as u64) as usize,
        };
        n.min(u32::MAX as usize) as u32
    }

    /// The scrambled number behind a thread's id.
    pub fn thread_num(&self, key: ThreadKey) -> u64 {
        feistel(key.pack(), self.seed ^ K_THREAD)
    }

    /// Decodes a thread number back to its key (`None` for numbers we never issued).
    pub fn thread_key(&self, num: u64) -> Option<ThreadKey> {
        if num >> ID_BITS != 0 {
            return None;
        }
        let key = ThreadKey::unpack(feistel_inv(num, self.seed ^ K_THREAD))?;
        ((key.unit.page as usize) < self.pages).then_some(key)
    }

    /// A fully described thread.
    pub fn thread<'a>(&self, key: ThreadKey, base_time: i64, updates: &'a [i64]) -> ThreadData<'a> {
        let num = self.thread_num(key);
        let th = hash(&[self.seed, num]);
        ThreadData {
            key,
            num,
            th,
            base_time,
            updates,
            base_msgs: self.base_messages(th),
            customer: feistel(key.pack(), self.seed ^ K_CUSTOMER) + 1_000_000_000_000_000,
        }
    }

    /// A base thread with no mutation applied.
    pub fn base_thread(&self, unit: UnitKey, index: u32) -> ThreadData<'static> {
        let key = ThreadKey {
            unit,
            new: false,
            index,
        };
        self.thread(key, self.base_time(unit, index), &[])
    }

    /// Finds the thread whose customer has this PSID/IGSID.
    pub fn key_for_customer(&self, customer_id: &str) -> Option<ThreadKey> {
        let n: u64 = customer_id.parse().ok()?;
        let scrambled = n.checked_sub(1_000_000_000_000_000)?;
        if scrambled >> ID_BITS != 0 {
            return None;
        }
        let key = ThreadKey::unpack(feistel_inv(scrambled, self.seed ^ K_CUSTOMER))?;
        ((key.unit.page as usize) < self.pages).then_some(key)
    }

    /// Writes a thread id (`t_<digits>` or an Instagram base64url id).
    pub fn push_thread_id(&self, out: &mut Vec<u8>, t: &ThreadData) {
        match t.key.unit.platform {
            Platform::Messenger => {
                out.extend_from_slice(b"t_");
                crate::util::push_u64(out, t.num);
            }
            Platform::Instagram => {
                let mut raw = Vec::with_capacity(64);
                raw.extend_from_slice(b"ig_thread:1:IGMessageThread:");
                raw.extend_from_slice(self.ig_ids[t.key.unit.page as usize].as_bytes());
                raw.push(b':');
                crate::util::push_u64(&mut raw, t.num);
                push_base64url(out, &raw);
            }
        }
    }

    /// The thread id as a `String`.
    pub fn thread_id(&self, t: &ThreadData) -> String {
        let mut v = Vec::with_capacity(80);
        self.push_thread_id(&mut v, t);
        String::from_utf8(v).unwrap_or_default()
    }

    /// Parses a conversation id into its thread number.
    pub fn parse_thread_id(&self, id: &str) -> Option<u64> {
        if let Some(digits) = id.strip_prefix("t_") {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return digits.parse().ok();
        }
        let raw = crate::util::decode_base64url(id)?;
        let s = std::str::from_utf8(&raw).ok()?;
        let rest = s.strip_prefix("ig_thread:1:IGMessageThread:")?;
        let (ig, num) = rest.split_once(':')?;
        let num: u64 = num.parse().ok()?;
        let key = self.thread_key(num)?;
        (self.ig_ids.get(key.unit.page as usize)? == ig && key.unit.platform == Platform::Instagram)
            .then_some(num)
    }

    /// Writes a message id: `m_<base64url>` on Messenger, an Instagram base64url id otherwise.
    pub fn push_message_id(&self, out: &mut Vec<u8>, t: &ThreadData, seq: u32) {
        match t.key.unit.platform {
            Platform::Messenger => {
                let tag = hash(&[self.seed, K_MSG, t.num, u64::from(seq)]);
                let mut raw = [0u8; 24];
                raw[..8].copy_from_slice(&t.num.to_be_bytes());
                raw[8..12].copy_from_slice(&seq.to_be_bytes());
                raw[12..20].copy_from_slice(&tag.to_be_bytes());
                raw[20..24].copy_from_slice(&(tag as u32 ^ 0x5eed_5eed).to_be_bytes());
                out.extend_from_slice(b"m_");
                push_base64url(out, &raw);
            }
            Platform::Instagram => {
                let mut raw = Vec::with_capacity(64);
                raw.extend_from_slice(b"ig_item:1:IGMessage:");
                raw.extend_from_slice(self.ig_ids[t.key.unit.page as usize].as_bytes());
                raw.push(b':');
                crate::util::push_u64(&mut raw, t.num);
                raw.push(b':');
                crate::util::push_u64(&mut raw, u64::from(seq));
                push_base64url(out, &raw);
            }
        }
    }

    /// Parses a message id into (thread number, message sequence number).
    pub fn parse_message_id(&self, id: &str) -> Option<(u64, u32)> {
        if let Some(b64) = id.strip_prefix("m_") {
            let raw = crate::util::decode_base64url(b64)?;
            if raw.len() != 24 {
                return None;
            }
            let num = u64::from_be_bytes(raw[..8].try_into().ok()?);
            let seq = u32::from_be_bytes(raw[8..12].try_into().ok()?);
            let tag = hash(&[self.seed, K_MSG, num, u64::from(seq)]);
            return (raw[12..20] == tag.to_be_bytes()).then_some((num, seq));
        }
        let raw = crate::util::decode_base64url(id)?;
        let s = std::str::from_utf8(&raw).ok()?;
        let rest = s.strip_prefix("ig_item:1:IGMessage:")?;
        let mut parts = rest.split(':');
        let _ig = parts.next()?;
        let num = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((num, seq))
    }

    /// The text of message `seq` of a thread.
    pub fn message_text<'s>(&'s self, t: &ThreadData, seq: u32) -> &'s Text {
        // The newest original message of the first threads of every unit carries the hardest
        // text, so tests can find it without searching.
        if !t.key.new && seq + 1 == t.base_msgs {
            match t.key.index {
                0 => return &self.kitchen_sink,
                1 => return &self.long_text,
                _ => {}
            }
        }
        let h = hash(&[t.th, K_MSG, u64::from(seq)]);
        &self.texts[(h % self.texts.len() as u64) as usize]
    }
}

/// One thread, resolved: coordinates, scrambled number and current mutation state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadData<'a> {
    pub key: ThreadKey,
    /// Scrambled number behind the id.
    pub num: u64,
    /// Per-thread hash for every choice about it.
    pub th: u64,
    /// `updated_time` before any update.
    pub base_time: i64,
    /// Times of updates (each added one message), newest first.
    pub updates: &'a [i64],
    /// Messages the thread started with.
    pub base_msgs: u32,
    /// PSID / IGSID of the customer.
    pub customer: u64,
}

/// One message of a thread, resolved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageData {
    /// Stable sequence number: 0 is the oldest message; ids are built from it.
    pub seq: u32,
    pub created: i64,
    pub from_customer: bool,
    pub sticker: bool,
    pub attachment: bool,
}

impl ThreadData<'_> {
    pub fn updated_time(&self) -> i64 {
        self.updates.first().copied().unwrap_or(self.base_time)
    }

    pub fn message_count(&self) -> u32 {
        self.base_msgs + self.updates.len() as u32
    }

    pub fn unread_count(&self) -> u32 {
        let base = if self.th & 1 == 0 {
            0
        } else {
            1 + (self.th >> 8) as u32 % self.base_msgs.min(5)
        };
        base + self.updates.len() as u32
    }

    /// Thread-level choices that tests may want to find.
    pub fn has_name(&self) -> bool {
        (self.th >> 16).is_multiple_of(3)
    }

    pub fn has_extra_field(&self) -> bool {
        (self.th >> 20).is_multiple_of(8)
    }

    pub fn name_index(&self, n: usize) -> usize {
        ((self.th >> 24) % n as u64) as usize
    }

    /// Message at position `pos` (0 = newest).
    pub fn message(&self, pos: u32) -> Option<MessageData> {
        let extra = self.updates.len() as u32;
        if pos >= self.message_count() {
            return None;
        }
        let (seq, created) = if pos < extra {
            (self.base_msgs + extra - 1 - pos, self.updates[pos as usize])
        } else {
            let k = pos - extra;
            let jitter = if k == 0 {
                0
            } else {
                (hash(&[self.th, K_TIME, u64::from(k)]) % MESSAGE_GAP as u64) as i64
            };
            (
                self.base_msgs - 1 - k,
                self.base_time - i64::from(k) * MESSAGE_GAP - jitter,
            )
        };
        let h = hash(&[self.th, K_MSGS, u64::from(seq)]);
        // Updates are always a customer writing in; the newest original message too, so the
        // snippet is the customer's text.
        let from_customer = pos < extra || seq + 1 == self.base_msgs || h & 1 == 0;
        let special = !self.key.new && seq + 1 == self.base_msgs && self.key.index < 2;
        Some(MessageData {
            seq,
            created,
            from_customer,
            sticker: !special
                && pos >= extra
                && seq + 1 != self.base_msgs
                && (h >> 8).is_multiple_of(29),
            attachment: !special && (h >> 16).is_multiple_of(11),
        })
    }

    /// Position of message `seq`, if it exists.
    pub fn position_of(&self, seq: u32) -> Option<u32> {
        (seq < self.message_count()).then(|| self.message_count() - 1 - seq)
    }
}

/// A thread moved to (or created at) the top of its unit by a mutation.
#[derive(Clone, Debug)]
pub(crate) struct TopEntry {
    pub key: ThreadKey,
    pub base_time: i64,
    pub updates: Vec<i64>,
}

/// Mutation state of one unit.
#[derive(Clone, Debug, Default)]
pub(crate) struct UnitOverlay {
    /// Newest first; all newer than any base thread.
    pub top: Vec<TopEntry>,
    /// Base indices that moved to `top` or were deleted.
    pub removed: BTreeSet<u32>,
    pub next_serial: u32,
}

/// All mutations of a running emulator.
#[derive(Clone, Debug)]
pub(crate) struct Overlay {
    pub units: HashMap<UnitKey, UnitOverlay>,
    /// Mutation clock: every mutation happens 61 s after the previous one, after every base time.
    pub clock: i64,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            units: HashMap::new(),
            clock: BASE_EPOCH + 86_400,
        }
    }
}

/// A read-only view of one unit's listing (base threads plus overlay).
pub(crate) struct UnitView<'a> {
    pub ds: &'a Dataset,
    pub unit: UnitKey,
    pub base_count: u32,
    pub ov: Option<&'a UnitOverlay>,
}

impl<'a> UnitView<'a> {
    pub fn new(ds: &'a Dataset, overlay: &'a Overlay, unit: UnitKey) -> Self {
        UnitView {
            ds,
            unit,
            base_count: ds.base_count(unit),
            ov: overlay.units.get(&unit),
        }
    }

    fn top(&self) -> &'a [TopEntry] {
        self.ov.map(|o| o.top.as_slice()).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        let removed = self.ov.map(|o| o.removed.len()).unwrap_or(0);
        self.top().len() + self.base_count as usize - removed
    }

    /// Threads from position `pos` on, newest first.
    pub fn iter_from(&self, pos: usize) -> UnitIter<'a> {
        let top = self.top();
        let (top_pos, base) = if pos < top.len() {
            (pos, 0)
        } else {
            let mut b = (pos - top.len()) as u64;
            if let Some(ov) = self.ov {
                for &r in &ov.removed {
                    if u64::from(r) <= b {
                        b += 1;
                    } else {
                        break;
                    }
                }
            }
            (top.len(), b.min(u64::from(u32::MAX)) as u32)
        };
        UnitIter {
            ds: self.ds,
            unit: self.unit,
            top,
            top_pos,
            base,
            base_count: self.base_count,
            removed: self.ov.map(|o| &o.removed),
        }
    }

    pub fn at(&self, pos: usize) -> Option<ThreadData<'a>> {
        self.iter_from(pos).next()
    }
}

pub(crate) struct UnitIter<'a> {
    ds: &'a Dataset,
    unit: UnitKey,
    top: &'a [TopEntry],
    top_pos: usize,
    base: u32,
    base_count: u32,
    removed: Option<&'a BTreeSet<u32>>,
}

impl<'a> Iterator for UnitIter<'a> {
    type Item = ThreadData<'a>;

    fn next(&mut self) -> Option<ThreadData<'a>> {
        if let Some(e) = self.top.get(self.top_pos) {
            self.top_pos += 1;
            return Some(self.ds.thread(e.key, e.base_time, &e.updates));
        }
        if let Some(removed) = self.removed {
            while self.base < self.base_count && removed.contains(&self.base) {
                self.base += 1;
            }
        }
        if self.base >= self.base_count {
            return None;
        }
        let t = self.ds.base_thread(self.unit, self.base);
        self.base += 1;
        Some(t)
    }
}

impl Overlay {
    /// Resolves a thread by key, with its mutation state; `None` if it does not exist (now).
    pub fn resolve<'a>(&'a self, ds: &Dataset, key: ThreadKey) -> Option<ThreadData<'a>> {
        let ov = self.units.get(&key.unit);
        if let Some(e) = ov.and_then(|o| o.top.iter().find(|e| e.key == key)) {
            return Some(ds.thread(e.key, e.base_time, &e.updates));
        }
        if key.new || key.index >= ds.base_count(key.unit) {
            return None;
        }
        if ov.is_some_and(|o| o.removed.contains(&key.index)) {
            return None;
        }
        Some(ds.base_thread(key.unit, key.index))
    }

    fn tick(&mut self) -> i64 {
        self.clock += 61;
        self.clock
    }

    /// Adds `count` new threads at the top of a unit; returns their keys.
    pub fn add_threads(&mut self, unit: UnitKey, count: usize) -> Vec<ThreadKey> {
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let time = self.tick();
            let ov = self.units.entry(unit).or_default();
            if ov.next_serial as usize >= MAX_THREADS_PER_UNIT {
                break;
            }
            let key = ThreadKey {
                unit,
                new: true,
                index: ov.next_serial,
            };
            ov.next_serial += 1;
            ov.top.insert(
                0,
                TopEntry {
                    key,
                    base_time: time,
                    updates: Vec::new(),
                },
            );
            keys.push(key);
        }
        keys
    }

    /// A new message in an existing thread: it moves to the top. `false` if it does not exist.
    pub fn update(&mut self, ds: &Dataset, key: ThreadKey) -> bool {
        if self.resolve(ds, key).is_none() {
            return false;
        }
        let time = self.tick();
        let ov = self.units.entry(key.unit).or_default();
        let mut entry = match ov.top.iter().position(|e| e.key == key) {
            Some(i) => ov.top.remove(i),
            None => {
                ov.removed.insert(key.index);
                TopEntry {
                    key,
                    base_time: ds.base_time(key.unit, key.index),
                    updates: Vec::new(),
                }
            }
        };
        entry.updates.insert(0, time);
        ov.top.insert(0, entry);
        true
    }

    /// Deletes a thread. `false` if it does not exist.
    pub fn delete(&mut self, ds: &Dataset, key: ThreadKey) -> bool {
        if self.resolve(ds, key).is_none() {
            return false;
        }
        let ov = self.units.entry(key.unit).or_default();
        ov.top.retain(|e| e.key != key);
        if !key.new {
            ov.removed.insert(key.index);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Dataset {
        Dataset::new(&EmulatorConfig::default())
    }

    #[test]
    fn thread_ids_decode_to_their_key() {
        let ds = ds();
        for platform in Platform::ALL {
            let unit = UnitKey {
                page: 1,
                platform,
                folder: Folder::Spam,
            };
            let t = ds.base_thread(unit, 7);
            let id = ds.thread_id(&t);
            let num = ds.parse_thread_id(&id).unwrap();
            assert_eq!(ds.thread_key(num).unwrap(), t.key);
            let mut mid = Vec::new();
            ds.push_message_id(&mut mid, &t, 3);
            let mid = String::from_utf8(mid).unwrap();
            assert_eq!(ds.parse_message_id(&mid), Some((t.num, 3)));
        }
    }

    #[test]
    fn updated_time_strictly_decreases_with_index() {
        let ds = ds();
        let unit = UnitKey {
            page: 0,
            platform: Platform::Messenger,
            folder: Folder::Inbox,
        };
        for i in 0..2000 {
            assert!(ds.base_time(unit, i) > ds.base_time(unit, i + 1));
        }
    }

    #[test]
    fn iter_skips_removed_threads() {
        let ds = ds();
        let mut ov = Overlay::default();
        let unit = UnitKey {
            page: 0,
            platform: Platform::Messenger,
            folder: Folder::Inbox,
        };
        let k = |index| ThreadKey {
            unit,
            new: false,
            index,
        };
        assert!(ov.update(&ds, k(3)));
        assert!(ov.delete(&ds, k(5)));
        let view = UnitView::new(&ds, &ov, unit);
        let idx: Vec<u32> = view.iter_from(0).take(6).map(|t| t.key.index).collect();
        assert_eq!(idx, vec![3, 0, 1, 2, 4, 6]);
        assert_eq!(view.at(4).unwrap().key.index, 4);
        assert_eq!(view.at(5).unwrap().key.index, 6);
        assert_eq!(view.len(), ds.base_count(unit) as usize - 1);
    }
}
