//! The partitioned, rotating, bounded writer manager shared by the file sinks.
//!
//! A format plugs in through two small traits: an [`EncoderFactory`] that opens a
//! [`FileEncoder`] on an object path, and the encoder that writes batches and closes the file.
//! [`PartitionedWriter`] does the rest: it splits each batch by partition, keeps at most
//! `max_open_files` files open (closing the least recently written one to make room — so memory
//! stays bounded however many partitions the data spans), rotates files by rows and size, names
//! every file under the run's staging directory, and at [`PartitionedWriter::finish`] commits them
//! all and writes the run manifest (see [`super::commit`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use object_store::ObjectStore;
use object_store::path::Path;

use super::commit::{
    CommitPlan, Manifest, ManifestFile, ORPHAN_AGE, PartitionValue, StagedFile, schema_json,
    staging_dir, sweep_orphans,
};
use super::generation::{self, Retired, WriteMode, Writer};
use super::partition::{PartitionKey, PartitionSpec};
use super::plan::{self, LakePlan};
use tributary_core::error::RunError;
use tributary_core::plugin::{RunContext, SinkReport};
use tributary_core::store::Target;

/// Default cap on files open at once (each holds a buffer: a Parquet row group, a JSON chunk).
pub const DEFAULT_MAX_OPEN_FILES: usize = 16;

/// One file being written. Implemented by each format (Parquet, NDJSON).
pub trait FileEncoder: Send + 'static {
    /// Encodes one batch (already without partition columns).
    fn write(&mut self, batch: &RecordBatch) -> impl Future<Output = Result<(), RunError>> + Send;

    /// Bytes the file would have if closed now (written so far plus buffered, estimated):
    /// drives rotation by `target_file_size`.
    fn size_estimate(&self) -> u64;

    /// Completes the file (footer, compression trailer, upload) and returns its size in bytes.
    fn close(self) -> impl Future<Output = Result<u64, RunError>> + Send;
}

/// Opens encoders of one format.
pub trait EncoderFactory: Send + Sync + 'static {
    /// The encoder this factory opens.
    type Encoder: FileEncoder;

    /// The format's name in manifests (`parquet`, `ndjson`).
    fn format(&self) -> &'static str;

    /// The file name extension, without the leading dot (`zstd.parquet`, `ndjson.gz`).
    fn extension(&self) -> String;

    /// Opens a new file at `path` in `store` for batches of `schema`. May not do I/O until the
    /// first write.
    fn create(
        &self,
        store: Arc<dyn ObjectStore>,
        path: Path,
        schema: &SchemaRef,
    ) -> Result<Self::Encoder, RunError>;
}

/// When to start a new file, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationOptions {
    /// At most this many files open at once; the least recently written is closed to make room.
    pub max_open_files: usize,
    /// Start a new file after this many rows (`None`: no limit).
    pub max_rows_per_file: Option<u64>,
    /// Start a new file once a file reaches about this many bytes (`None`: no limit).
    pub target_file_size: Option<u64>,
}

impl Default for RotationOptions {
    fn default() -> Self {
        Self {
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            max_rows_per_file: None,
            target_file_size: None,
        }
    }
}

impl RotationOptions {
    /// The rotation keys every file sink has (`max_open_files`, `max_rows_per_file`,
    /// `target_file_size`), each checked to be greater than 0 (in that order).
    pub fn from_keys(
        max_open_files: usize,
        max_rows_per_file: Option<u64>,
        target_file_size: crate::ByteSize,
    ) -> Result<Self, tributary_core::BuildError> {
        require_positive("max_open_files", max_open_files as u64)?;
        require_positive("max_rows_per_file", max_rows_per_file.unwrap_or(1))?;
        require_positive("target_file_size", target_file_size.bytes())?;
        Ok(Self {
            max_open_files,
            max_rows_per_file,
            target_file_size: Some(target_file_size.bytes()),
        })
    }
}

/// Refuses a 0 for a count or size key, at `key`.
pub fn require_positive(key: &'static str, value: u64) -> Result<(), tributary_core::BuildError> {
    if value == 0 {
        return Err(tributary_core::BuildError::at(
            key,
            format!("`{key}` must be greater than 0"),
        ));
    }
    Ok(())
}

