//! The walk of one unit: sequential pages, newest first, following `paging.next`.
//!
//! Rules (Meta, "Paginated Results": <https://developers.facebook.com/docs/graph-api/results/>;
//! and what clients learned the hard way):
//! - stop only when `next` is absent; an empty page with a `next` is normal;
//! - follow `next` verbatim (minus credentials, re-added at send time), only to the configured
//!   origin; a `next` already requested in this pass is an error (a cursor that does not advance);
//! - dedupe by id across the whole run, keeping the newest `updated_time`;
//! - the listing is ordered by activity, so a thread that gets a message mid-walk jumps to the
//!   top (the walk misses it) and pushes the others down (the walk sees one twice). A duplicate
//!   is the symptom; the cure is another pass from the top down to the newest time the previous
//!   pass started from. Passes repeat while they find something new, at most [`MAX_REWALKS`].
//! - with a `stop_at` watermark, threads strictly older are skipped and paging stops after the
//!   page that reached them. Equal times are kept: two threads can share a second.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::Stream;
use secrecy::SecretString;
use tracing::{debug, info};
use url::Url;

use super::decoder::ListDecoder;
use super::error::GraphError;
use super::http::{Caller, Shrink};
use super::metrics::{NoProbe, SourceMetrics, UnitProbe};
use super::model::{Edge, Message, UnitKey};
use super::pacing::Pacer;
use super::secure::{CleanUrl, origin_of};
use super::seen::{Seen, Sighting};
use super::{Inner, UnitDone, Watermarks};

/// Extra passes from the top per unit when the listing moved under the walk.
pub const MAX_REWALKS: u32 = 3;

/// Ids seen in this run, with the newest `updated_time` emitted for each.
pub(crate) type SeenIds = Arc<Mutex<Seen>>;

/// What every unit of one `conversations()` call shares.
pub(crate) struct WalkShared<D> {
    pub inner: Arc<Inner>,
    pub decoder: Arc<D>,
    pub messages_max: Option<usize>,
    pub max_pages: Option<u64>,
    pub seen: SeenIds,
    pub watermarks: Arc<Watermarks>,
}

/// One API page of one unit, as the walk emits it.
pub(crate) struct WalkPage<R> {
    pub unit: UnitKey,
    pub rows: R,
    pub unit_done: Option<UnitDone>,
}

pub(crate) struct UnitWalk<D> {
    pub shared: Arc<WalkShared<D>>,
    pub probe: Arc<dyn UnitProbe>,
    pub inner: Arc<Inner>,
    pub unit: UnitKey,
    pub token: SecretString,
    pub pacer: Arc<Pacer>,
    pub first: CleanUrl,
    pub stop_at: Option<DateTime<Utc>>,
    // Walk state.
    pub next: Option<CleanUrl>,
    pub requested: HashSet<String>,
    pub pages: u64,
    pub threads: u64,
    pub high: Option<DateTime<Utc>>,
    /// Newest time on the first page of the current pass.
    pub pass_top: Option<DateTime<Utc>>,
    pub pass_first_page: bool,
    /// Lower bound of the current re-walk (the previous pass's `pass_top`).
    pub floor: Option<DateTime<Utc>>,
    pub rewalks: u32,
    /// This pass saw a sign that the listing moved (a duplicate, or news in a re-walk).
    pub moved: bool,
    pub finished: bool,
}

impl<D: ListDecoder> UnitWalk<D> {
    pub fn new(
        shared: Arc<WalkShared<D>>,
        unit: UnitKey,
        token: SecretString,
        first: CleanUrl,
        stop_at: Option<DateTime<Utc>>,
    ) -> UnitWalk<D> {
        let inner = shared.inner.clone();
        let pacer = inner.pacer(&unit.page_id);
        let probe = match &inner.observer {
            Some(o) => o.probe(&unit),
            None => Arc::new(NoProbe),
        };
        UnitWalk {
            shared,
            probe,
            inner,
            unit,
            token,
            pacer,
            next: Some(first.clone()),
            first,
            stop_at,
            requested: HashSet::new(),
            pages: 0,
            threads: 0,
            high: None,
            pass_top: None,
            pass_first_page: true,
            floor: None,
            rewalks: 0,
            moved: false,
            finished: false,
        }
    }

