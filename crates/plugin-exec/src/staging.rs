//! [`Staged`]: the small batches of the sources (one per API page) put together into one batch
//! for the child. A child pays for every batch it reads — a turn of its loop, a few reads and
//! writes, in Python a few dozen microseconds — so 256 batches of 100 rows cost it far more than
//! 4 of 6,400.

use arrow::record_batch::RecordBatch;

/// Input batches held back until they make one batch for the child (`batch_rows`): a child pays
/// for every batch (a Python loop turn, a few reads and writes), and the sources emit one small
/// batch per API page.
#[derive(Default)]
pub struct Staged {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

/// Input bytes past which the staged batches go to the child whatever their row count (bounds
/// what staging holds for wide rows).
pub const MAX_STAGED_BYTES: usize = 8 << 20;

impl Staged {
    /// Holds `batch` (a clone: its buffers are shared, not copied).
    pub fn add(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows();
        self.bytes += batch.get_array_memory_size();
        self.batches.push(batch.clone());
    }

    /// Whether the staged batches should go: `batch_rows` rows, or [`MAX_STAGED_BYTES`].
    pub fn full(&self, batch_rows: usize) -> bool {
        self.rows >= batch_rows || self.bytes >= MAX_STAGED_BYTES
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// The staged batches, in order; nothing is staged after.
    pub fn take(&mut self) -> Vec<RecordBatch> {
        self.rows = 0;
        self.bytes = 0;
        std::mem::take(&mut self.batches)
    }
}

/// One batch of `batches` (all of one schema; copied only when there are several).
pub fn concat(batches: &[RecordBatch]) -> Result<RecordBatch, arrow::error::ArrowError> {
    match batches {
        [one] => Ok(one.clone()),
        _ => {
            let schema = batches
                .first()
                .map(RecordBatch::schema)
                .ok_or_else(|| arrow::error::ArrowError::InvalidArgumentError("no batch".into()))?;
            arrow::compute::concat_batches(&schema, batches)
        }
    }
}