struct OpenFile<E> {
    encoder: E,
    tmp: Path,
    final_path: Path,
    rows: u64,
    last_used: u64,
}

/// Writes a run's batches as partitioned files under staging names, then commits them.
///
/// Dropping it without [`PartitionedWriter::finish`] commits nothing: the staged files stay
/// under `_tributary/staging/<run_id>/`, invisible, and are swept by a later run.
pub struct PartitionedWriter<F: EncoderFactory> {
    factory: F,
    target: Target,
    spec: PartitionSpec,
    rotation: RotationOptions,
    run_id: String,
    writer: Writer,
    mode: WriteMode,
    started_at: DateTime<Utc>,
    open: HashMap<PartitionKey, OpenFile<F::Encoder>>,
    staged: Vec<StagedFile>,
    next_seq: u64,
    clock: u64,
    /// `tributary run --dry-run`: everything goes to an in-memory store that is dropped with
    /// the writer; `finish` lists what would have been written.
    dry_run: bool,
}

impl<F: EncoderFactory> std::fmt::Debug for PartitionedWriter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedWriter")
            .field("target", &self.target.display)
            .field("run_id", &self.run_id)
            .field("open", &self.open.len())
            .field("staged", &self.staged.len())
            .finish_non_exhaustive()
    }
}

impl<F: EncoderFactory> PartitionedWriter<F> {
    /// Starts an appending run on `target` (see [`PartitionedWriter::start_with_mode`]).
    pub async fn start(
        factory: F,
        target: Target,
        spec: PartitionSpec,
        rotation: RotationOptions,
        ctx: &RunContext,
    ) -> Result<Self, RunError> {
        Self::start_with_mode(factory, target, spec, rotation, WriteMode::Append, ctx).await
    }

    /// Starts a run on `target`: finishes this sink's commits a killed run left in
    /// `_tributary/commits/`, sweeps staged files of runs dead for longer than [`ORPHAN_AGE`],
    /// refuses a table that has data with `error_if_exists`, then is ready for batches.
    pub async fn start_with_mode(
        factory: F,
        target: Target,
        spec: PartitionSpec,
        rotation: RotationOptions,
        mode: WriteMode,
        ctx: &RunContext,
    ) -> Result<Self, RunError> {
        let writer = Writer::of(ctx);
        if !ctx.dry_run {
            let finished = plan::finish_interrupted(&target, &writer).await?;
            if finished > 0 {
                tracing::info!(sink = %ctx.id, runs = finished, "finished interrupted commits");
            }
        }
        if mode == WriteMode::ErrorIfExists
            && let Some(file) = generation::existing_file(&target).await?
        {
            return Err(RunError::msg(format!(
                "`write_mode = \"error_if_exists\"` and {} already holds data (for example \
                 {file}); nothing was written. Remove it or point `path` elsewhere to load it \
                 again, or choose write_mode = \"overwrite\" (replace) or \"append\" (add)",
                target.display
            )));
        }
        // A dry run encodes, partitions and rotates exactly like a real one, into memory: the
        // listing it prints is what a real run would write, and nothing touches the target.
        let target = if ctx.dry_run {
            Target::new(
                Arc::new(object_store::memory::InMemory::new()),
                target.base.clone(),
                target.display.clone(),
            )
        } else {
            let swept = sweep_orphans(&target, &ctx.run_id, ORPHAN_AGE).await;
            if swept > 0 {
                tracing::info!(sink = %ctx.id, swept, "deleted staged files of dead runs");
            }
            target
        };
        Ok(Self {
            factory,
            target,
            spec,
            rotation: RotationOptions {
                max_open_files: rotation.max_open_files.max(1),
                ..rotation
            },
            run_id: ctx.run_id.clone(),
            writer,
            mode,
            started_at: Utc::now(),
            open: HashMap::new(),
            staged: Vec::new(),
            next_seq: 0,
            clock: 0,
            dry_run: ctx.dry_run,
        })
    }

    /// Files open right now (never more than `max_open_files`).
    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    /// Files closed so far (staged, not yet committed).
    pub fn staged_files(&self) -> &[StagedFile] {
        &self.staged
    }

