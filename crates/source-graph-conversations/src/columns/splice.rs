//! More messages for some rows of a decoded page (a thread whose nested `messages` edge had a
//! `next` page): the `messages` column is rebuilt with each row's extra messages after its own.
//! Rare (Graph sends a thread's newest messages on one nested page when asked for up to 20), so
//! this copies the column once rather than keeping every page's builders open until its
//! nested pages are read.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MutableArrayData, make_array};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use tributary_core::canonical::col;

use super::MessageLists;
use crate::client::Message;

/// `batch` with `extra[i].1` appended to the messages of row `extra[i].0` (rows ascending).
pub(crate) fn append_messages(
    batch: RecordBatch,
    extra: &[(usize, Vec<Message>)],
) -> Result<RecordBatch, ArrowError> {
    if extra.iter().all(|(_, m)| m.is_empty()) {
        return Ok(batch);
    }
    let schema = batch.schema();
    let at = schema.index_of(col::MESSAGES)?;
    let list = batch.column(at).as_list::<i32>();
    let mut more = MessageLists::default();
    for m in extra.iter().flat_map(|(_, m)| m) {
        more.items.append(m);
    }
    let more = more.finish_items()?.into_data();
    let old = list.values().to_data();
    let added: usize = extra.iter().map(|(_, m)| m.len()).sum();
    let mut values = MutableArrayData::new(vec![&old, &more], false, old.len() + added);
    let offsets = list.value_offsets();
    let mut out = Vec::with_capacity(list.len() + 1);
    out.push(0i32);
    let mut pending = extra.iter().peekable();
    let mut from = 0;
    for row in 0..list.len() {
        let (start, end) = (offsets[row], offsets[row + 1]);
        values.try_extend(0, to_usize(start)?, to_usize(end)?)?;
        let mut len = end - start;
        while let Some((_, m)) = pending.next_if(|(r, _)| *r == row) {
            values.try_extend(1, from, from + m.len())?;
            from += m.len();
            len = len
                .checked_add(i32::try_from(m.len()).map_err(overflow)?)
                .ok_or_else(|| overflow(()))?;
        }
        let last = out.last().copied().unwrap_or(0);
        out.push(last.checked_add(len).ok_or_else(|| overflow(()))?);
    }
    let field = match schema.field(at).data_type() {
        DataType::List(f) => f.clone(),
        other => {
            return Err(ArrowError::SchemaError(format!(
                "`messages` is {other}, not a list"
            )));
        }
    };
    let rebuilt = ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(out)),
        make_array(values.freeze()),
        list.nulls().cloned(),
    )?;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[at] = Arc::new(rebuilt);
    RecordBatch::try_new(schema, columns)
}

fn to_usize(offset: i32) -> Result<usize, ArrowError> {
    usize::try_from(offset).map_err(overflow)
}

fn overflow<E>(_: E) -> ArrowError {
    ArrowError::ComputeError("list offsets overflow".into())
}
