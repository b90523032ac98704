//! The synthetic dataset: every thread and message is a pure function of the seed and its
//! coordinates `(page, platform, folder, index)`, so a million-thread unit costs no memory.
//! Mutations (new, updated, deleted threads) live in a small [`Overlay`] on top.
//!
//! Index 0 of a unit is its newest thread; `updated_time` strictly decreases with the index
//! (except where [`crate::Faults::equal_times_every`] deliberately injects ties).
//!
//! Rooms: [`keys`] (coordinates and their bit layout) and [`text`] (the fixed texts) import
//! nothing here; [`dataset`] builds on both; [`overlay`] on the dataset. This file only
//! declares them and names what the crate uses.

mod dataset;
mod keys;
mod overlay;
mod text;

pub use dataset::page_id;
pub(crate) use dataset::{BASE_EPOCH, Dataset, MessageData, ThreadData};
pub use keys::{Folder, Platform};
pub(crate) use keys::{ThreadKey, UnitKey};
pub(crate) use overlay::{Overlay, UnitView};