    /// Writes one batch: split by partition, appended to each partition's open file (opening,
    /// rotating and evicting files as needed). Nothing becomes visible.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), RunError> {
        for (key, mut part) in self.spec.split(batch)? {
            while part.num_rows() > 0 {
                let written = self.open.get(&key).map_or(0, |f| f.rows);
                let room = self
                    .rotation
                    .max_rows_per_file
                    .map_or(u64::MAX, |max| max.saturating_sub(written).max(1));
                let take = usize::try_from(room)
                    .unwrap_or(usize::MAX)
                    .min(part.num_rows());
                let chunk = part.slice(0, take);
                part = part.slice(take, part.num_rows() - take);
                if !self.open.contains_key(&key) {
                    self.open_file(&key).await?;
                }
                self.clock += 1;
                let clock = self.clock;
                let Some(file) = self.open.get_mut(&key) else {
                    return Err(RunError::msg(
                        "internal error: the partition's file is not open",
                    ));
                };
                if let Err(e) = file.encoder.write(&chunk).await {
                    return Err(file_error(&self.target, &file.final_path, "write", &e));
                }
                file.rows += take as u64;
                file.last_used = clock;
                let full = self
                    .rotation
                    .max_rows_per_file
                    .is_some_and(|m| file.rows >= m)
                    || self
                        .rotation
                        .target_file_size
                        .is_some_and(|t| file.encoder.size_estimate() >= t);
                if full {
                    self.close_file(&key).await?;
                }
            }
        }
        Ok(())
    }

    /// Closes every open file (all staged, nothing visible) and describes the run: the staged →
    /// final pairs and the manifest to write once they are in place.
    async fn close_all(&mut self) -> Result<(CommitPlan, Manifest), RunError> {
        let mut keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
        keys.sort();
        for key in keys {
            self.close_file(&key).await?;
        }
        let plan = CommitPlan {
            files: std::mem::take(&mut self.staged),
        };
        let files: Vec<ManifestFile> = plan
            .files
            .iter()
            .map(|f| ManifestFile {
                path: self.target.relative_str(&f.final_path),
                rows: f.rows,
                bytes: f.bytes,
                partition: f.partition.clone(),
            })
            .collect();
        let manifest = Manifest {
            version: 1,
            run_id: self.run_id.clone(),
            pipeline: self.writer.pipeline.clone(),
            sink: self.writer.sink.clone(),
            shard: self.writer.shard.clone(),
            format: self.factory.format().to_owned(),
            location: self.target.display.clone(),
            started_at: self.started_at,
            committed_at: Utc::now(),
            rows: plan.rows(),
            bytes: plan.bytes(),
            files,
            schema: schema_json(self.spec.data_schema()),
        };
        Ok((plan, manifest))
    }

    fn report(&self, manifest: &Manifest) -> SinkReport {
        SinkReport {
            rows: manifest.rows,
            files: manifest.files.len() as u64,
            bytes: manifest.bytes,
            location: Some(self.target.display.clone()),
        }
    }

    /// Closes every file, commits them all (renames into place), writes the run manifest,
    /// deletes the generation it replaces (`write_mode`), and reports what was committed.
    pub async fn finish(self) -> Result<SinkReport, RunError> {
        self.finish_with(super::StoreOptions::default()).await
    }

    /// [`PartitionedWriter::finish`], recording `options` in the commit record.
    pub async fn finish_with(
        mut self,
        options: super::StoreOptions,
    ) -> Result<SinkReport, RunError> {
        let (plan, manifest) = self.close_all().await?;
        if self.dry_run {
            let sink = &self.writer.sink;
            for f in &manifest.files {
                tracing::info!(sink = %sink, file = %self.target.display_path(&f.path), rows = f.rows, bytes = f.bytes, "dry run: would write");
            }
            tracing::info!(sink = %sink, rows = manifest.rows, files = manifest.files.len(), location = %self.target.display, "dry run: nothing written");
            return Ok(self.report(&manifest));
        }
        let report = self.report(&manifest);
        let plan = lake_plan(
            &self.target,
            self.mode,
            &self.writer,
            plan,
            manifest,
            options,
        )
        .await?;
        // Without a state, the lake keeps the write-ahead record itself (`_tributary/commits/`).
        plan.commit_on(&self.target, true).await?;
        // The runtime logs the commit once, for every kind of sink.
        Ok(report)
    }

    /// The first phase of a two-phase commit: closes every file (all staged, nothing visible)
    /// and returns the report and a self-contained [`LakePlan`] that
    /// [`super::commit_plan`] commits later (after the state's write-ahead record is written).
    /// `options` are the store options to reopen the target with (never secrets).
    pub async fn prepare(
        mut self,
        options: super::StoreOptions,
    ) -> Result<(SinkReport, LakePlan), RunError> {
        let (plan, manifest) = self.close_all().await?;
        let report = self.report(&manifest);
        let plan = lake_plan(
            &self.target,
            self.mode,
            &self.writer,
            plan,
            manifest,
            options,
        )
        .await?;
        Ok((report, plan))
    }

    async fn open_file(&mut self, key: &PartitionKey) -> Result<(), RunError> {
        if self.open.len() >= self.rotation.max_open_files {
            // Close the least recently written file: its partition is the least likely to get
            // more rows soon, and closing flushes its buffers, which is what bounds memory.
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, f)| f.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.close_file(&oldest).await?;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let dir = key.path();
        let name = format!("part-{}-{seq:05}.{}", self.run_id, self.factory.extension());
        let final_rel = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        let final_path = self.target.path(&final_rel);
        let tmp = staging_dir(&self.target, &self.run_id)
            .join(format!("{}.tmp", uuid::Uuid::now_v7().simple()));
        let encoder = self
            .factory
            .create(
                self.target.store.clone(),
                tmp.clone(),
                self.spec.data_schema(),
            )
            .map_err(|e| file_error(&self.target, &final_path, "create", &e))?;
        self.open.insert(
            key.clone(),
            OpenFile {
                encoder,
                tmp,
                final_path,
                rows: 0,
                last_used: 0,
            },
        );
        Ok(())
    }

    async fn close_file(&mut self, key: &PartitionKey) -> Result<(), RunError> {
        let Some(file) = self.open.remove(key) else {
            return Ok(());
        };
        let bytes = file
            .encoder
            .close()
            .await
            .map_err(|e| file_error(&self.target, &file.final_path, "finish", &e))?;
        self.staged.push(StagedFile {
            tmp: file.tmp.to_string(),
            final_path: file.final_path.to_string(),
            rows: file.rows,
            bytes,
            partition: key
                .0
                .iter()
                .map(|(c, v)| PartitionValue {
                    column: c.clone(),
                    value: v.clone(),
                })
                .collect(),
        });
        tributary_core::failpoint::hit("writer.file_closed");
        Ok(())
    }
}

