//! [`ExecTransform`]: input batches to a child's standard input, its standard output back as
//! batches.
//!
//! Data path: `push` encodes a batch and writes it to the child's pipe; a reader task decodes
//! the child's output into a channel of [`OUTPUT_BUFFER`] batches; `push` returns what that
//! channel holds once its batch is written (it also drains the channel *while* writing, or a
//! child that writes before it reads on would deadlock against a full pipe). `flush` writes the
//! end-of-stream marker and hands over the rest one batch per call. Memory therefore stays
//! bounded by a few batches whatever the volume: a slow child fills its pipe, `push` waits, the
//! source task waits, the source stops being polled.

use std::collections::VecDeque;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, mpsc};
use tributary_core::RunError;
use tributary_core::component::{ComponentId, Kind};
use tributary_core::plugin::{RunContext, Transform};

use crate::child::{Child, Output};
use crate::config::ProcessSpec;
use crate::protocol::{self, Decoder, Encoder};

/// Output batches decoded ahead of `push`/`flush` (the backpressure buffer between the child's
/// standard output and the pipeline).
pub const OUTPUT_BUFFER: usize = 2;

/// A running `exec` transform.
pub struct ExecTransform {
    spec: ProcessSpec,
    input: SchemaRef,
    output: SchemaRef,
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

struct Io {
    child: Child,
    /// `None` once the end-of-stream marker is written.
    encoder: Option<Encoder>,
    output: Output,
    /// Output that arrived while the end-of-stream marker was being written.
    pending: VecDeque<RecordBatch>,
}

impl ExecTransform {
    /// A transform that will run `spec`, reading `input` batches and emitting `output` ones.
    pub fn new(spec: ProcessSpec, input: SchemaRef, output: SchemaRef) -> Self {
        Self {
            spec,
            input,
            output,
            state: Mutex::new(State::Idle),
        }
    }

    fn spawn(&self, ctx: &RunContext) -> Result<Io, RunError> {
        let mut child = Child::spawn(&self.spec, Kind::Transform, ctx)?;
        let encoder = Encoder::new(&self.input, &metadata(ctx, Kind::Transform))?;
        let (tx, output) = mpsc::channel(OUTPUT_BUFFER);
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_output(Decoder::new(stdout, self.output.clone()), tx));
        }
        Ok(Io {
            child,
            encoder: Some(encoder),
            output,
            pending: VecDeque::new(),
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
    async fn push(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>, RunError> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(RunError::msg(
                "a batch arrived after the end of the exec stream",
            ));
        };
        let bytes = encoder.encode(batch)?;
        let mut out = Vec::new();
        match self
            .child
            .write(&bytes, Some(&mut self.output), &mut out)
            .await
        {
            Ok(true) => {}
            // Cancelled: the runtime is stopping and drops this transform (killing the child).
            Ok(false) => return Ok(Vec::new()),
            Err(e) => return Err(self.child.write_failure(e).await),
        }
        while let Ok(item) = self.output.try_recv() {
            match item {
                Ok(batch) => out.push(batch),
                Err(e) => return Err(self.child.failure(&e.to_string()).await),
            }
        }
        Ok(out)
    }

    /// Ends the input stream (once), then returns the next output batch, or `None` when the
    /// child has ended its stream and exited 0.
    async fn flush(&mut self) -> Result<Option<RecordBatch>, RunError> {
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
            self.pending.extend(out);
        }
        if let Some(batch) = self.pending.pop_front() {
            return Ok(Some(batch));
        }
        let timeout = self.child.timeout;
        let next = tokio::select! {
            next = self.output.recv() => next,
            () = tokio::time::sleep(timeout) => {
                return Err(self.child.failure(&format!(
                    "wrote no output for {} s (`timeout_secs`) after its input ended, so it was killed",
                    timeout.as_secs()
                )).await);
            }
            () = self.child.cancel.cancelled() => return Ok(None),
        };
        match next {
            Some(Ok(batch)) => Ok(Some(batch)),
            Some(Err(e)) => Err(self.child.failure(&e.to_string()).await),
            None => match self.child.exit_within(timeout).await {
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
            },
        }
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
