//! Coordinates: [`Platform`], [`Folder`], the (page, platform, folder) [`UnitKey`] and the
//! [`ThreadKey`] that thread and customer ids scramble, with the bit layout they pack into.

use serde::{Deserialize, Serialize};

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
    pub(super) fn pack(self) -> u64 {
        u64::from(self.new)
            | u64::from(self.unit.page) << 1
            | self.unit.platform.bit() << (1 + PAGE_BITS)
            | self.unit.folder.bits() << (2 + PAGE_BITS)
            | u64::from(self.index) << (4 + PAGE_BITS)
    }

    pub(super) fn unpack(p: u64) -> Option<ThreadKey> {
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
