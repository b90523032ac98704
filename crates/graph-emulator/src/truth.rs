//! Ground truth (everything that exists now), statistics and mutations: the public data types
//! a test uses to compare what a pipeline wrote against what the emulator holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Folder, Overlay, Platform, ThreadData, UnitKey, UnitView};
use crate::fields::all_thread_fields;
use crate::render::{Ctx, push_thread};

/// Every thread that exists now, in listing order: page, platform (messenger, instagram),
/// folder (inbox, other, page_done, spam), then newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The threads.
    pub threads: Vec<TruthThread>,
}

/// One thread as the API serves it with every field requested.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthThread {
    /// The page it is listed under.
    pub page_id: String,
    /// `messenger` or `instagram`.
    pub platform: Platform,
    /// The folder it is listed in.
    pub folder: Folder,
    /// Conversation id.
    pub id: String,
    /// `updated_time` exactly as served (`2026-11-20T09:28:50+0000`).
    pub updated_time: String,
    /// `message_count`.
    pub message_count: u64,
    /// `unread_count` (served only when non-zero).
    pub unread_count: u64,
    /// `snippet` (decoded text).
    pub snippet: String,
    /// Message ids, newest first (only the newest 20 have details).
    pub message_ids: Vec<String>,
    /// The thread object exactly as Graph serves it with all fields — `id`, `updated_time`,
    /// `link`, `snippet`, `message_count`, `unread_count` (when non-zero), `can_reply`,
    /// `is_subscribed`, `name`, `scoped_thread_key`, `wallpaper`, `folder`, `is_owner`,
    /// `participants`, `senders`, `former_participants`, `messages{id,created_time,from,to,
    /// message,sticker,tags,attachments,is_unsupported}` with *every* message and no `paging`
    /// objects — in Graph's escaping (`\uXXXX`, `\/`). Parse it to compare values.
    pub json: String,
}

impl GroundTruth {
    /// All conversation ids.
    pub fn ids(&self) -> Vec<&str> {
        self.threads.iter().map(|t| t.id.as_str()).collect()
    }

    /// The threads of one (page, platform, folder) unit, newest first.
    pub fn unit<'a>(
        &'a self,
        page_id: &'a str,
        platform: Platform,
        folder: Folder,
    ) -> impl Iterator<Item = &'a TruthThread> + 'a {
        self.threads
            .iter()
            .filter(move |t| t.page_id == page_id && t.platform == platform && t.folder == folder)
    }

    /// A thread by id.
    pub fn get(&self, id: &str) -> Option<&TruthThread> {
        self.threads.iter().find(|t| t.id == id)
    }

    /// The NDJSON export served at `GET /__emulator/ground_truth`: one line per thread,
    /// `{"page_id":..,"platform":..,"folder":..,<the thread's fields>}`.
    pub fn to_ndjson(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for t in &self.threads {
            push_ndjson_line(
                &mut out,
                &t.page_id,
                t.platform,
                t.folder,
                t.json.as_bytes(),
            );
        }
        out
    }

    /// Writes [`GroundTruth::to_ndjson`] to a file: the file export of the whole dataset.
    pub fn write_ndjson(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_ndjson())
    }
}

/// Appends one ground-truth NDJSON line given a thread object's JSON.
pub(crate) fn push_ndjson_line(
    out: &mut Vec<u8>,
    page_id: &str,
    platform: Platform,
    folder: Folder,
    thread_json: &[u8],
) {
    out.extend_from_slice(b"{\"page_id\":\"");
    out.extend_from_slice(page_id.as_bytes());
    out.extend_from_slice(b"\",\"platform\":\"");
    out.extend_from_slice(platform.as_str().as_bytes());
    out.extend_from_slice(b"\",\"folder\":\"");
    out.extend_from_slice(folder.as_str().as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(thread_json.get(1..).unwrap_or_default());
    out.push(b'\n');
}

/// Every unit in listing order.
pub(crate) fn units(ds: &Dataset) -> impl Iterator<Item = UnitKey> + '_ {
    (0..ds.pages as u32).flat_map(|page| {
        Platform::ALL.into_iter().flat_map(move |platform| {
            Folder::ALL.into_iter().map(move |folder| UnitKey {
                page,
                platform,
                folder,
            })
        })
    })
}

