//! [`LakeSink`]: the whole runtime side of a file sink. A format plugin (Parquet, NDJSON)
//! validates its config into a target, a partition spec, rotation options and an
//! [`EncoderFactory`]; everything after that — staging, rotation, the two-phase commit, dry runs —
//! is this one type, so every file sink commits the same way.

use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;

use super::{
    EncoderFactory, PartitionSpec, PartitionedWriter, RotationOptions, TargetSpec, WriteMode,
};
use tributary_core::error::RunError;
use tributary_core::plugin::{Prepared, RunContext, Sink, SinkReport};

/// A sink writing partitioned files of format `F` through the lake layer.
pub struct LakeSink<F: EncoderFactory> {
    target: TargetSpec,
    spec: PartitionSpec,
    rotation: RotationOptions,
    mode: WriteMode,
    factory: Option<F>,
    writer: Option<PartitionedWriter<F>>,
    format: &'static str,
}

impl<F: EncoderFactory> std::fmt::Debug for LakeSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSink")
            .field("format", &self.format)
            .field("target", &self.target.display())
            .finish_non_exhaustive()
    }
}

impl<F: EncoderFactory> LakeSink<F> {
    /// A sink that will write to `target`, split by `spec`, rotating per `rotation`, with files
    /// from `factory`. Pure: I/O starts at [`Sink::start`].
    pub fn new(
        target: TargetSpec,
        spec: PartitionSpec,
        rotation: RotationOptions,
        factory: F,
    ) -> Self {
        let format = factory.format();
        Self {
            target,
            spec,
            rotation,
            mode: WriteMode::Append,
            factory: Some(factory),
            writer: None,
            format,
        }
    }

    /// The same sink with `write_mode` `mode` (default: append).
    #[must_use]
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    fn out_of_order(&self, what: &str) -> RunError {
        RunError::msg(format!("the {} sink {what}", self.format))
    }
}

impl<F: EncoderFactory> Sink for LakeSink<F> {
    fn start<'a>(&'a mut self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            let Some(factory) = self.factory.take() else {
                return Err(self.out_of_order("was started twice"));
            };
            let target = self.target.open()?;
            let writer = PartitionedWriter::start_with_mode(
                factory,
                target,
                self.spec.clone(),
                self.rotation,
                self.mode,
                ctx,
            )
            .await?;
            self.writer = Some(writer);
            Ok(())
        })
    }

    fn appends(&self) -> Option<&'static str> {
        (self.mode == WriteMode::Append).then_some("write_mode")
    }

    fn replaces(&self) -> Option<&'static str> {
        matches!(
            self.mode,
            WriteMode::Overwrite | WriteMode::OverwritePartitions
        )
        .then_some("write_mode")
    }

    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            match self.writer.as_mut() {
                Some(w) => w.write(batch).await,
                None => Err(self.out_of_order("received data before start()")),
            }
        })
    }

    fn stages(&self) -> bool {
        true
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
        Box::pin(async move {
            match self.writer {
                Some(w) => w.finish_with(self.target.options().clone()).await,
                None => Err(RunError::msg(format!(
                    "the {} sink was finished without start()",
                    self.format
                ))),
            }
        })
    }

    fn prepare(self: Box<Self>) -> BoxFuture<'static, Result<Prepared, RunError>> {
        Box::pin(async move {
            let Some(w) = self.writer else {
                return Err(RunError::msg(format!(
                    "the {} sink was prepared without start()",
                    self.format
                )));
            };
            let (report, plan) = w.prepare(self.target.options().clone()).await?;
            Ok(Prepared {
                report,
                plan: Some(plan.to_json()?),
            })
        })
    }
}
