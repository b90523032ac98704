//! The commit protocol of the file sinks: stage, rename into place, record a manifest.
//!
//! 1. While a run is in flight, every file is written to
//!    `<base>/_tributary/staging/<run_id>/<uuid>.tmp`. Lake readers skip it twice over: the
//!    directory starts with `_` (Hive, Spark, Trino, pyarrow and DuckDB globs over `*.parquet`
//!    ignore it) and the name does not end in `.parquet`/`.json`.
//! 2. `finish()` builds a [`CommitPlan`] (staged → final pairs) and runs [`CommitPlan::commit`]:
//!    one `rename` per file. On a local disk that is an atomic `rename(2)`; on S3/GCS/Azure it
//!    is a server-side copy (a single object appears complete or not at all) then a delete.
//! 3. Only then is `<base>/_tributary/manifests/<run_id>.json` written (one atomic put). A
//!    manifest therefore means "every file of this run is in place".
//!
//! **Resumable.** `commit` skips a pair whose staged file is gone and whose final file exists with
//! the expected size, and a rename interrupted between copy and delete is simply redone, so a
//! plan can be run again after a crash to roll a half-committed run forward. The plan is
//! serializable so a write-ahead record (the state file) can carry it.
//!
//! **Orphans.** A run that dies before `finish` leaves its staging directory behind (invisible
//! to readers). `start()` of a later run sweeps staged files older than [`ORPHAN_AGE`]: long
//! enough that no live run and no roll-forward of the previous run can lose its files, short
//! enough that dead runs do not pile up. Incomplete S3 multipart uploads are not visible as
//! objects at all; a bucket lifecycle rule (`AbortIncompleteMultipartUpload`) reclaims them.

use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use tributary_core::error::RunError;
use tributary_core::store::{Target, join};

/// Where staged files live, relative to the table's base.
pub const STAGING_DIR: &str = "_tributary/staging";
/// Where run manifests live, relative to the table's base.
pub const MANIFEST_DIR: &str = "_tributary/manifests";
/// Staged files older than this belong to dead runs and are swept by the next run's `start()`.
pub const ORPHAN_AGE: Duration = Duration::from_secs(24 * 3600);
/// How many renames run at once (object stores rename by copy: latency-bound, not CPU-bound).
const COMMIT_CONCURRENCY: usize = 8;

/// One partition value of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionValue {
    /// The partition key (`platform`, `updated_date`).
    pub column: String,
    /// The value (`None` for null: the `__HIVE_DEFAULT_PARTITION__` directory).
    pub value: Option<String>,
}

/// A file written under its staging name, and where it goes on commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// The staging object path (full path inside the store).
    pub tmp: String,
    /// The final object path (full path inside the store).
    pub final_path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the complete file in bytes (used to recognise a pair already committed).
    pub bytes: u64,
    /// The file's partition values, in `partition_by` order.
    pub partition: Vec<PartitionValue>,
}

/// Everything one run must rename into place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPlan {
    /// The files, in the order they were closed.
    pub files: Vec<StagedFile>,
}

impl CommitPlan {
    /// Renames every staged file to its final name. Idempotent: pairs already committed (staged
    /// file gone, final file present with the expected size) are skipped, so a plan interrupted
    /// half-way can be run again.
    pub async fn commit(&self, store: &dyn ObjectStore) -> Result<(), RunError> {
        // Collected first: a stream holding the mapping closure trips the compiler's
        // higher-ranked `Send` check when the sink's future is boxed.
        let renames: Vec<_> = self.files.iter().map(|f| commit_one(store, f)).collect();
        futures::stream::iter(renames)
            .buffer_unordered(COMMIT_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Total rows.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Total bytes.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

async fn commit_one(store: &dyn ObjectStore, file: &StagedFile) -> Result<(), RunError> {
    let tmp = join(&Path::default(), &file.tmp);
    let fin = join(&Path::default(), &file.final_path);
    match store.rename(&tmp, &fin).await {
        Ok(()) => {
            tributary_core::failpoint::hit("commit.rename");
            Ok(())
        }
        Err(object_store::Error::NotFound { .. }) => match store.head(&fin).await {
            Ok(meta) if meta.size == file.bytes => Ok(()),
            Ok(meta) => Err(RunError::msg(format!(
                "cannot commit {}: the staged file is gone and the final file has {} bytes, not \
                 the {} that were written; the run must be redone",
                file.final_path, meta.size, file.bytes
            ))),
            Err(e) => Err(RunError::msg(format!(
                "cannot commit {}: the staged file {} is gone and the final file is absent ({e}); \
                 the run must be redone",
                file.final_path, file.tmp
            ))),
        },
        // The final file exists already: a rename interrupted between its copy and its delete
        // on a store whose rename refuses to overwrite (object_store 0.13's GCS client renames
        // with a create-if-absent copy: apache/arrow-rs-object-store#712). Same size: the copy
        // was complete, only the staged file is left to remove.
        Err(object_store::Error::AlreadyExists { .. }) => match store.head(&fin).await {
            Ok(meta) if meta.size == file.bytes => match store.delete(&tmp).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(RunError::msg(format!(
                    "cannot remove the staged file {} of the committed {}: {e}",
                    file.tmp, file.final_path
                ))),
            },
            _ => Err(RunError::msg(format!(
                "cannot commit {}: a different file of that name is already there; the run \
                 must be redone",
                file.final_path
            ))),
        },
        Err(e) => Err(RunError::msg(format!(
            "cannot commit {} (rename from {}): {e}",
            file.final_path, file.tmp
        ))),
    }
}

/// The record of one committed run, at `<base>/_tributary/manifests/<run_id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version (1).
    pub version: u32,
    /// The run.
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The sink's id (`[sinks.ID]`).
    pub sink: String,
    /// The shard (`s0of4`) of a `--shard K/N` run. With pipeline and sink it identifies the
    /// writer whose files `write_mode = "overwrite"` replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The file format (`parquet`, `ndjson`).
    pub format: String,
    /// The table location as configured.
    pub location: String,
    /// When the sink started.
    pub started_at: DateTime<Utc>,
    /// When its files were committed.
    pub committed_at: DateTime<Utc>,
    /// Rows in all files.
    pub rows: u64,
    /// Bytes in all files.
    pub bytes: u64,
    /// The files, with paths relative to the table location.
    pub files: Vec<ManifestFile>,
    /// The Arrow schema of the files (partition columns excluded: they are in the paths).
    pub schema: serde_json::Value,
}

/// One committed file in a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the table location.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
    /// Partition values.
    pub partition: Vec<PartitionValue>,
}

