//! [`PseudonymizeTransform`]: the run-time side of `pseudonymize`.
//!
//! Columnar: each column is rewritten by walking its [`Node`] tree once. Kept arrays are shared,
//! not copied; a struct or list is rebuilt around its rewritten children with its own null
//! buffer and offsets untouched, so row counts, list lengths and nulls never change. A hashed
//! string array is built in one pass into one values buffer (64 bytes a value).
//!
//! Cost: one HMAC-SHA256 (two SHA-256 compressions for a value under 56 bytes) per **distinct**
//! value of a batch. A thread repeats its two participants in `participants`, `senders` and every
//! message's `from` and `to`, so a batch memoises pseudonyms by value: a lookup instead of an HMAC
//! for all but the first occurrence. The memo lives for one batch only, so memory stays bounded by
//! the batch and no raw value outlives it.

use std::collections::hash_map::Entry;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, ListArray, RecordBatch, StringArray, StringBuilder, StructArray,
    new_null_array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, SchemaRef};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tributary_core::RunError;
use tributary_core::plugin::Transform;

use crate::plan::Node;

/// A per-batch memo keyed by values people chose (usernames): foldhash is several times faster
/// than SipHash on short strings and, seeded per process, still not predictable from outside.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Length of a pseudonym: 32 bytes of HMAC-SHA256 as lowercase hex.
pub const PSEUDONYM_LEN: usize = 64;

/// Rewrites every batch according to the plan resolved at build time.
pub struct PseudonymizeTransform {
    schema: SchemaRef,
    columns: Vec<Node>,
    /// Keyed once at build time; cloning it per value skips re-hashing the key pads.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PseudonymizeTransform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand: the keyed MAC state is derived from the secret and must not be printed.
        f.debug_struct("PseudonymizeTransform")
            .field("columns", &self.columns)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl PseudonymizeTransform {
    /// A transform producing batches of `schema` (the input schema: every action keeps the
    /// type), rewriting column `i` by `columns[i]`, with `mac` keyed by the secret.
    pub fn new(schema: SchemaRef, columns: Vec<Node>, mac: Hmac<Sha256>) -> Self {
        Self {
            schema,
            columns,
            mac,
        }
    }
}

/// The lowercase hex HMAC-SHA256 of `value` under the key `mac` was made with.
pub fn pseudonym(mac: &Hmac<Sha256>, value: &[u8]) -> [u8; PSEUDONYM_LEN] {
    let mut mac = mac.clone();
    mac.update(value);
    let digest = mac.finalize().into_bytes();
    let mut out = [0u8; PSEUDONYM_LEN];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest.iter()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

/// `value` trimmed of surrounding whitespace (Unicode `White_Space`) and lowercased (Unicode), or
/// `None` when that changes nothing (the common case, decided without allocating for ASCII).
pub fn normalize_email(value: &str) -> Option<String> {
    if value.is_ascii() {
        let bytes = value.as_bytes();
        let edge = |b: Option<&u8>| b.is_some_and(|b| char::from(*b).is_whitespace());
        if !edge(bytes.first()) && !edge(bytes.last()) && !bytes.iter().any(u8::is_ascii_uppercase)
        {
            return None;
        }
    }
    let normalized = value.trim().to_lowercase();
    (normalized != value).then_some(normalized)
}

/// The `*` run that stands for a value of `chars` characters: its length class, the next power
/// of two from 4 to 32, or 64 for anything longer; the empty string stays empty.
pub fn mask_of(chars: usize) -> &'static str {
    const STARS: &str = "****************************************************************";
    let class = match chars {
        0 => 0,
        1..=4 => 4,
        5..=8 => 8,
        9..=16 => 16,
        17..=32 => 32,
        _ => 64,
    };
    &STARS[..class]
}

/// Pseudonyms computed so far in one batch, by value.
struct Memo<'a> {
    mac: &'a Hmac<Sha256>,
    /// Every pseudonym computed, [`PSEUDONYM_LEN`] characters each: slot `i` is pseudonym `i`.
    hex: String,
    raw: HashMap<&'a str, u32>,
    normalized: HashMap<String, u32>,
}

impl<'a> Memo<'a> {
    /// A memo sized for a batch of `rows` threads (or message rows): a handful of people each,
    /// so growing it in steps would rehash several times per batch.
    fn new(mac: &'a Hmac<Sha256>, rows: usize) -> Self {
        let expected = rows.saturating_mul(4).min(1 << 16);
        Self {
            mac,
            hex: String::with_capacity(expected * PSEUDONYM_LEN),
            raw: HashMap::with_capacity_and_hasher(expected, Default::default()),
            normalized: HashMap::default(),
        }
    }

    /// The slot of the pseudonym of `value` (normalised first if `normalize`).
    fn slot(&mut self, value: &'a str, normalize: bool) -> u32 {
        let (mac, hex) = (self.mac, &mut self.hex);
        let mut compute = |bytes: &[u8]| {
            let slot = hex.len() / PSEUDONYM_LEN;
            // Hex digits are ASCII: the check cannot fail (and costs 64 bytes).
            hex.push_str(std::str::from_utf8(&pseudonym(mac, bytes)).unwrap_or_default());
            // A batch holds far fewer than 2^32 distinct values (its offsets are i32).
            slot as u32
        };
        match normalize.then(|| normalize_email(value)).flatten() {
            Some(n) => match self.normalized.entry(n) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let slot = compute(e.key().as_bytes());
                    *e.insert(slot)
                }
            },
            None => match self.raw.entry(value) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => *e.insert(compute(value.as_bytes())),
            },
        }
    }

    fn pseudonym(&self, slot: u32) -> &str {
        let start = slot as usize * PSEUDONYM_LEN;
        self.hex
            .get(start..start + PSEUDONYM_LEN)
            .unwrap_or_default()
    }
}

