//! How a walk turns list-page bodies into what it emits: typed [`Thread`]s here (the client
//! API), or one Arrow batch per page (the plugin: `crate::columns::batches`). The walk itself
//! — paging, dedupe, watermarks, nested message pages — is the same for both.

use chrono::{DateTime, Utc};
use serde::de::Error as _;

use super::http::BodyError;
use super::model::{Edge, Message, Thread, ThreadNode, UnitKey};

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
