//! [`ExecTransform`]: input batches to a child's standard input, its standard output back as
//! batches.
//!
//! Data path: `push` stages a batch ([`Staged`]) and, once `batch_rows` rows are staged, encodes
//! them as one batch and writes it to the child's pipe; a reader task decodes the child's output
//! into a channel of [`OUTPUT_BUFFER`] batches; `push` returns what that channel holds (it also
//! drains the channel *while* writing, or a child that writes before it reads on would deadlock
//! against a full pipe). `flush` sends what is staged, writes the end-of-stream marker and hands
//! over the rest one batch per call. Memory therefore stays bounded by the staged rows and a few
//! batches whatever the volume: a slow child fills its pipe, `push` waits, the source task
//! waits, the source stops being polled.
//!
//! Row for row (`columns`), `push` sends only the named columns and holds the whole batches
//! until the child's answer comes back (`Unanswered::answered` puts the two together); past
//! [`MAX_UNANSWERED_BYTES`] held, `push` waits for answers, so memory stays bounded there too.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::future::BoxFuture;
use tokio::sync::{Mutex, mpsc};
use tributary_core::RunError;
use tributary_core::component::{ComponentId, Kind};
use tributary_core::plugin::{RunContext, Transform};

use crate::child::{Child, Output};
use crate::config::{KEEP, ProcessSpec};
use crate::protocol::{self, Decoder, Encoder};
use crate::staging::{Group, Staged};

/// Output batches decoded ahead of `push`/`flush` (the backpressure buffer between the child's
/// standard output and the pipeline).
pub const OUTPUT_BUFFER: usize = 2;

/// With `columns`: input bytes sent to the child and not yet answered beyond which `push` waits
/// for answers, down to the batch just sent (which may be larger on its own). Bounds the batches
/// held to put the unsent columns back, whatever the child's pace.
pub const MAX_UNANSWERED_BYTES: usize = 64 << 20;

/// A running `exec` transform.
pub struct ExecTransform {
    spec: ProcessSpec,
    input: SchemaRef,
    output: SchemaRef,
    /// `columns`: the child reads some columns and answers row for row.
    aligned: Option<Arc<RowForRow>>,
    /// Rows staged into one batch for the child (`batch_rows`).
    batch_rows: usize,
    // A tokio mutex: held across the pipe writes, and a transform with several inputs is pushed
    // from several source tasks, whose batches must go into the one stream one at a time.
    state: Mutex<State>,
}

enum State {
    /// Built, not started (validate, schema).
    Idle,
    Running(Box<Io>),
    /// The child exited 0 after its stream ended.
    Done,
    /// An error was returned; the child is dead.
    Failed,
}

/// What [`Io::next_output`] got.
enum Next {
    /// Output batches (none when an answer dropped every row).
    Output(Vec<RecordBatch>),
    /// The child ended its output stream.
    Ended,
    /// The run was cancelled.
    Cancelled,
}

/// How a child that reads only some columns (`columns`) is fed and how its answers become
/// output rows.
#[derive(Debug, Clone)]
pub struct RowForRow {
    /// Input columns sent to the child, in the order of `columns`.
    pub sent: Vec<usize>,
    /// Their schema (the input's, projected).
    pub sent_schema: SchemaRef,
    /// Input columns in the output (all but `output.drop`), in the input's order.
    pub kept: Vec<usize>,
    /// What the child answers for each batch: the added columns (a `keep` column may follow).
    pub answer: SchemaRef,
}

struct Io {
    child: Child,
    /// `None` once the end-of-stream marker is written.
    encoder: Option<Encoder>,
    output: Output,
    /// Output that arrived while the end-of-stream marker was being written.
    pending: VecDeque<RecordBatch>,
    /// The input and output schemas (the batches this transform takes and emits).
    input: SchemaRef,
    schema: SchemaRef,
    /// Input batches not yet sent, and how many rows make a batch for the child.
    staged: Staged,
    batch_rows: usize,
    /// `columns`: the batches sent and not yet answered.
    aligned: Option<Unanswered>,
}

impl ExecTransform {
    /// A transform that will run `spec`, reading `input` batches and emitting `output` ones.
    pub fn new(spec: ProcessSpec, input: SchemaRef, output: SchemaRef) -> Self {
        Self {
            spec,
            input,
            output,
            aligned: None,
            batch_rows: crate::config::DEFAULT_BATCH_ROWS,
            state: Mutex::new(State::Idle),
        }
    }

