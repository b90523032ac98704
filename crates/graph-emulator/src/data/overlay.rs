//! Mutations on top of the pure dataset: the [`Overlay`] of new, updated and deleted threads,
//! and [`UnitView`], one unit's listing as base threads plus overlay.

use std::collections::{BTreeSet, HashMap};

use super::dataset::{BASE_EPOCH, Dataset, ThreadData};
use super::keys::{MAX_THREADS_PER_UNIT, ThreadKey, UnitKey};

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
    use crate::config::EmulatorConfig;
    use crate::data::keys::{Folder, Platform};

    fn ds() -> Dataset {
        Dataset::new(&EmulatorConfig::default())
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
