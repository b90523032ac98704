//! [`Dataset`]: every base thread and message as a pure function of the seed and its
//! coordinates, the ids that encode them, and [`ThreadData`] / [`MessageData`], one resolved
//! thread and message.

use super::keys::{MAX_PAGES, MAX_THREADS_PER_UNIT, Platform, ThreadKey, UnitKey};
use super::text::{MESSAGE_TEXTS, NAMES, PAGE_NAMES, Text};
use crate::config::{EmulatorConfig, MessageCount, ThreadCount};
use crate::util::{ID_BITS, days_from_civil, feistel, feistel_inv, hash, push_base64url};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::keys::Folder;

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
}