fn too_large(what: &str) -> RunError {
    RunError::msg(format!(
        "pseudonymize: a batch holds more than 2 GiB of {what} in one column; use smaller batches"
    ))
}

/// Rows `rows` of `strings`, every valid value replaced by its pseudonym; nulls stay null.
fn hash_strings<'a>(
    strings: &'a StringArray,
    rows: Range<usize>,
    normalize: bool,
    memo: &mut Memo<'a>,
) -> Result<StringArray, RunError> {
    if rows.len().saturating_mul(PSEUDONYM_LEN) > i32::MAX as usize {
        return Err(too_large("pseudonyms"));
    }
    let mut out = StringBuilder::with_capacity(rows.len(), rows.len() * PSEUDONYM_LEN);
    // The two values seen last, with their slots: a thread's two people alternate in `from` and
    // `to` and repeat across the rows of a thread, so most lookups end here, without hashing.
    let mut recent: [(&str, u32); 2] = [("", u32::MAX); 2];
    for i in rows {
        if strings.is_null(i) {
            out.append_null();
            continue;
        }
        let value = strings.value(i);
        let slot = match recent.iter().find(|(v, s)| *s != u32::MAX && *v == value) {
            Some((_, slot)) => *slot,
            None => {
                let slot = memo.slot(value, normalize);
                recent = [(value, slot), recent[0]];
                slot
            }
        };
        out.append_value(memo.pseudonym(slot));
    }
    Ok(out.finish())
}

/// Rows `rows` of `strings`, every valid value replaced by the mask of its length class; nulls
/// stay null.
fn mask_strings(strings: &StringArray, rows: Range<usize>) -> StringArray {
    let mut out = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
    for i in rows {
        if strings.is_null(i) {
            out.append_null();
        } else {
            out.append_value(mask_of(strings.value(i).chars().count()));
        }
    }
    out.finish()
}

fn mismatch(what: &str) -> RunError {
    RunError::msg(format!(
        "pseudonymize: a batch arrived with a {what} where its schema promised otherwise"
    ))
}

/// Rows `rows` of `array`, rewritten by `node`.
///
/// A range rather than a sliced array: a list's child rows are a range of its (unsliced) child
/// array, and rewriting only that range keeps a small slice of a large batch cheap, while every
/// string hashed still borrows from the batch (the memo keys live as long as the batch).
fn rewrite<'a>(
    node: &Node,
    array: &'a ArrayRef,
    rows: Range<usize>,
    memo: &mut Memo<'a>,
) -> Result<ArrayRef, RunError> {
    let strings = || {
        array
            .as_string_opt::<i32>()
            .ok_or_else(|| mismatch("non-string column"))
    };
    Ok(match node {
        Node::Keep => array.slice(rows.start, rows.len()),
        Node::Drop => new_null_array(array.data_type(), rows.len()),
        Node::Hash { normalize } => Arc::new(hash_strings(strings()?, rows, *normalize, memo)?),
        Node::Mask => Arc::new(mask_strings(strings()?, rows)),
        Node::Struct(children) => {
            let parent = array
                .as_struct_opt()
                .ok_or_else(|| mismatch("non-struct column"))?;
            let mut columns = Vec::with_capacity(children.len());
            // A struct's children are aligned with its rows (arrow-rs slices them with it).
            for (child, column) in children.iter().zip(parent.columns()) {
                columns.push(rewrite(child, column, rows.clone(), memo)?);
            }
            Arc::new(StructArray::try_new(
                parent.fields().clone(),
                columns,
                parent.nulls().map(|n| n.slice(rows.start, rows.len())),
            )?)
        }
        Node::List(item) => {
            let list = array
                .as_list_opt::<i32>()
                .ok_or_else(|| mismatch("non-list column"))?;
            let DataType::List(field) = list.data_type() else {
                return Err(mismatch("non-list column"));
            };
            let offsets = list
                .value_offsets()
                .get(rows.start..=rows.end)
                .ok_or_else(|| mismatch("list shorter than its batch"))?;
            let (first, last) = match (offsets.first(), offsets.last()) {
                (Some(first), Some(last)) => (*first, *last),
                _ => (0, 0),
            };
            let values = rewrite(item, list.values(), first as usize..last as usize, memo)?;
            let rebased: Vec<i32> = offsets.iter().map(|o| o - first).collect();
            Arc::new(ListArray::try_new(
                field.clone(),
                OffsetBuffer::new(ScalarBuffer::from(rebased)),
                values,
                list.nulls().map(|n| n.slice(rows.start, rows.len())),
            )?)
        }
    })
}

impl Transform for PseudonymizeTransform {
    fn output_schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        if batch.num_columns() != self.columns.len() {
            return Err(mismatch("different number of columns"));
        }
        let mut memo = Memo::new(&self.mac, batch.num_rows());
        let mut columns = Vec::with_capacity(self.columns.len());
        for (node, column) in self.columns.iter().zip(batch.columns()) {
            columns.push(rewrite(node, column, 0..column.len(), &mut memo)?);
        }
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}
