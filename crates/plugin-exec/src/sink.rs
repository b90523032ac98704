//! [`ExecSink`]: batches to a child's standard input; its exit status 0 after the end of the
//! stream is the commit.
//!
//! The child is started in `start` (not at build: `validate` must not run anything), receives
//! the batches as `write` is called, `batch_rows` at a time (a slow child makes `write` wait,
//! which fills the sink's channel and pauses the sources), and sees the rest and the
//! end-of-stream marker only in `finish`, which the runtime calls only once every other
//! component succeeded. A run that fails anywhere drops the sink instead: the child is killed
//! before its input closes, so it never sees a clean end.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use tributary_core::RunError;
use tributary_core::component::{ComponentId, Kind};
use tributary_core::plugin::{RunContext, Sink, SinkReport};

use crate::child::Child;
use crate::config::ProcessSpec;
use crate::protocol::Encoder;
use crate::staging::Staged;
use crate::transform::metadata;

/// A running (or, before `start`, configured) `exec` sink.
pub struct ExecSink {
    spec: ProcessSpec,
    schema: SchemaRef,
    child: Option<Child>,
    /// `None` once the end-of-stream marker is encoded.
    encoder: Option<Encoder>,
    /// `columns`: the input columns the child gets (`None`: all), and their schema.
    sent: Option<Vec<usize>>,
    sent_schema: SchemaRef,
    /// Batches not yet sent, and how many rows make one batch for the child.
    staged: Staged,
    batch_rows: usize,
    dry_run: bool,
    rows: u64,
    bytes: u64,
}

impl ExecSink {
    /// A sink that will run `spec` and send it batches of `schema`.
    pub fn new(spec: ProcessSpec, schema: SchemaRef) -> Self {
        Self {
            spec,
            schema: Arc::clone(&schema),
            child: None,
            encoder: None,
            sent: None,
            sent_schema: Arc::clone(&schema),
            staged: Staged::default(),
            batch_rows: crate::config::DEFAULT_BATCH_ROWS,
            dry_run: false,
            rows: 0,
            bytes: 0,
        }
    }

    /// Rows staged into one batch for the child (`batch_rows`; 1 sends every batch at once).
    #[must_use]
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows;
        self
    }

    /// The staged batches as one batch, encoded (`None` if nothing is staged).
    fn encode_staged(&mut self) -> Result<Option<Vec<u8>>, RunError> {
        if self.staged.is_empty() {
            return Ok(None);
        }
        let group = self.staged.take();
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(RunError::msg("the exec sink was not started"));
        };
        Ok(Some(encoder.encode(
            &group.concat(&self.sent_schema, self.sent.as_deref())?,
        )?))
    }

    /// Sends the child only these input columns, in this order (`columns`).
    pub fn columns(mut self, sent: Vec<usize>) -> Result<Self, arrow::error::ArrowError> {
        self.sent_schema = Arc::new(self.schema.project(&sent)?);
        self.sent = Some(sent);
        Ok(self)
    }

    /// Writes `bytes` to the child; `Ok(false)` if the run was cancelled meanwhile.
    async fn send(&mut self, bytes: Vec<u8>) -> Result<bool, RunError> {
        let Some(child) = self.child.as_mut() else {
            return Err(RunError::msg("the exec sink was not started"));
        };
        match child.write(&bytes, None, &mut Vec::new()).await {
            Ok(written) => {
                self.bytes += bytes.len() as u64;
                Ok(written)
            }
            Err(e) => Err(child.write_failure(e).await),
        }
    }
}

impl Sink for ExecSink {
    fn start<'a>(&'a mut self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            if ctx.dry_run {
                // A dry run writes nothing, and the child is what writes: it is not started.
                tracing::info!(sink = %ComponentId::sink(&ctx.id), command = %self.spec.label(), "dry run: the exec sink's child is not started");
                self.dry_run = true;
                return Ok(());
            }
            let mut child = Child::spawn(&self.spec, Kind::Sink, ctx)?;
            child.log_stdout(self.spec.secrets.clone());
            let encoder = Encoder::new(&self.sent_schema, &metadata(ctx, Kind::Sink))?;
            self.child = Some(child);
            self.encoder = Some(encoder);
            Ok(())
        })
    }

    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            self.rows += batch.num_rows() as u64;
            if self.dry_run {
                return Ok(());
            }
            if batch.num_rows() > 0 {
                self.staged.add(batch);
            }
            if !self.staged.full(self.batch_rows) {
                return Ok(());
            }
            match self.encode_staged()? {
                // Cancelled: the runtime stops feeding this sink and drops it, killing the child.
                Some(bytes) => self.send(bytes).await.map(|_| ()),
                None => Ok(()),
            }
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
        Box::pin(async move {
            let location = Some(format!("exec: {}", self.spec.label()));
            if self.dry_run {
                return Ok(SinkReport {
                    rows: self.rows,
                    location,
                    ..SinkReport::default()
                });
            }
            if let Some(bytes) = self.encode_staged()?
                && !self.send(bytes).await?
            {
                return Err(RunError::Interrupted);
            }
            let Some(encoder) = self.encoder.take() else {
                return Err(RunError::msg("the exec sink was not started"));
            };
            if !self.send(encoder.finish()?).await? {
                // The child must not see a clean end: it is killed when the sink is dropped.
                return Err(RunError::Interrupted);
            }
            let Some(mut child) = self.child.take() else {
                return Err(RunError::msg("the exec sink was not started"));
            };
            child.close_stdin();
            let timeout = child.timeout;
            match child.exit_within(timeout).await {
                Some(Ok(())) => Ok(SinkReport {
                    rows: self.rows,
                    files: 0,
                    bytes: self.bytes,
                    location,
                }),
                Some(Err(_)) => Err(child
                    .failure("failed after the end of its input stream, so nothing was committed")
                    .await),
                None => Err(child
                    .failure(&format!(
                        "did not exit within {} s (`timeout_secs`) after the end of its input stream, so it was killed",
                        timeout.as_secs()
                    ))
                    .await),
            }
        })
    }
}
