//! # plugin-exec
//!
//! The `exec` transform and the `exec` sink: a pipeline step written in any language (Python
//! with pyarrow, typically), run as a child process that speaks Arrow IPC on its standard input
//! and output. No fork of tributary, no Rust.
//!
//! ```toml
//! [transforms.lang]
//! type    = "exec"
//! inputs  = ["pages"]
//! command = ["python3", "exec/detect_lang.py"]          # run in the pipeline file's folder
//! env     = { LANG_API_KEY = "${LANG_API_KEY}" }        # the child's only secrets
//! output  = { add = [{ name = "lang", type = "utf8" }] } # what `validate`/`schema` report
//! timeout_secs = 60
//!
//! [sinks.push]
//! type    = "exec"
//! inputs  = ["lang"]
//! command = ["python3", "exec/push.py"]
//! ```
//!
//! The one design decision to know: **the child is a streaming stage, not a per-batch call.**
//! It is started once per run and reads one Arrow IPC stream while it writes one, so batches
//! need not line up (drop rows, split, buffer); tributary writes its input and reads its output
//! concurrently, with a couple of batches of buffer between them, so a slow child slows the
//! sources and memory stays bounded. The core's `Transform::push`/`flush` hooks exist for this.
//! The one exception is opt-in: a child that reads only some `columns` answers each batch row
//! for row, so that tributary can put the columns it did not send back (below).
//!
//! ## The protocol
//!
//! - **Framing.** Standard input carries one Arrow IPC *stream* (the streaming format, with the
//!   `0xFFFFFFFF` continuation marker, as pyarrow ≥ 0.15 writes it): a schema message, one
//!   record batch message per batch, then the end-of-stream marker (`0xFFFFFFFF 0x00000000`).
//!   The sources' small batches (one per API page) are put together first: a batch for the
//!   child holds `batch_rows` rows (default 1,024), or 8 MiB, or what is left at the end.
//!   A transform's standard output must be one such stream too; a sink's standard output is
//!   logged as text. Standard error is logged line by line with the component id
//!   (`component=transforms.lang`), secrets masked.
//! - **Schema.** The input schema is the upstream component's (`tributary schema FILE` shows
//!   it). A transform's output schema is declared by `output` (`"same"`, `{ add, drop }` or a full
//!   field list); the child's stream must have exactly those columns, in that order, with those
//!   types, and no nulls where `nullable = false`, or the run fails naming the column. With
//!   `columns`, the input holds only those columns and the output answers row for row (below).
//! - **Identity.** The child gets `TRIBUTARY_COMPONENT` (`transforms.lang`),
//!   `TRIBUTARY_PIPELINE`, `TRIBUTARY_RUN_ID`, `TRIBUTARY_SHARD` (`K/N`, empty when not sharded),
//!   `TRIBUTARY_DRY_RUN` (`1` under `--dry-run`) and `TRIBUTARY_PID` in its environment; the
//!   input schema's metadata carries `tributary.component`, `tributary.pipeline`,
//!   `tributary.run_id` and `tributary.shard`.
//! - **Environment.** The child's environment is exactly: `inherit_env` (default `PATH`, `HOME`,
//!   `LANG`, `LC_ALL`, `LC_CTYPE`, `TZ`, `TMPDIR`), the `env` table, and the variables above.
//!   Tokens in tributary's own environment do not leak to it. `env` values are never logged and
//!   are masked (`***`) in what the child prints; a `command` argument that repeats one is
//!   refused at validation (arguments are visible to every process on the machine).
//! - **Success and failure.** A transform succeeds when its child ends its output stream and
//!   exits 0 after tributary ended the input stream; a sink when its child exits 0 after the end
//!   of its input. Anything else — a non-zero exit, a crash, a stream closed early, bytes that
//!   are not Arrow, a wrong schema, no progress for `timeout_secs` — fails the run (exit 1) with
//!   a message naming the child, how it ended and its last lines of standard error; no sink
//!   commits.
//! - **Commit (sinks).** The end-of-stream marker arrives only once every other component of
//!   the run succeeded. Make your output visible only after reading it and before exiting 0
//!   (write to a temporary name, rename at the end). On any failure the child is killed
//!   (SIGKILL, or SIGTERM then SIGKILL after 3 s when the run is interrupted) *before* its input
//!   is closed. pyarrow cannot tell an input that ends without the marker from a complete one;
//!   if tributary itself is killed with `kill -9`, the child's input ends that way, and its
//!   parent changes: check `os.getppid() == int(os.environ["TRIBUTARY_PID"])` before you commit.
//! - **Lifecycle.** One child per component per run, started when the run starts (never by
//!   `validate` or `schema`), in `cwd` (default: the pipeline file's folder). Ctrl-C reaches it
//!   as it reaches tributary; SIGTERM to tributary is forwarded; every child is reaped.
//!
//! ## A transform in Python
//!
//! ```python
//! # exec/detect_lang.py: adds `lang`, drops threads without a snippet.
//! import sys
//! import pyarrow as pa, pyarrow.compute as pc
//!
//! def lang(text):
//!     return "fr" if text and any(w in text.split() for w in ("le", "la", "merci")) else "en"
//!
//! reader = pa.ipc.open_stream(sys.stdin.buffer)
//! schema = reader.schema.append(pa.field("lang", pa.string()))
//! with pa.ipc.new_stream(sys.stdout.buffer, schema) as out:
//!     for batch in reader:
//!         batch = batch.filter(pc.is_valid(batch["snippet"]))
//!         langs = pa.array([lang(s) for s in batch["snippet"].to_pylist()], pa.string())
//!         out.write_batch(batch.append_column("lang", langs))
//! ```
//!
//! ## Row for row: `columns`
//!
//! A step that reads a column or two of wide rows (the snippet of threads that carry their
//! messages: kilobytes a row) need not have every byte copied to it and back. With
//! `columns = ["snippet"]` the child's input stream holds only those columns, and its output
//! stream is an **answer per batch**: for each batch read, one batch of as many rows, with the
//! `output.add` columns in order, optionally followed by a boolean column `keep` (rows where it
//! is false or null are dropped). tributary holds each batch until its answer comes, then emits
//! its kept columns (all but `output.drop`) with the added ones. An answer with another row
//! count, an answer too many or too few, fails the run. Answer each batch before reading the
//! next and flush: tributary stops sending once 64 MiB of input wait for their answers.
//!
//! ```python
//! # columns = ["snippet"], output = { add = [{ name = "lang", type = "utf8" }] }
//! reader = pa.ipc.open_stream(sys.stdin.buffer)                  # just `snippet`
//! answer = pa.schema([("lang", pa.string()), ("keep", pa.bool_())])
//! with pa.ipc.new_stream(sys.stdout.buffer, answer) as out:
//!     for batch in reader:
//!         snippets = batch["snippet"]
//!         langs = pa.array([lang(s) for s in snippets.to_pylist()], pa.string())
//!         out.write_batch(pa.record_batch([langs, pc.is_valid(snippets)], schema=answer))
//!         sys.stdout.buffer.flush()                              # the answer, now
//! ```
//!
//! An `exec` sink takes `columns` too: its child gets those columns, in that order.
//!
//! Print logs to standard error (`print(..., file=sys.stderr)`), never to standard output. Try
//! it alone with `tributary run pipeline.toml --dry-run --limit 100`: sources and transforms run,
//! sinks write nothing (an `exec` sink's child is not even started). Or feed it a file:
//! `python3 -c 'import pyarrow as pa, pyarrow.parquet as pq, sys; t = pq.read_table("x.parquet");
//! w = pa.ipc.new_stream(sys.stdout.buffer, t.schema); w.write_table(t); w.close()' |
//! python3 exec/detect_lang.py > out.arrow`.