/// Renders one thread in ground-truth form.
pub(crate) fn truth_json(ds: &Dataset, t: &ThreadData, out: &mut Vec<u8>) {
    let ctx = Ctx {
        ds,
        origin: "",
        version: "",
        token_q: None,
        truth: true,
    };
    push_thread(out, &ctx, t, &all_thread_fields(usize::MAX));
}

pub(crate) fn build(ds: &Dataset, overlay: &Overlay) -> GroundTruth {
    let mut threads = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    for unit in units(ds) {
        let view = UnitView::new(ds, overlay, unit);
        for t in view.iter_from(0) {
            buf.clear();
            truth_json(ds, &t, &mut buf);
            let message_ids = (0..t.message_count())
                .filter_map(|pos| t.message(pos))
                .map(|m| {
                    let mut id = Vec::with_capacity(48);
                    ds.push_message_id(&mut id, &t, m.seq);
                    String::from_utf8(id).unwrap_or_default()
                })
                .collect();
            threads.push(TruthThread {
                page_id: ds.page_ids[unit.page as usize].clone(),
                platform: unit.platform,
                folder: unit.folder,
                id: ds.thread_id(&t),
                updated_time: crate::util::graph_time(t.updated_time()),
                message_count: u64::from(t.message_count()),
                unread_count: u64::from(t.unread_count()),
                snippet: ds.message_text(&t, t.message_count() - 1).raw.clone(),
                message_ids,
                json: String::from_utf8_lossy(&buf).into_owned(),
            });
        }
    }
    GroundTruth { threads }
}

/// A change to the dataset, applied on top of the generated data (see
/// [`crate::RunningEmulator::mutate`]; also `POST /__emulator/mutate` with this as JSON, e.g.
/// `{"update":{"thread_id":"t_123"}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutation {
    /// `count` new threads (with fresh messages) at the top of a unit.
    NewThreads {
        /// Page id.
        page_id: String,
        /// Platform.
        platform: Platform,
        /// Folder.
        folder: Folder,
        /// How many.
        count: usize,
    },
    /// A customer writes a new message in a thread: it gets a new `updated_time`, one more
    /// message, and moves to the top of its unit.
    Update {
        /// Conversation id.
        thread_id: String,
    },
    /// The thread disappears.
    Delete {
        /// Conversation id.
        thread_id: String,
    },
}

/// Per-page counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStats {
    /// Graph requests attributed to this page.
    pub requests: u64,
    /// Requests answered with a throttle (rate limiter or injected).
    pub throttled: u64,
    /// Threads served in list and node responses.
    pub threads_served: u64,
}

/// Counters since start (see [`crate::RunningEmulator::stats`], `GET /__emulator/stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every HTTP request, `/__emulator/` ones included.
    pub requests_total: u64,
    /// Requests per route: `conversations`, `conversation`, `messages`, `message`, `page`,
    /// `emulator`, `unknown`.
    pub requests_by_route: BTreeMap<String, u64>,
    /// Responses per HTTP status.
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Error responses per Graph error code.
    pub errors_by_code: BTreeMap<i64, u64>,
    /// Throttle responses per code (4, 17, 32, 613, 80006), from the rate limiter or faults.
    pub throttled_by_code: BTreeMap<i64, u64>,
    /// Faults injected, by kind (`connection-reset`, `truncate-body`, `empty-page`,
    /// `repeat-across-boundary`, `move-to-top`, `error-613`, ...).
    pub faults_injected: BTreeMap<String, u64>,
    /// Threads served in list and node responses.
    pub threads_served: u64,
    /// Response body bytes produced for Graph routes (before any compression).
    pub bytes_served: u64,
    /// Graph responses sent gzip-compressed.
    pub gzipped_responses: u64,
    /// Compressed bytes of the gzipped responses.
    pub gzipped_bytes: u64,
    /// Per page id.
    pub per_page: BTreeMap<String, PageStats>,
}
