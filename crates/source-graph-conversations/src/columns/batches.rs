//! The plugin's read: every API page of a walk as one canonical batch, decoded straight into
//! columns ([`GraphClient::conversation_batches`]). The walk is the client's; this module only
//! supplies its decoder ([`Columnar`]), so the client knows nothing of Arrow columns.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tributary_core::canonical::conversations_schema;

use super::{Columns, DecodedPage, append_messages, decode_list_page};
use crate::client::decoder::{ListDecoder, MoreMessages};
use crate::client::{
    BodyError, ConversationsRequest, GraphClient, GraphError, Message, UnitDone, UnitKey,
};

/// One API page of one unit as a canonical batch ([`GraphClient::conversation_batches`]).
#[derive(Debug)]
pub struct BatchPage {
    /// Where it was read.
    pub unit: UnitKey,
    /// New threads on that page (duplicates and threads older than the watermark removed).
    pub batch: RecordBatch,
    /// Each row's `updated_time` (also when that column was not requested).
    pub times: Vec<Option<DateTime<Utc>>>,
    /// Set on the unit's last page.
    pub unit_done: Option<UnitDone>,
}

impl BatchPage {
    /// Each row's thread id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        ids(&self.batch)
    }

    /// Keeps the rows marked in `keep` (one flag per row).
    pub fn retain(&mut self, keep: &[bool]) -> Result<(), arrow::error::ArrowError> {
        if keep.iter().all(|k| *k) {
            return Ok(());
        }
        self.batch = filter_rows(&self.batch, keep)?;
        let mut flags = keep.iter();
        self.times
            .retain(|_| flags.next().copied().unwrap_or(false));
        Ok(())
    }
}

/// The rows of `batch` marked in `keep` (one flag per row).
fn filter_rows(
    batch: &RecordBatch,
    keep: &[bool],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    filter_record_batch(batch, &BooleanArray::from(keep.to_vec()))
}

impl GraphClient {
    /// [`conversations`](Self::conversations), each API page decoded straight into one batch
    /// of the canonical schema (`columns`: the columns to fill; the rest are null). What the
    /// plugin reads: no typed values in between.
    pub fn conversation_batches(
        &self,
        request: ConversationsRequest,
        columns: Columns,
    ) -> BoxStream<'static, Result<BatchPage, GraphError>> {
        let decoder = Columnar {
            columns: Arc::new(columns),
            messages_max: request.messages.as_ref().map(|m| m.max),
        };
        self.walk(request, decoder)
            .0
            .map_ok(|p| BatchPage {
                unit: p.unit,
                batch: p.rows.batch,
                times: p.rows.times,
                unit_done: p.unit_done,
            })
            .boxed()
    }
}

/// One canonical batch per page, decoded straight into columns (the plugin).
pub(crate) struct Columnar {
    /// The columns to fill.
    pub columns: Arc<Columns>,
    /// Messages kept per thread; `None`: messages are not read.
    pub messages_max: Option<usize>,
}

/// The kept rows of a page as a batch, with their `updated_time`s.
#[derive(Debug)]
pub(crate) struct BatchRows {
    /// The rows (canonical schema).
    pub batch: RecordBatch,
    /// Each row's `updated_time` (also when that column was not requested).
    pub times: Vec<Option<DateTime<Utc>>>,
}

impl ListDecoder for Columnar {
    type Page = DecodedPage;
    type Rows = BatchRows;

    fn decode(&self, body: &[u8], unit: &UnitKey) -> Result<Self::Page, BodyError> {
        Ok(decode_list_page(
            body,
            unit,
            &self.columns,
            self.messages_max,
        )?)
    }

    fn next(page: &Self::Page) -> Option<&str> {
        page.next.as_deref()
    }

    fn keys(page: &Self::Page) -> Vec<(&str, Option<DateTime<Utc>>)> {
        ids(&page.batch).zip(page.times.iter().copied()).collect()
    }

    fn keep(
        &self,
        page: Self::Page,
        keep: &[bool],
        _: &UnitKey,
    ) -> Result<(Self::Rows, Vec<MoreMessages>), String> {
        let mut more = Vec::new();
        let mut times = Vec::with_capacity(page.times.len());
        let mut kept = 0;
        for ((time, next), k) in page.times.into_iter().zip(page.more).zip(keep) {
            if !*k {
                continue;
            }
            if next.is_some() {
                more.push(MoreMessages {
                    row: kept,
                    next,
                    have: 0,
                });
            }
            times.push(time);
            kept += 1;
        }
        let batch = if kept == page.batch.num_rows() {
            page.batch
        } else {
            filter_rows(&page.batch, keep)
                .map_err(|e| format!("selecting the page's new threads: {e}"))?
        };
        if !more.is_empty() {
            let lists = batch.column(MESSAGES_COLUMN).as_list::<i32>();
            for m in &mut more {
                m.have = lists.value_length(m.row) as usize;
            }
        }
        Ok((BatchRows { batch, times }, more))
    }

    fn add_messages(
        &self,
        rows: Self::Rows,
        extra: Vec<(usize, Vec<Message>)>,
    ) -> Result<Self::Rows, String> {
        let batch = append_messages(rows.batch, &extra)
            .map_err(|e| format!("adding a thread's older messages: {e}"))?;
        Ok(BatchRows {
            batch,
            times: rows.times,
        })
    }

    fn len(rows: &Self::Rows) -> usize {
        rows.batch.num_rows()
    }

    fn empty(&self) -> Self::Rows {
        BatchRows {
            batch: RecordBatch::new_empty(conversations_schema()),
            times: Vec::new(),
        }
    }
}

/// The `id` column of a canonical batch (the decoder refuses a thread without an id, so it
/// has no nulls).
pub(crate) fn ids(batch: &RecordBatch) -> impl Iterator<Item = &str> {
    batch
        .column(ID_COLUMN)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap_or_default)
}

/// Column positions in the canonical schema (checked by a test).
const ID_COLUMN: usize = 3;
const MESSAGES_COLUMN: usize = 18;

#[cfg(test)]
mod tests {
    use tributary_core::canonical::col;

    use super::*;

    #[test]
    fn column_positions_match_the_schema() {
        let schema = conversations_schema();
        assert_eq!(schema.index_of(col::ID).unwrap(), ID_COLUMN);
        assert_eq!(schema.index_of(col::MESSAGES).unwrap(), MESSAGES_COLUMN);
    }
}
