//! Watermarks in and out of the run's checkpoint (`mode = "incremental"`, and the marks a
//! `full` run leaves behind).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tributary_core::checkpoint::{Checkpoint, UnitMark, boundary_ids};

use crate::client::{ConversationsRequest, UnitKey};
use crate::columns::BatchPage;

/// The key of a unit in the state: `<page_id>/<platform>/<folder>`.
pub fn unit_key(unit: &UnitKey) -> String {
    format!(
        "{}/{}/{}",
        unit.page_id,
        unit.platform.as_str(),
        unit.folder.as_str()
    )
}

/// Watermarks in and out of the run's checkpoint.
///
/// In `mode = "incremental"` the stored watermark of each unit becomes its `stop_at` (the walk
/// keeps threads *at* the watermark: two threads can share a second), and threads at the
/// watermark whose id was already committed (`ids_at_watermark`) are dropped here, so output is
/// exactly once per `(id, updated_time)`. In both modes, every unit read to the end records its
/// newest `updated_time` and the ids at it: a `full` run leaves watermarks a later incremental
/// run can start from.
pub(super) struct Incremental {
    checkpoint: Arc<Checkpoint>,
    /// Per unit: the stored watermark and the ids already committed at it.
    stored: HashMap<UnitKey, (DateTime<Utc>, BTreeSet<String>)>,
    /// Per unit: the newest `updated_time` read in this run and the ids at it.
    seen: HashMap<UnitKey, (DateTime<Utc>, BTreeSet<String>)>,
}

impl Incremental {
    pub(super) fn new(checkpoint: Arc<Checkpoint>) -> Self {
        Self {
            checkpoint,
            stored: Default::default(),
            seen: Default::default(),
        }
    }

    /// Turns the stored watermarks into the request's `stop_at`.
    pub(super) fn load(&mut self, request: &mut ConversationsRequest) {
        let marks = self.checkpoint.watermarks();
        for page in &request.pages {
            for platform in &request.platforms {
                for folder in &request.folders {
                    let unit = UnitKey {
                        page_id: page.page_id.clone(),
                        platform: *platform,
                        folder: *folder,
                    };
                    let Some(mark) = marks.get(&unit_key(&unit)) else {
                        continue;
                    };
                    match DateTime::parse_from_rfc3339(&mark.watermark) {
                        Ok(at) => {
                            let at = at.with_timezone(&Utc);
                            request.stop_at.insert(unit.clone(), at);
                            self.stored.insert(unit, (at, boundary_ids(Some(mark))));
                        }
                        Err(e) => {
                            tracing::warn!(unit = %unit, watermark = %mark.watermark, error = %e, "ignoring an unreadable stored watermark: this unit is read in full")
                        }
                    }
                }
            }
        }
    }

    /// Drops the threads already committed at the unit's watermark, and records the unit's
    /// new mark once it was read to the end.
    pub(super) fn page(&mut self, page: &mut BatchPage) -> Result<(), arrow::error::ArrowError> {
        if let Some((at, ids)) = self.stored.get(&page.unit) {
            let keep: Vec<bool> = page
                .ids()
                .zip(&page.times)
                .map(|(id, t)| !(*t == Some(*at) && ids.contains(id)))
                .collect();
            page.retain(&keep)?;
        }
        for (id, t) in page.ids().zip(&page.times) {
            let Some(u) = *t else { continue };
            let entry = self
                .seen
                .entry(page.unit.clone())
                .or_insert_with(|| (u, Default::default()));
            if u > entry.0 {
                *entry = (u, Default::default());
            }
            if u == entry.0 {
                entry.1.insert(id.to_owned());
            }
        }
        let Some(high) = page.unit_done.as_ref().and_then(|d| d.high_watermark) else {
            return Ok(());
        };
        let mut ids: BTreeSet<String> = match self.seen.get(&page.unit) {
            Some((at, ids)) if *at == high => ids.clone(),
            _ => Default::default(),
        };
        if let Some((at, stored)) = self.stored.get(&page.unit)
            && *at == high
        {
            ids.extend(stored.iter().cloned());
        }
        self.checkpoint.advance(
            unit_key(&page.unit),
            UnitMark {
                watermark: high.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ids_at_watermark: ids.into_iter().collect(),
            },
        );
        Ok(())
    }
}