/// The self-contained plan: files, manifest, and what they replace per `mode` (read from the
/// table's manifests now, so the plan is fixed before anything becomes visible). A free function
/// so the writer's encoders (not `Sync`) are not borrowed across the awaits.
async fn lake_plan(
    target: &Target,
    mode: WriteMode,
    writer: &Writer,
    plan: CommitPlan,
    manifest: Manifest,
    options: super::StoreOptions,
) -> Result<LakePlan, RunError> {
    let retire: Vec<Retired> = match mode {
        WriteMode::Overwrite | WriteMode::OverwritePartitions => {
            let earlier = generation::manifests(target).await?;
            generation::retire(mode, &earlier, writer, &manifest.run_id, &manifest.files)
        }
        WriteMode::Append | WriteMode::ErrorIfExists => Vec::new(),
    };
    // Reopen by absolute path for a local target: a roll-forward may run from elsewhere.
    let location = match &target.local_root {
        Some(root) => root.to_string_lossy().into_owned(),
        None => target.display.clone(),
    };
    tributary_core::failpoint::hit("writer.prepared");
    Ok(LakePlan {
        kind: plan::KIND.into(),
        location,
        options,
        plan,
        manifest,
        retire,
    })
}

/// An encoder failure, phrased with the file and what to do about it.
fn file_error(target: &Target, path: &Path, what: &str, e: &RunError) -> RunError {
    let shown = target.display_path(&target.relative(path));
    let hint = match io_kind(e) {
        Some(std::io::ErrorKind::StorageFull) | Some(std::io::ErrorKind::QuotaExceeded) => {
            " — the disk is full: free space or point `path` at a larger volume, then rerun \
             (nothing from this run was committed)"
        }
        Some(std::io::ErrorKind::FileTooLarge) => {
            " — the file system refused a larger file (a file size limit, e.g. `ulimit -f`): \
             lower `target_file_size` or lift the limit, then rerun"
        }
        Some(std::io::ErrorKind::PermissionDenied) => {
            " — permission denied: make the directory writable by this user, then rerun"
        }
        Some(std::io::ErrorKind::ReadOnlyFilesystem) => {
            " — the file system is read-only: point `path` at a writable location"
        }
        _ => "",
    };
    RunError::msg(format!("cannot {what} {shown}: {e}{hint}"))
}

