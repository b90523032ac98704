//! How a walk turns list-page bodies into what it emits: typed [`Thread`]s (the client API)
//! or one Arrow batch per page (the plugin, decoded straight into columns). The walk itself —
//! paging, dedupe, watermarks, nested message pages — is the same for both.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use tributary_core::canonical::conversations_schema;

use super::http::BodyError;
use super::model::{Edge, Message, Thread, ThreadNode, UnitKey};
use crate::columns::{Columns, DecodedPage, append_messages, decode_list_page};

/// A kept row whose nested `messages` edge has a next page and fewer messages than wanted.
pub(crate) struct MoreMessages {
    /// Index among the kept rows.
    pub row: usize,
    /// The nested `paging.next`.
    pub next: Option<String>,
    /// Messages the row already has.
    pub have: usize,
}

/// Decoding, row keys and row selection for one kind of output.
pub(crate) trait ListDecoder: Send + Sync + 'static {
    /// A decoded list page.
    type Page: Send + 'static;
    /// What the kept rows of a page become.
    type Rows: Send + 'static;

    /// Decodes a list page of `unit` (runs on the blocking pool for large bodies).
    fn decode(&self, body: &[u8], unit: &UnitKey) -> Result<Self::Page, BodyError>;
    /// `paging.next`.
    fn next(page: &Self::Page) -> Option<&str>;
    /// Each row's id and `updated_time`, in order.
    fn keys(page: &Self::Page) -> Vec<(&str, Option<DateTime<Utc>>)>;
    /// The rows marked in `keep`, and those that need more messages.
    fn keep(
        &self,
        page: Self::Page,
        keep: &[bool],
        unit: &UnitKey,
    ) -> Result<(Self::Rows, Vec<MoreMessages>), String>;
    /// Appends more messages to some rows (ascending row order).
    fn add_messages(
        &self,
        rows: Self::Rows,
        extra: Vec<(usize, Vec<Message>)>,
    ) -> Result<Self::Rows, String>;
    /// Number of rows.
    fn len(rows: &Self::Rows) -> usize;
    /// No rows.
    fn empty(&self) -> Self::Rows;
}

/// Typed threads (the client's [`conversations`](super::GraphClient::conversations)).
pub(crate) struct Typed {
    /// Messages kept per thread; `None`: messages are not read.
    pub messages_max: Option<usize>,
}

impl ListDecoder for Typed {
    type Page = Edge<ThreadNode>;
    type Rows = Vec<Thread>;

    fn decode(&self, body: &[u8], _: &UnitKey) -> Result<Self::Page, BodyError> {
        let page: Edge<ThreadNode> = serde_json::from_slice(body)?;
        if page.data.iter().any(|n| n.id.is_none()) {
            return Err(serde_json::Error::custom("a conversation without `id`").into());
        }
        Ok(page)
    }

    fn next(page: &Self::Page) -> Option<&str> {
        page.next()
    }

    fn keys(page: &Self::Page) -> Vec<(&str, Option<DateTime<Utc>>)> {
        page.data
            .iter()
            .map(|n| (n.id.as_deref().unwrap_or_default(), n.updated_time))
            .collect()
    }

    fn keep(
        &self,
        page: Self::Page,
        keep: &[bool],
        unit: &UnitKey,
    ) -> Result<(Self::Rows, Vec<MoreMessages>), String> {
        let mut rows = Vec::with_capacity(page.data.len());
        let mut more = Vec::new();
        for (mut node, _) in page.data.into_iter().zip(keep).filter(|(_, k)| **k) {
            let id = node.id.take().unwrap_or_default();
            let (mut thread, edge) = node.into_thread(unit, id);
            if let Some(max) = self.messages_max {
                let (mut data, next) = match edge {
                    Some(e) => {
                        let next = e.next().map(str::to_owned);
                        (e.data, next)
                    }
                    None => (Vec::new(), None),
                };
                data.truncate(max);
                if next.is_some() && data.len() < max {
                    more.push(MoreMessages {
                        row: rows.len(),
                        next,
                        have: data.len(),
                    });
                }
                thread.messages = Some(data);
            }
            rows.push(thread);
        }
        Ok((rows, more))
    }

    fn add_messages(
        &self,
        mut rows: Self::Rows,
        extra: Vec<(usize, Vec<Message>)>,
    ) -> Result<Self::Rows, String> {
        for (row, messages) in extra {
            if let Some(t) = rows.get_mut(row) {
                t.messages.get_or_insert_default().extend(messages);
            }
        }
        Ok(rows)
    }

    fn len(rows: &Self::Rows) -> usize {
        rows.len()
    }

    fn empty(&self) -> Self::Rows {
        Vec::new()
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
pub struct BatchRows {
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
            filter_record_batch(&page.batch, &BooleanArray::from(keep.to_vec()))
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