impl Manifest {
    /// `<base>/_tributary/manifests/<run_id>.json`.
    pub fn path(target: &Target, run_id: &str) -> Path {
        target.path(&format!("{MANIFEST_DIR}/{run_id}.json"))
    }

    /// Writes the manifest in one put (atomic on every store).
    pub async fn write(&self, target: &Target) -> Result<Path, RunError> {
        let path = Self::path(target, &self.run_id);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| RunError::msg(format!("cannot serialize the run manifest: {e}")))?;
        target.store.put(&path, PutPayload::from(json)).await.map_err(|e| {
            RunError::msg(format!(
                "the files of run {} are committed, but its manifest {} could not be written: {e}",
                self.run_id,
                target.display_path(&target.relative(&path))
            ))
        })?;
        Ok(path)
    }
}

/// The staging directory of `run_id`.
pub fn staging_dir(target: &Target, run_id: &str) -> Path {
    target.path(&format!("{STAGING_DIR}/{run_id}"))
}

/// Deletes staged files older than `older_than`, except those of `current_run`. Best effort:
/// returns how many were deleted; failures are logged, never fatal (the files are invisible).
pub async fn sweep_orphans(target: &Target, current_run: &str, older_than: Duration) -> usize {
    let root = target.path(STAGING_DIR);
    let mine = staging_dir(target, current_run);
    let cutoff =
        Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut listing = target.store.list(Some(&root));
    let mut deleted = 0;
    while let Some(item) = listing.next().await {
        match item {
            Ok(meta) if meta.last_modified < cutoff && !meta.location.prefix_matches(&mine) => {
                match target.store.delete(&meta.location).await {
                    Ok(()) => deleted += 1,
                    Err(e) => {
                        tracing::warn!(path = %meta.location, error = %e, "cannot delete an orphaned staged file")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the staging directory; orphans are left");
                break;
            }
        }
    }
    if let Some(root_dir) = &target.local_root {
        remove_empty_dirs(&root_dir.join(STAGING_DIR));
    }
    deleted
}

/// Removes empty directories below `dir` (local disks keep them after renames; object stores
/// have none). Non-empty ones and errors are left alone.
pub(crate) fn remove_empty_dirs(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs(&entry.path());
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// The schema as JSON: `[{name, type, nullable, fields?}]`, nested types spelled out.
pub fn schema_json(schema: &Schema) -> serde_json::Value {
    serde_json::Value::Array(schema.fields().iter().map(|f| field_json(f)).collect())
}

fn field_json(field: &Field) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("name".into(), field.name().clone().into());
    let (ty, children): (String, Option<Vec<serde_json::Value>>) = match field.data_type() {
        DataType::Struct(fields) => (
            "Struct".into(),
            Some(fields.iter().map(|f| field_json(f)).collect()),
        ),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            ("List".into(), Some(vec![field_json(item)]))
        }
        other => (other.to_string(), None),
    };
    obj.insert("type".into(), ty.into());
    obj.insert("nullable".into(), field.is_nullable().into());
    if let Some(children) = children {
        obj.insert("fields".into(), children.into());
    }
    serde_json::Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    async fn stage(store: &InMemory, tmp: &str, body: &'static [u8]) -> StagedFile {
        store
            .put(&Path::from(tmp), PutPayload::from_static(body))
            .await
            .unwrap();
        StagedFile {
            tmp: tmp.into(),
            final_path: tmp
                .replace("_tributary/staging/r1/", "p=x/")
                .replace(".tmp", ".parquet"),
            rows: 1,
            bytes: body.len() as u64,
            partition: vec![PartitionValue {
                column: "p".into(),
                value: Some("x".into()),
            }],
        }
    }

    #[tokio::test]
    async fn commit_renames_and_is_resumable() {
        let store = InMemory::new();
        let a = stage(&store, "_tributary/staging/r1/a.tmp", b"aaaa").await;
        let b = stage(&store, "_tributary/staging/r1/b.tmp", b"bb").await;
        let plan = CommitPlan {
            files: vec![a.clone(), b.clone()],
        };
        // A crash after the first rename: run the plan again and it completes.
        store
            .rename(
                &Path::from(a.tmp.as_str()),
                &Path::from(a.final_path.as_str()),
            )
            .await
            .unwrap();
        plan.commit(&store).await.unwrap();
        plan.commit(&store).await.unwrap();
        let names: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["p=x/a.parquet", "p=x/b.parquet"]);
        assert_eq!((plan.rows(), plan.bytes()), (2, 6));
        // The plan survives a JSON round trip (the write-ahead record of the state file).
        let back: CommitPlan =
            serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(back, plan);
    }

    /// An in-memory store whose copies never overwrite, as object_store 0.13's GCS client
    /// copies on `rename` (apache/arrow-rs-object-store#712).
    #[derive(Debug)]
    struct NoOverwrite(InMemory);

    impl std::fmt::Display for NoOverwrite {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "NoOverwrite")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for NoOverwrite {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.0.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.0.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
            self.0.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.0.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.0.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            let create = object_store::CopyOptions {
                mode: object_store::CopyMode::Create,
                ..options
            };
            self.0.copy_opts(from, to, create).await
        }
    }

    #[tokio::test]
    async fn a_copy_done_before_a_crash_is_finished_on_a_store_that_will_not_overwrite() {
        let inner = InMemory::new();
        let a = stage(&inner, "_tributary/staging/r1/a.tmp", b"aaaa").await;
        let b = stage(&inner, "_tributary/staging/r1/b.tmp", b"bb").await;
        let store = NoOverwrite(inner);
        // A crash between the copy of `a` and the delete of its staged file.
        store
            .copy(
                &Path::from(a.tmp.as_str()),
                &Path::from(a.final_path.as_str()),
            )
            .await
            .unwrap();
        let plan = CommitPlan {
            files: vec![a.clone(), b.clone()],
        };
        plan.commit(&store).await.unwrap();
        let mut names: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        names.sort();
        assert_eq!(names, ["p=x/a.parquet", "p=x/b.parquet"]);

        // A different file under the final name is not taken for the committed one.
        let c = stage(&store.0, "_tributary/staging/r1/c.tmp", b"cccc").await;
        store
            .put(
                &Path::from(c.final_path.as_str()),
                PutPayload::from_static(b"other content"),
            )
            .await
            .unwrap();
        let e = CommitPlan { files: vec![c] }
            .commit(&store)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("a different file"), "{e}");
    }

    #[tokio::test]
    async fn commit_fails_when_a_staged_file_vanished() {
        let store = InMemory::new();
        let a = stage(&store, "_tributary/staging/r1/a.tmp", b"aaaa").await;
        store.delete(&Path::from(a.tmp.as_str())).await.unwrap();
        let e = CommitPlan { files: vec![a] }
            .commit(&store)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("p=x/a.parquet") && e.contains("redone"), "{e}");
    }

    #[tokio::test]
    async fn sweep_deletes_only_old_files_of_other_runs() {
        let store = Arc::new(InMemory::new());
        let target = Target::new(store.clone(), Path::from("t"), "mem://t");
        for p in [
            "t/_tributary/staging/old/x.tmp",
            "t/_tributary/staging/mine/y.tmp",
            "t/data.parquet",
        ] {
            store
                .put(&Path::from(p), PutPayload::from_static(b"1"))
                .await
                .unwrap();
        }
        // Nothing is old enough with a one-hour cutoff...
        assert_eq!(
            sweep_orphans(&target, "mine", Duration::from_secs(3600)).await,
            0
        );
        // ...with a zero cutoff, only the other run's staged file goes.
        assert_eq!(sweep_orphans(&target, "mine", Duration::ZERO).await, 1);
        assert!(
            store
                .head(&Path::from("t/_tributary/staging/mine/y.tmp"))
                .await
                .is_ok()
        );
        assert!(store.head(&Path::from("t/data.parquet")).await.is_ok());
    }

    #[test]
    fn schema_json_spells_out_nested_types() {
        let s = tributary_core::canonical::conversations_schema();
        let j = schema_json(&s);
        let messages = &j.as_array().unwrap()[18];
        assert_eq!(messages["name"], "messages");
        assert_eq!(messages["type"], "List");
        assert_eq!(messages["fields"][0]["type"], "Struct");
        assert_eq!(messages["fields"][0]["fields"][1]["name"], "created_time");
        assert_eq!(j[4]["type"], "Timestamp(ms, \"UTC\")");
    }
}
