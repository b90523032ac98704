//! [`Staged`]: the small batches of the sources (one per API page) put together into one batch
//! for the child. Every batch costs the child a turn of its loop and a few reads and writes, and
//! both processes a wake-up or two; a group of 1,024 rows pays that once instead of 10 times.

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

/// Input bytes past which the staged batches go to the child whatever their row count (bounds
/// what staging holds for wide rows).
pub const MAX_STAGED_BYTES: usize = 8 << 20;

/// Input batches held back until they make one batch for the child (`batch_rows`).
#[derive(Default)]
pub struct Staged {
    group: Group,
}

/// Input batches that go to the child as one batch, in order, and their size in memory.
#[derive(Default)]
pub struct Group {
    /// The batches (clones: their buffers are shared, not copied).
    pub batches: Vec<RecordBatch>,
    /// Their rows, added up as they came.
    pub rows: usize,
    /// Their size in memory, added up as they came.
    pub bytes: usize,
}

impl Staged {
    /// Holds `batch`.
    pub fn add(&mut self, batch: &RecordBatch) {
        self.group.rows += batch.num_rows();
        self.group.bytes += batch.get_array_memory_size();
        self.group.batches.push(batch.clone());
    }

    /// Whether the staged batches should go: `batch_rows` rows, or [`MAX_STAGED_BYTES`].
    pub fn full(&self, batch_rows: usize) -> bool {
        self.group.rows >= batch_rows || self.group.bytes >= MAX_STAGED_BYTES
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.group.batches.is_empty()
    }

    /// The staged batches; nothing is staged after.
    pub fn take(&mut self) -> Group {
        std::mem::take(&mut self.group)
    }
}

impl Group {
    /// One batch of `schema` made of the columns at `indices` (`None`: all) of every batch, in
    /// order. A column is copied only when the group has several batches; no schema is built
    /// per batch.
    pub fn concat(
        &self,
        schema: &SchemaRef,
        indices: Option<&[usize]>,
    ) -> Result<RecordBatch, ArrowError> {
        let width = self.batches.first().map_or(0, RecordBatch::num_columns);
        let all: Vec<usize>;
        let indices = match indices {
            Some(i) => i,
            None => {
                all = (0..width).collect();
                &all
            }
        };
        let columns = indices
            .iter()
            .map(|&i| match self.batches.as_slice() {
                [one] => Ok(one.column(i).clone()),
                many => {
                    let parts: Vec<&dyn arrow::array::Array> =
                        many.iter().map(|b| b.column(i).as_ref()).collect();
                    arrow::compute::concat(&parts)
                }
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        RecordBatch::try_new_with_options(schema.clone(), columns, &options)
    }
}