    pub fn into_stream(
        self,
    ) -> impl Stream<Item = Result<WalkPage<D::Rows>, GraphError>> + Send + 'static {
        futures::stream::unfold(self, |mut walk| async move {
            let item = walk.next_page().await?;
            if item.is_err() {
                walk.finished = true;
            }
            Some((item, walk))
        })
    }

    /// The next non-empty page (or the final page carrying the unit's summary).
    async fn next_page(&mut self) -> Option<Result<WalkPage<D::Rows>, GraphError>> {
        if self.finished {
            return None;
        }
        loop {
            let Some(url) = self.next.take() else {
                if self.start_rewalk() {
                    continue;
                }
                // Only reached when the unit had nothing at all after the last emitted page.
                let empty = self.shared.decoder.empty();
                return Some(Ok(self.finish(empty)));
            };
            match self.fetch_page(url).await {
                Err(e) => return Some(Err(e)),
                Ok(rows) => {
                    if self.next.is_none() && !self.start_rewalk() {
                        return Some(Ok(self.finish(rows)));
                    }
                    if D::len(&rows) > 0 {
                        return Some(Ok(WalkPage {
                            unit: self.unit.clone(),
                            rows,
                            unit_done: None,
                        }));
                    }
                }
            }
        }
    }

    /// Starts another pass from the top if the last one saw the listing move.
    fn start_rewalk(&mut self) -> bool {
        if !self.moved || self.rewalks >= MAX_REWALKS {
            return false;
        }
        self.rewalks += 1;
        SourceMetrics::add(&self.inner.metrics.rewalks, 1);
        info!(unit = %self.unit, pass = self.rewalks + 1,
            "the listing changed during the walk; re-reading the newest threads");
        self.floor = self.pass_top.or(self.floor);
        self.pass_top = None;
        self.pass_first_page = true;
        self.moved = false;
        self.requested.clear();
        self.next = Some(self.first.clone());
        true
    }

    fn finish(&mut self, rows: D::Rows) -> WalkPage<D::Rows> {
        self.finished = true;
        let high = match (self.high, self.stop_at) {
            (Some(h), Some(s)) => Some(h.max(s)),
            (h, s) => h.or(s),
        };
        if let Some(h) = high {
            self.shared.watermarks.set(&self.unit, h);
        }
        SourceMetrics::add(&self.inner.metrics.units_done, 1);
        self.probe.done();
        debug!(unit = %self.unit, pages = self.pages, threads = self.threads, "unit done");
        WalkPage {
            unit: self.unit.clone(),
            rows,
            unit_done: Some(UnitDone {
                high_watermark: high,
                threads: self.threads,
                api_pages: self.pages,
            }),
        }
    }

    /// Fetches one list page, sets `self.next`, and returns the threads to emit.
    async fn fetch_page(&mut self, url: CleanUrl) -> Result<D::Rows, GraphError> {
        if let Some(max) = self.shared.max_pages
            && self.pages >= max
        {
            return Err(GraphError::TooManyPages {
                unit: self.unit.clone(),
                max,
            });
        }
        self.requested.insert(url.as_str().to_string());
        let inner = self.inner.clone();
        let (page, _used) = {
            let caller = self.caller();
            let decoder = self.shared.decoder.clone();
            let unit = self.unit.clone();
            let decode = move |body: &[u8]| decoder.decode(body, &unit);
            inner
                .get_decoded(&caller, url, Shrink::Limit, decode)
                .await?
        };
        self.pages += 1;
        let next = match D::next(&page) {
            Some(n) => Some(self.pin(n)?),
            None => None,
        };
        if let Some(n) = &next
            && self.requested.contains(n.as_str())
        {
            return Err(GraphError::CursorNotAdvancing {
                unit: self.unit.clone(),
                url: n.to_string(),
            });
        }
        let lower = match (self.stop_at, self.floor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let first_page = std::mem::replace(&mut self.pass_first_page, false);
        let mut reached_lower = false;
        let keys = D::keys(&page);
        let mut keep = Vec::with_capacity(keys.len());
        for (id, time) in keys {
            if first_page {
                self.pass_top = max_time(self.pass_top, time);
            }
            if let (Some(lower), Some(t)) = (lower, time)
                && t < lower
            {
                reached_lower = true;
                keep.push(false);
                continue;
            }
            let kept = self.keep(id, time);
            if kept {
                self.high = max_time(self.high, time);
            }
            keep.push(kept);
        }
        self.next = if reached_lower { None } else { next };
        let decoder = self.shared.decoder.clone();
        let (rows, more) = decoder
            .keep(page, &keep, &self.unit)
            .map_err(|message| self.batch_error(message))?;
        let rows = match self.shared.messages_max {
            Some(max) if !more.is_empty() => {
                let caller = self.caller();
                let mut extra = Vec::with_capacity(more.len());
                for m in more {
                    let room = max.saturating_sub(m.have);
                    extra.push((m.row, self.more_messages(m.next, room, &caller).await?));
                }
                decoder
                    .add_messages(rows, extra)
                    .map_err(|message| self.batch_error(message))?
            }
            _ => rows,
        };
        let n = D::len(&rows) as u64;
        self.threads += n;
        SourceMetrics::add(&self.inner.metrics.threads, n);
        self.inner.metrics.unit_threads(&self.unit, n);
        self.probe.rows(n);
        Ok(rows)
    }

    /// This unit as the caller of a request.
    fn caller(&self) -> Caller<'_> {
        Caller {
            unit: &self.unit,
            label: &self.unit,
            token: &self.token,
            pacer: &self.pacer,
            probe: self.probe.as_ref(),
        }
    }

    fn batch_error(&self, message: String) -> GraphError {
        GraphError::Decode {
            unit: self.unit.clone(),
            url: self.first.to_string(),
            message,
        }
    }

    /// Run-wide dedupe. Returns whether to emit; notes duplicates as a sign the listing moved.
    fn keep(&mut self, id: &str, time: Option<DateTime<Utc>>) -> bool {
        // A poisoned set is still the run's set: skipping it would emit duplicates.
        let mut seen = tributary_core::sync::lock(&self.shared.seen);
        match seen.remember(id, time) {
            Sighting::New => {
                if self.floor.is_some() {
                    // A re-walk found a thread the previous pass missed: look again.
                    self.moved = true;
                }
                true
            }
            Sighting::Newer => {
                self.moved = true;
                true
            }
            Sighting::Again => {
                if self.floor.is_none() {
                    self.moved = true;
                }
                SourceMetrics::add(&self.inner.metrics.duplicates, 1);
                false
            }
        }
    }

    /// Up to `room` more messages of a thread, following its nested `messages.paging.next`.
    async fn more_messages(
        &self,
        mut next: Option<String>,
        room: usize,
        caller: &Caller<'_>,
    ) -> Result<Vec<Message>, GraphError> {
        let mut out = Vec::new();
        let mut requested = HashSet::new();
        while out.len() < room {
            let Some(n) = next.take() else { break };
            let url = self.pin(&n)?;
            if !requested.insert(url.as_str().to_string()) {
                return Err(GraphError::CursorNotAdvancing {
                    unit: self.unit.clone(),
                    url: url.to_string(),
                });
            }
            let (page, _): (Edge<Message>, _) =
                self.inner.get_json(caller, url, Shrink::No).await?;
            next = page.next().map(str::to_owned);
            if page.data.is_empty() && next.is_none() {
                break;
            }
            out.extend(page.data);
        }
        out.truncate(room);
        Ok(out)
    }

    /// Parses a `next` link and checks it stays on the configured origin.
    fn pin(&self, next: &str) -> Result<CleanUrl, GraphError> {
        let url = Url::parse(next).map_err(|e| GraphError::Decode {
            unit: self.unit.clone(),
            url: self.first.to_string(),
            message: format!("`paging.next` is not a URL ({e})"),
        })?;
        let found = origin_of(&url);
        if found != self.inner.origin {
            return Err(GraphError::ForeignNext {
                unit: self.unit.clone(),
                found,
                expected: self.inner.origin.clone(),
            });
        }
        Ok(CleanUrl::new(url))
    }
}

fn max_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