    /// Rows staged into one batch for the child (`batch_rows`; 1 sends every batch at once).
    #[must_use]
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows;
        self
    }

    /// The child reads only some columns and answers row for row (`columns`).
    #[must_use]
    pub fn row_for_row(mut self, aligned: RowForRow) -> Self {
        self.aligned = Some(Arc::new(aligned));
        self
    }

    fn spawn(&self, ctx: &RunContext) -> Result<Io, RunError> {
        let mut child = Child::spawn(&self.spec, Kind::Transform, ctx)?;
        let meta = metadata(ctx, Kind::Transform);
        let (encoder, decoder_schema) = match &self.aligned {
            Some(a) => (Encoder::new(&a.sent_schema, &meta)?, a.answer.clone()),
            None => (Encoder::new(&self.input, &meta)?, self.output.clone()),
        };
        let (tx, output) = mpsc::channel(OUTPUT_BUFFER);
        if let Some(stdout) = child.stdout.take() {
            let decoder = Decoder::new(stdout, decoder_schema);
            let decoder = if self.aligned.is_some() {
                decoder.allowing_keep()
            } else {
                decoder
            };
            tokio::spawn(read_output(decoder, tx));
        }
        Ok(Io {
            child,
            encoder: Some(encoder),
            output,
            pending: VecDeque::new(),
            input: self.input.clone(),
            schema: self.output.clone(),
            staged: Staged::default(),
            batch_rows: self.batch_rows,
            aligned: self.aligned.as_ref().map(|spec| Unanswered {
                spec: spec.clone(),
                unanswered: VecDeque::new(),
                size: 0,
            }),
        })
    }
}

/// The run's identity, as schema metadata of the input stream.
pub fn metadata(ctx: &RunContext, kind: Kind) -> Vec<(&'static str, String)> {
    vec![
        (
            protocol::META_COMPONENT,
            ComponentId::new(kind, &ctx.id).to_string(),
        ),
        (protocol::META_PIPELINE, ctx.pipeline.clone()),
        (protocol::META_RUN_ID, ctx.run_id.clone()),
        (
            protocol::META_SHARD,
            ctx.shard.map(|s| s.to_string()).unwrap_or_default(),
        ),
    ]
}

