//! The run-wide dedupe set: every thread id emitted in this run, with its newest `updated_time`.
//!
//! It lives for the whole run and holds every thread id (a million at a large Page), so it is
//! the one structure of a run that grows with the input; everything else is bounded by
//! configuration. Hence the layout, 16 bytes an id instead of a heap string and a `DateTime`
//! (~100 bytes) or a general-purpose hash map of them (~35 bytes at its usual fill):
//!
//! - An id is known by two SipHash-1-3 values with independent random keys: the first 64 bits
//!   are the key, 32 bits of the second are checked on a match (96 bits: two of 10^9 ids pass
//!   for one with probability ~10^-11) and 6 more pick one of [`SHARDS`] shards.
//! - A time is Graph's whole seconds (`updated_time` has no finer part) in a `u32`.
//! - A shard is a sorted array, exactly sized, plus a small hash map of recent ids that is
//!   merged into it when it fills. A hash map alone grows by doubling: 1.3–2.6× the payload,
//!   and old and new tables live at once while it grows.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use chrono::{DateTime, Utc};

/// Number of shards (a power of two). Each merge rewrites one shard: 1/64 of the set.
const SHARDS: usize = 64;

/// Recent ids a shard holds before merging them into its sorted array. Larger means fewer
/// merges (each copies the shard) and more memory in the maps (~35 bytes an entry).
const RECENT_MAX: usize = 1024;

/// `None` (a thread without `updated_time`) is older than any time.
const NO_TIME: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// Low 32 bits of the id's second hash.
    check: u32,
    /// Newest `updated_time` emitted, in Unix seconds; [`NO_TIME`] for none.
    secs: u32,
}

/// What [`Seen::remember`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sighting {
    /// Not seen before (now remembered).
    New,
    /// Seen before with an older time (now remembered with this one).
    Newer,
    /// Seen before with this time or a newer one.
    Again,
}

/// Ids seen in this run, with the newest `updated_time` emitted for each.
pub(crate) struct Seen {
    hashers: (RandomState, RandomState),
    shards: Vec<Shard>,
}

#[derive(Default)]
struct Shard {
    /// Sorted by key, no two equal keys, capacity == length.
    sorted: Vec<(u64, Entry)>,
    /// Ids not yet merged into `sorted` (never also in it).
    recent: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
}

/// The maps' hasher: keys are SipHash values already, so hashing them again is wasted work.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("Seen keys are u64")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            hashers: (RandomState::new(), RandomState::new()),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

impl Seen {
    /// Notes `id` at `time` and says how it compares with what was seen before.
    pub(crate) fn remember(&mut self, id: &str, time: Option<DateTime<Utc>>) -> Sighting {
        let key = self.hashers.0.hash_one(id);
        let second = self.hashers.1.hash_one(id);
        let shard = &mut self.shards[(second >> (64 - SHARDS.trailing_zeros())) as usize];
        let entry = Entry {
            check: second as u32,
            secs: time.map_or(NO_TIME, |t| {
                // 1970..=2106; earlier times count as 1970 (still newer than none).
                t.timestamp().clamp(1, i64::from(u32::MAX)) as u32
            }),
        };
        let known = match shard.sorted.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => Some(&mut shard.sorted[i].1),
            Err(_) => shard.recent.get_mut(&key),
        };
        match known {
            // Another id with the same 64-bit key (~10^-8 at 1M ids): emit it rather than risk
            // dropping a thread; it is not remembered, so a re-sent copy would be emitted too.
            Some(old) if old.check != entry.check => Sighting::New,
            Some(old) if entry.secs > old.secs => {
                *old = entry;
                Sighting::Newer
            }
            Some(_) => Sighting::Again,
            None => {
                shard.recent.insert(key, entry);
                if shard.recent.len() >= RECENT_MAX {
                    shard.merge();
                }
                Sighting::New
            }
        }
    }

    /// Ids remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.sorted.len() + s.recent.len())
            .sum()
    }
}

impl Shard {
    /// Moves the recent ids into the sorted array, into a new allocation of exactly the size
    /// needed (a `Vec` grown in place would double its capacity). The stable sort finds the
    /// already sorted prefix as one run, so this costs about a sort of the recent ids plus one
    /// merge pass.
    fn merge(&mut self) {
        let mut merged = Vec::with_capacity(self.sorted.len() + self.recent.len());
        merged.extend_from_slice(&self.sorted);
        merged.extend(self.recent.drain());
        merged.sort_by_key(|&(k, _)| k);
        self.sorted = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, 0)
    }

    #[test]
    fn remembers_every_id_with_its_newest_time_across_merges() {
        let mut seen = Seen::default();
        // 200,000 ids: ~3,100 a shard, so every shard has merged a few times.
        let n = 200_000;
        for i in 0..n {
            assert_eq!(
                seen.remember(&format!("t_{i}"), at(1_700_000_000 + i)),
                Sighting::New
            );
        }
        assert_eq!(seen.len(), n as usize);
        for i in 0..n {
            let id = format!("t_{i}");
            assert_eq!(
                seen.remember(&id, at(1_700_000_000 + i)),
                Sighting::Again,
                "{id}"
            );
            assert_eq!(
                seen.remember(&id, at(1_600_000_000)),
                Sighting::Again,
                "{id}"
            );
            assert_eq!(seen.remember(&id, None), Sighting::Again, "{id}");
            assert_eq!(
                seen.remember(&id, at(1_800_000_000 + i)),
                Sighting::Newer,
                "{id}"
            );
            assert_eq!(
                seen.remember(&id, at(1_800_000_000 + i)),
                Sighting::Again,
                "{id}"
            );
        }
        assert_eq!(seen.len(), n as usize);
        for shard in &seen.shards {
            assert!(
                shard.sorted.windows(2).all(|w| w[0].0 < w[1].0),
                "sorted, no repeats"
            );
            assert_eq!(shard.sorted.capacity(), shard.sorted.len(), "exactly sized");
            assert!(
                shard
                    .recent
                    .keys()
                    .all(|k| shard.sorted.binary_search_by_key(k, |e| e.0).is_err())
            );
            // ~3,100 ids a shard: none empty, none with many times its share.
            let len = shard.sorted.len() + shard.recent.len();
            assert!(len > 2_000 && len < 4_500, "{len}");
        }
    }

    #[test]
    fn orders_missing_and_extreme_times() {
        let mut seen = Seen::default();
        assert_eq!(seen.remember("a", None), Sighting::New);
        assert_eq!(seen.remember("a", None), Sighting::Again);
        // Any time is newer than none, even one before 1970.
        assert_eq!(seen.remember("a", at(-5)), Sighting::Newer);
        assert_eq!(seen.remember("a", at(4_294_967_295)), Sighting::Newer);
        assert_eq!(
            seen.remember("a", at(9_000_000_000)),
            Sighting::Again,
            "clamped to 2106"
        );
        assert_eq!(size_of::<(u64, Entry)>(), 16);
    }
}