pub mod child;
pub mod config;
pub mod protocol;
pub mod sink;
pub mod staging;
pub mod transform;

use std::sync::Arc;

use tributary_core::BuildError;
use tributary_core::plugin::{
    BuildContext, BuildInput, Sink, SinkPlugin, Transform, TransformPlugin,
};

pub use crate::child::wait_for_children;
pub use crate::config::{
    DEFAULT_INHERIT_ENV, DEFAULT_TIMEOUT_SECS, ExecSinkConfig, ExecTransformConfig, OutputSpec,
    ProcessSpec,
};
pub use crate::sink::ExecSink;
pub use crate::transform::{ExecTransform, RowForRow};

/// The `exec` transform plugin (`[transforms.ID]` with `type = "exec"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecTransformPlugin;

impl TransformPlugin for ExecTransformPlugin {
    const NAME: &'static str = "exec";
    const DESCRIPTION: &'static str = "Runs a program in any language (Python + pyarrow, ...) that reads the batches as an Arrow IPC stream on stdin and writes its output stream on stdout.";
    type Config = ExecTransformConfig;

    fn build(
        config: ExecTransformConfig,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Transform>, BuildError> {
        let spec = resolve(
            &config.command,
            &config.env,
            &config.inherit_env,
            config.cwd.as_deref(),
            config.timeout_secs,
            ctx,
        )?;
        let output = config::output_schema(&config.output, &input.schema)?;
        let transform = ExecTransform::new(spec, input.schema.clone(), output.clone())
            .batch_rows(config::batch_rows(config.batch_rows)?);
        let Some(columns) = &config.columns else {
            return Ok(Box::new(transform));
        };
        let sent = config::projection(columns, &input.schema)?;
        let answer = config::answer_schema(&config.output)?;
        let kept = config::kept_columns(&config.output, &input.schema);
        let sent_schema = Arc::new(
            input
                .schema
                .project(&sent)
                .map_err(|e| BuildError::at("columns", e.to_string()))?,
        );
        Ok(Box::new(transform.row_for_row(RowForRow {
            sent,
            sent_schema,
            kept,
            answer,
        })))
    }
}

/// The `exec` sink plugin (`[sinks.ID]` with `type = "exec"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecSinkPlugin;

impl SinkPlugin for ExecSinkPlugin {
    const NAME: &'static str = "exec";
    const DESCRIPTION: &'static str = "Runs a program in any language that reads the batches as an Arrow IPC stream on stdin; its exit status 0 after the end of the stream is the commit.";
    type Config = ExecSinkConfig;

    fn build(
        config: ExecSinkConfig,
        input: &BuildInput,
        ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        let spec = resolve(
            &config.command,
            &config.env,
            &config.inherit_env,
            config.cwd.as_deref(),
            config.timeout_secs,
            ctx,
        )?;
        let sink = ExecSink::new(spec, Arc::clone(&input.schema))
            .batch_rows(config::batch_rows(config.batch_rows)?);
        Ok(Box::new(match &config.columns {
            Some(columns) => sink
                .columns(config::projection(columns, &input.schema)?)
                .map_err(|e| BuildError::at("columns", e.to_string()))?,
            None => sink,
        }))
    }
}

fn resolve(
    command: &[String],
    env: &std::collections::BTreeMap<String, String>,
    inherit_env: &[String],
    cwd: Option<&str>,
    timeout_secs: u64,
    ctx: &BuildContext,
) -> Result<ProcessSpec, BuildError> {
    // Reading tributary's environment is not I/O: `build` stays pure.
    ProcessSpec::resolve(command, env, inherit_env, cwd, timeout_secs, ctx, &|name| {
        std::env::var(name).ok()
    })
}