/// The `io::ErrorKind` at the bottom of an error chain, also recognised from the message when a
/// layer (parquet, object_store) flattened the error to text.
fn io_kind(e: &RunError) -> Option<std::io::ErrorKind> {
    // `RunError::Io` is `#[error(transparent)]`: the chain starts below the io::Error.
    if let RunError::Io(io) = e {
        return Some(io.kind());
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    let text = e.to_string();
    if text.contains("No space left on device") || text.contains("os error 28") {
        Some(std::io::ErrorKind::StorageFull)
    } else if text.contains("File too large") || text.contains("os error 27") {
        Some(std::io::ErrorKind::FileTooLarge)
    } else if text.contains("Permission denied") || text.contains("os error 13") {
        Some(std::io::ErrorKind::PermissionDenied)
    } else if text.contains("Read-only file system") || text.contains("os error 30") {
        Some(std::io::ErrorKind::ReadOnlyFilesystem)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    /// Writes each batch's `n` values as text lines; tracks how many encoders are alive.
    struct TextFactory(Arc<AtomicUsize>, Arc<AtomicUsize>);
    struct TextEncoder {
        store: Arc<dyn ObjectStore>,
        path: Path,
        buf: Vec<u8>,
        alive: Arc<AtomicUsize>,
    }

    impl FileEncoder for TextEncoder {
        async fn write(&mut self, batch: &RecordBatch) -> Result<(), RunError> {
            let n = batch
                .column_by_name("n")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for v in n.values() {
                self.buf.extend_from_slice(format!("{v}\n").as_bytes());
            }
            Ok(())
        }
        fn size_estimate(&self) -> u64 {
            self.buf.len() as u64
        }
        async fn close(self) -> Result<u64, RunError> {
            let len = self.buf.len() as u64;
            self.store
                .put(&self.path, PutPayload::from(self.buf))
                .await?;
            self.alive.fetch_sub(1, Ordering::SeqCst);
            Ok(len)
        }
    }

    impl EncoderFactory for TextFactory {
        type Encoder = TextEncoder;
        fn format(&self) -> &'static str {
            "text"
        }
        fn extension(&self) -> String {
            "txt".into()
        }
        fn create(
            &self,
            store: Arc<dyn ObjectStore>,
            path: Path,
            _: &SchemaRef,
        ) -> Result<TextEncoder, RunError> {
            let alive = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            self.1.fetch_max(alive, Ordering::SeqCst);
            Ok(TextEncoder {
                store,
                path,
                buf: Vec::new(),
                alive: self.0.clone(),
            })
        }
    }

    fn batch(rows: &[(&str, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
            ],
        )
        .unwrap()
    }

    async fn list(store: &InMemory) -> Vec<String> {
        let mut v: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        v.sort();
        v
    }

    async fn writer(
        store: &Arc<InMemory>,
        rotation: RotationOptions,
        ctx: &RunContext,
    ) -> (PartitionedWriter<TextFactory>, Arc<AtomicUsize>) {
        let peak = Arc::new(AtomicUsize::new(0));
        let spec = PartitionSpec::new(&["k".into()], &batch(&[]).schema()).unwrap();
        let target = Target::new(store.clone(), Path::from("t"), "mem://t");
        let factory = TextFactory(Arc::new(AtomicUsize::new(0)), peak.clone());
        (
            PartitionedWriter::start(factory, target, spec, rotation, ctx)
                .await
                .unwrap(),
            peak,
        )
    }

    #[tokio::test]
    async fn nothing_is_visible_before_finish_and_everything_after() {
        let store = Arc::new(InMemory::new());
        let ctx = RunContext::for_test("lake");
        let (mut w, _) = writer(&store, RotationOptions::default(), &ctx).await;
        w.write(&batch(&[("a", 1), ("b", 2), ("a", 3)]))
            .await
            .unwrap();
        w.write(&batch(&[("a", 4)])).await.unwrap();
        let report = w.finish().await.unwrap();
        assert_eq!((report.rows, report.files), (4, 2));
        let run = &ctx.run_id;
        assert_eq!(
            list(&store).await,
            [
                format!("t/_tributary/manifests/{run}.json"),
                format!("t/k=a/part-{run}-00000.txt"),
                format!("t/k=b/part-{run}-00001.txt"),
            ]
        );
        let a = store
            .get(&Path::from(format!("t/k=a/part-{run}-00000.txt")))
            .await
            .unwrap();
        assert_eq!(a.bytes().await.unwrap().as_ref(), b"1\n3\n4\n");
        let m = store
            .get(&Path::from(format!("t/_tributary/manifests/{run}.json")))
            .await
            .unwrap();
        let m: Manifest = serde_json::from_slice(&m.bytes().await.unwrap()).unwrap();
        assert_eq!(m.rows, 4);
        assert_eq!(m.files[0].path, format!("k=a/part-{run}-00000.txt"));
        assert_eq!(m.files[0].partition[0].value.as_deref(), Some("a"));
        assert_eq!(
            m.schema.as_array().unwrap().len(),
            1,
            "the partition column is in the path"
        );
    }

    #[tokio::test]
    async fn a_dropped_writer_leaves_only_staged_files() {
        let store = Arc::new(InMemory::new());
        let ctx = RunContext::for_test("lake");
        let (mut w, _) = writer(
            &store,
            RotationOptions {
                max_open_files: 1,
                ..Default::default()
            },
            &ctx,
        )
        .await;
        // The eviction of `a` closes a file to staging before the run is abandoned.
        w.write(&batch(&[("a", 1), ("b", 2)])).await.unwrap();
        drop(w);
        let names = list(&store).await;
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with(&format!("t/_tributary/staging/{}/", ctx.run_id)));
        assert!(names[0].ends_with(".tmp"));
    }

    #[tokio::test]
    async fn open_files_are_capped_by_evicting_the_least_recently_written() {
        let store = Arc::new(InMemory::new());
        let ctx = RunContext::for_test("lake");
        let (mut w, peak) = writer(
            &store,
            RotationOptions {
                max_open_files: 2,
                ..Default::default()
            },
            &ctx,
        )
        .await;
        w.write(&batch(&[("a", 1), ("b", 2)])).await.unwrap();
        w.write(&batch(&[("a", 3)])).await.unwrap(); // `b` is now the oldest
        w.write(&batch(&[("c", 4)])).await.unwrap(); // evicts `b`, not `a`
        assert_eq!(w.open_files(), 2);
        assert_eq!(w.staged_files().len(), 1);
        assert!(w.staged_files()[0].final_path.contains("k=b/"));
        w.write(&batch(&[("b", 5)])).await.unwrap(); // `b` reopens as a new file
        let report = w.finish().await.unwrap();
        assert_eq!((report.rows, report.files), (5, 4));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn files_rotate_by_rows_and_by_size() {
        let store = Arc::new(InMemory::new());
        let ctx = RunContext::for_test("lake");
        let rows = RotationOptions {
            max_rows_per_file: Some(2),
            ..Default::default()
        };
        let (mut w, _) = writer(&store, rows, &ctx).await;
        w.write(&batch(&[("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5)]))
            .await
            .unwrap();
        let per_file: Vec<u64> = w.staged_files().iter().map(|f| f.rows).collect();
        assert_eq!(per_file, [2, 2]);
        let report = w.finish().await.unwrap();
        assert_eq!((report.rows, report.files), (5, 3));

        let store = Arc::new(InMemory::new());
        let size = RotationOptions {
            target_file_size: Some(4),
            ..Default::default()
        };
        let (mut w, _) = writer(&store, size, &ctx).await;
        for n in 10..15 {
            w.write(&batch(&[("a", n)])).await.unwrap(); // 3 bytes per row: rotate every 2 rows
        }
        let per_file: Vec<u64> = w.staged_files().iter().map(|f| f.rows).collect();
        assert_eq!(per_file, [2, 2]);
        assert_eq!(w.finish().await.unwrap().files, 3);
    }

    #[test]
    fn io_errors_get_an_actionable_hint() {
        let target = Target::new(Arc::new(InMemory::new()), Path::from("t"), "/data/lake");
        let full = RunError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        let e = file_error(&target, &Path::from("t/a/f.parquet"), "write", &full).to_string();
        assert!(
            e.contains("/data/lake/a/f.parquet") && e.contains("disk is full"),
            "{e}"
        );
        let text =
            RunError::msg("Generic LocalFileSystem error: No space left on device (os error 28)");
        let e = file_error(&target, &Path::from("t/f"), "finish", &text).to_string();
        assert!(e.contains("disk is full"), "{e}");
    }
    /// One run of `sink` in `mode` writing `rows`, committed (single phase, as without a state).
    async fn run_mode(
        store: &Arc<InMemory>,
        sink: &str,
        mode: WriteMode,
        rows: &[(&str, i64)],
    ) -> Result<String, RunError> {
        let ctx = RunContext::for_test(sink);
        let spec = PartitionSpec::new(&["k".into()], &batch(&[]).schema()).unwrap();
        let target = Target::new(store.clone(), Path::from("t"), "mem://t");
        let factory = TextFactory(Arc::default(), Arc::default());
        let mut w = PartitionedWriter::start_with_mode(
            factory,
            target,
            spec,
            RotationOptions::default(),
            mode,
            &ctx,
        )
        .await?;
        w.write(&batch(rows)).await?;
        w.finish().await?;
        Ok(ctx.run_id)
    }

    /// Every `k=…/part-<run>` file as `k=…:<run>` (the run id's tail).
    async fn data_files(store: &InMemory) -> Vec<String> {
        list(store)
            .await
            .into_iter()
            .filter(|p| !p.starts_with("t/_tributary/"))
            .collect()
    }

    #[tokio::test]
    async fn overwrite_replaces_every_file_of_the_sink_and_keeps_others() {
        let store = Arc::new(InMemory::new());
        let r1 = run_mode(&store, "lake", WriteMode::Append, &[("a", 1), ("b", 2)])
            .await
            .unwrap();
        let other = run_mode(&store, "other", WriteMode::Append, &[("c", 3)])
            .await
            .unwrap();
        store
            .put(
                &Path::from("t/k=a/by-hand.txt"),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
        let r2 = run_mode(&store, "lake", WriteMode::Overwrite, &[("a", 5)])
            .await
            .unwrap();
        let files = data_files(&store).await;
        assert_eq!(
            files,
            [
                "t/k=a/by-hand.txt".to_string(),
                format!("t/k=a/part-{r2}-00000.txt"),
                format!("t/k=c/part-{other}-00000.txt"),
            ],
            "the sink's earlier files are gone; another sink's and a foreign file stay"
        );
        let all = list(&store).await;
        assert!(!all.iter().any(|p| p.contains(&r1)), "{all:?}");
        assert!(all.contains(&format!("t/_tributary/manifests/{r2}.json")));
        assert!(all.contains(&format!("t/_tributary/manifests/{other}.json")));
        assert!(
            !all.iter().any(|p| p.contains("_tributary/commits/")),
            "{all:?}"
        );
        // Twice: still one generation.
        let r3 = run_mode(&store, "lake", WriteMode::Overwrite, &[("a", 6)])
            .await
            .unwrap();
        let files = data_files(&store).await;
        assert!(files.contains(&format!("t/k=a/part-{r3}-00000.txt")));
        assert!(!files.iter().any(|f| f.contains(&r2)), "{files:?}");
    }

    #[tokio::test]
    async fn overwrite_partitions_replaces_only_the_partitions_written() {
        let store = Arc::new(InMemory::new());
        let r1 = run_mode(
            &store,
            "lake",
            WriteMode::OverwritePartitions,
            &[("a", 1), ("b", 2)],
        )
        .await
        .unwrap();
        let r2 = run_mode(&store, "lake", WriteMode::OverwritePartitions, &[("a", 3)])
            .await
            .unwrap();
        assert_eq!(
            data_files(&store).await,
            [
                format!("t/k=a/part-{r2}-00000.txt"),
                format!("t/k=b/part-{r1}-00001.txt"),
            ]
        );
        // The first run's manifest now lists only what is left of it.
        let m = store
            .get(&Path::from(format!("t/_tributary/manifests/{r1}.json")))
            .await
            .unwrap();
        let m: Manifest = serde_json::from_slice(&m.bytes().await.unwrap()).unwrap();
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [format!("k=b/part-{r1}-00001.txt")]);
        assert_eq!(m.rows, 1);
        // Replacing b too retires the first run's manifest.
        let r3 = run_mode(&store, "lake", WriteMode::OverwritePartitions, &[("b", 4)])
            .await
            .unwrap();
        let all = list(&store).await;
        assert!(!all.iter().any(|p| p.contains(&r1)), "{all:?}");
        assert!(all.contains(&format!("t/k=b/part-{r3}-00000.txt")));
    }

    #[tokio::test]
    async fn error_if_exists_refuses_a_table_with_data_before_writing() {
        let store = Arc::new(InMemory::new());
        run_mode(&store, "lake", WriteMode::ErrorIfExists, &[("a", 1)])
            .await
            .unwrap();
        let before = list(&store).await;
        let e = run_mode(&store, "lake", WriteMode::ErrorIfExists, &[("a", 2)])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("error_if_exists") && e.contains("mem://t") && e.contains("overwrite"),
            "{e}"
        );
        assert_eq!(list(&store).await, before, "nothing written");
    }

    #[tokio::test]
    async fn a_commit_interrupted_after_its_record_is_finished_by_the_next_start() {
        let store = Arc::new(InMemory::new());
        let r1 = run_mode(&store, "lake", WriteMode::Append, &[("a", 1)])
            .await
            .unwrap();
        // A run that wrote its commit record, renamed one file and was killed.
        let ctx = RunContext::for_test("lake");
        let spec = PartitionSpec::new(&["k".into()], &batch(&[]).schema()).unwrap();
        let target = Target::new(store.clone(), Path::from("t"), "mem://t");
        let mut w = PartitionedWriter::start_with_mode(
            TextFactory(Arc::default(), Arc::default()),
            target.clone(),
            spec,
            RotationOptions::default(),
            WriteMode::Overwrite,
            &ctx,
        )
        .await
        .unwrap();
        w.write(&batch(&[("a", 2), ("b", 3)])).await.unwrap();
        let (_, plan) = w.prepare(Default::default()).await.unwrap();
        assert_eq!(plan.retire.len(), 1, "the plan replaces the first run");
        plan::write_intent(&target, &plan).await.unwrap();
        let first = &plan.plan.files[0];
        store
            .rename(
                &Path::from(first.tmp.as_str()),
                &Path::from(first.final_path.as_str()),
            )
            .await
            .unwrap();
        // The next run of the same sink finishes it before writing anything of its own.
        let r3 = run_mode(&store, "lake", WriteMode::Append, &[("c", 4)])
            .await
            .unwrap();
        let r2 = &ctx.run_id;
        assert_eq!(
            data_files(&store).await,
            [
                format!("t/k=a/part-{r2}-00000.txt"),
                format!("t/k=b/part-{r2}-00001.txt"),
                format!("t/k=c/part-{r3}-00000.txt"),
            ]
        );
        let all = list(&store).await;
        assert!(!all.iter().any(|p| p.contains(&r1)), "{all:?}");
        assert!(
            !all.iter().any(|p| p.contains("_tributary/commits/")),
            "{all:?}"
        );
    }
}