/// The reader task: decodes the child's output into `tx` until the end-of-stream marker (the
/// channel then closes), or sends the first error.
async fn read_output<R: tokio::io::AsyncRead + Unpin>(
    mut decoder: Decoder<R>,
    tx: mpsc::Sender<Result<RecordBatch, protocol::StreamError>>,
) {
    loop {
        match decoder.next().await {
            Ok(Some(batch)) => {
                if tx.send(Ok(batch)).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let extra = decoder.drain().await;
                if extra > 0 {
                    tracing::warn!(target: "exec", bytes = extra, "the exec child wrote bytes after the end of its Arrow stream; they were ignored");
                }
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

impl Io {
    /// Stages `batch`; once [`Staged::full`], sends what is staged as one batch. Returns the
    /// output ready so far.
    async fn push(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>, RunError> {
        if self.encoder.is_none() {
            return Err(RunError::msg(
                "a batch arrived after the end of the exec stream",
            ));
        }
        // An empty batch has nothing for the child (and row for row, nothing to answer).
        if batch.num_rows() > 0 {
            self.staged.add(batch);
        }
        if !self.staged.full(self.batch_rows) {
            // Nothing to write yet: hand on what the child has already written.
            return self.ready(Vec::new()).await;
        }
        self.send().await
    }

    /// `got` and whatever else the child has written by now, as output batches.
    async fn ready(&mut self, mut got: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, RunError> {
        while let Ok(item) = self.output.try_recv() {
            match item {
                Ok(batch) => got.push(batch),
                Err(e) => return Err(self.child.failure(&e.to_string()).await),
            }
        }
        let mut out = Vec::with_capacity(got.len());
        for batch in got {
            out.extend(self.take(batch).await?);
        }
        Ok(out)
    }

    /// Writes the staged batches to the child as one batch; returns the output that came back
    /// meanwhile.
    async fn send(&mut self) -> Result<Vec<RecordBatch>, RunError> {
        let group = self.staged.take();
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(RunError::msg(
                "a batch arrived after the end of the exec stream",
            ));
        };
        let bytes = match &mut self.aligned {
            Some(aligned) => {
                let spec = &aligned.spec;
                let bytes = encoder.encode(&group.concat(&spec.sent_schema, Some(&spec.sent))?)?;
                // Held before the write: the answer may come back while it is being written.
                aligned.hold(group);
                bytes
            }
            None => encoder.encode(&group.concat(&self.input, None)?)?,
        };
        let mut got = Vec::new();
        match self
            .child
            .write(&bytes, Some(&mut self.output), &mut got)
            .await
        {
            Ok(true) => {}
            // Cancelled: the runtime is stopping and drops this transform (killing the child).
            Ok(false) => return Ok(Vec::new()),
            Err(e) => return Err(self.child.write_failure(e).await),
        }
        let mut out = self.ready(got).await?;
        // Row for row, the batches waiting for their answer are held here: past a bound, wait
        // for the child to catch up (that is the backpressure).
        while let Some(aligned) = &self.aligned
            && aligned.unanswered.len() > 1
            && aligned.size > MAX_UNANSWERED_BYTES
        {
            let (batches, mb) = (aligned.unanswered.len(), aligned.size >> 20);
            let stalled = |secs| {
                format!(
                    "left {batches} batches ({mb} MiB) unanswered for {secs} s (`timeout_secs`), so it was killed; with `columns`, answer each batch before reading the next (flush standard output after each answer)"
                )
            };
            match self.next_output(stalled).await? {
                Next::Output(batches) => out.extend(batches),
                Next::Cancelled => return Ok(out),
                Next::Ended => return Err(self.child.failure(&unanswered(batches)).await),
            }
        }
        Ok(out)
    }

    /// The child's next output batch (as [`Io::take`] makes it), the end of its stream, or the
    /// run's cancellation; when nothing comes within `timeout_secs` the child is killed and the
    /// error says what it failed to do (`stalled`, given the seconds).
    async fn next_output(&mut self, stalled: impl FnOnce(u64) -> String) -> Result<Next, RunError> {
        let timeout = self.child.timeout;
        let next = tokio::select! {
            next = self.output.recv() => next,
            () = tokio::time::sleep(timeout) => {
                return Err(self.child.failure(&stalled(timeout.as_secs())).await);
            }
            () = self.child.cancel.cancelled() => return Ok(Next::Cancelled),
        };
        match next {
            Some(Ok(got)) => Ok(Next::Output(self.take(got).await?)),
            Some(Err(e)) => Err(self.child.failure(&e.to_string()).await),
            None => Ok(Next::Ended),
        }
    }

    /// The output for a batch the child wrote: itself, or (row for row) the batches it answers,
    /// each with its slice of the answer's columns added and its `keep` applied (batches with no
    /// row left are skipped).
    async fn take(&mut self, got: RecordBatch) -> Result<Vec<RecordBatch>, RunError> {
        let Some(aligned) = &mut self.aligned else {
            return Ok(vec![got]);
        };
        match aligned.answered(&self.schema, &got) {
            Ok(batches) => Ok(batches),
            Err(what) => Err(self.child.failure(&what).await),
        }
    }

    /// Ends the input stream (once, after the staged batches), then returns the next output
    /// batch, or `None` when the child has ended its stream and exited 0.
    async fn flush(&mut self) -> Result<Option<RecordBatch>, RunError> {
        if self.encoder.is_some() && !self.staged.is_empty() {
            let out = self.send().await?;
            self.pending.extend(out);
        }
        if let Some(encoder) = self.encoder.take() {
            let bytes = encoder.finish()?;
            let mut out = Vec::new();
            match self
                .child
                .write(&bytes, Some(&mut self.output), &mut out)
                .await
            {
                Ok(true) => self.child.close_stdin(),
                Ok(false) => return Ok(None),
                Err(e) => return Err(self.child.write_failure(e).await),
            }
            let out = self.ready(out).await?;
            self.pending.extend(out);
        }
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(Some(batch));
            }
            let stalled = |secs| {
                format!(
                    "wrote no output for {secs} s (`timeout_secs`) after its input ended, so it was killed"
                )
            };
            match self.next_output(stalled).await? {
                // Row for row, an answer may drop every row of its batches: then wait on.
                Next::Output(batches) => self.pending.extend(batches),
                Next::Cancelled => return Ok(None),
                Next::Ended => return self.end().await,
            }
        }
    }

    /// The child ended its output stream: it must have answered every batch (row for row) and
    /// exit 0.
    async fn end(&mut self) -> Result<Option<RecordBatch>, RunError> {
        if let Some(aligned) = &self.aligned
            && !aligned.unanswered.is_empty()
        {
            let what = unanswered(aligned.unanswered.len());
            return Err(self.child.failure(&what).await);
        }
        let timeout = self.child.timeout;
        match self.child.exit_within(timeout).await {
            Some(Ok(())) => Ok(None),
            // `failure` reads the exit status, known by now, into the message.
            Some(Err(_)) => Err(self.child.failure("ended its output stream, then failed").await),
            None => Err(self
                .child
                .failure(&format!(
                    "did not exit within {} s (`timeout_secs`) after the end of its stream, so it was killed",
                    timeout.as_secs()
                ))
                .await),
        }
    }
}

/// What a row-for-row child that ended its output with `n` batches unanswered did wrong.
fn unanswered(n: usize) -> String {
    format!(
        "ended its output stream with {n} batch(es) unanswered; with `columns`, the child writes one answer for every batch it reads, until its input ends"
    )
}

/// Row for row: the batches sent and not yet answered.
struct Unanswered {
    spec: Arc<RowForRow>,
    /// One entry per batch sent to the child: the input batches it was made of, oldest first.
    unanswered: VecDeque<Group>,
    /// Their size in memory.
    size: usize,
}

impl Unanswered {
    fn hold(&mut self, group: Group) {
        self.size += group.bytes;
        self.unanswered.push_back(group);
    }

    /// The output batches for `answer`, the child's answer to the oldest unanswered batch: each
    /// input batch of it with its kept columns, then its slice of the answer's added columns,
    /// rows filtered by the answer's `keep` column if it has one. Batches with no row left are
    /// left out.
    fn answered(
        &mut self,
        schema: &SchemaRef,
        answer: &RecordBatch,
    ) -> Result<Vec<RecordBatch>, String> {
        let Some(group) = self.unanswered.pop_front() else {
            return Err("wrote an answer for a batch it was not sent; with `columns`, the child writes exactly one answer per batch it reads".to_owned());
        };
        self.size = self.size.saturating_sub(group.bytes);
        let rows = group.rows;
        if answer.num_rows() != rows {
            return Err(format!(
                "answered a batch of {rows} rows with {} rows; with `columns`, the child answers each batch row for row (use a `{KEEP}` column to drop rows)",
                answer.num_rows()
            ));
        }
        let added = self.spec.answer.fields().len();
        let keep = match answer.columns().get(added) {
            Some(keep) => {
                let keep = keep
                    .as_boolean_opt()
                    .ok_or_else(|| format!("sent a `{KEEP}` column that is not bool"))?;
                // All kept: nothing to filter (the common answer of a step that adds columns).
                (keep.null_count() > 0 || keep.true_count() < keep.len()).then_some(keep)
            }
            None => None,
        };
        let mut out = Vec::with_capacity(group.batches.len());
        let mut offset = 0;
        for input in group.batches {
            let n = input.num_rows();
            let columns: Vec<ArrayRef> = self
                .spec
                .kept
                .iter()
                .map(|&i| input.column(i).clone())
                .chain(answer.columns()[..added].iter().map(|c| c.slice(offset, n)))
                .collect();
            let options = RecordBatchOptions::new().with_row_count(Some(n));
            let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)
                .map_err(|e| {
                    format!("answered columns that do not fit the declared output ({e})")
                })?;
            let batch = match keep {
                Some(keep) => arrow::compute::filter_record_batch(&batch, &keep.slice(offset, n))
                    .map_err(|e| e.to_string())?,
                None => batch,
            };
            offset += n;
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
        Ok(out)
    }
}

impl Transform for ExecTransform {
    fn output_schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Not used: an `exec` transform streams, so the runtime drives it through `push`/`flush`.
    fn apply(&self, _batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        Err(RunError::msg(
            "the exec transform streams through a child process: it runs through `Transform::push` and `Transform::flush`, not `apply`",
        ))
    }

    fn start<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            let io = self.spawn(ctx)?;
            *self.state.lock().await = State::Running(Box::new(io));
            Ok(())
        })
    }

    fn push<'a>(&'a self, batch: RecordBatch) -> BoxFuture<'a, Result<Vec<RecordBatch>, RunError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            let State::Running(io) = &mut *state else {
                return Err(not_running(&state));
            };
            let out = io.push(&batch).await;
            if out.is_err() {
                *state = State::Failed;
            }
            out
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<Option<RecordBatch>, RunError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            let State::Running(io) = &mut *state else {
                return match &*state {
                    State::Done => Ok(None),
                    other => Err(not_running(other)),
                };
            };
            match io.flush().await {
                Ok(Some(batch)) => Ok(Some(batch)),
                Ok(None) => {
                    *state = State::Done;
                    Ok(None)
                }
                Err(e) => {
                    *state = State::Failed;
                    Err(e)
                }
            }
        })
    }
}

fn not_running(state: &State) -> RunError {
    RunError::msg(match state {
        State::Idle => "the exec transform was not started (the runtime calls `start` first)",
        State::Done => "the exec transform's stream has already ended",
        State::Failed | State::Running(_) => "the exec transform's child already failed",
    })
}
