//! Write modes of the file sinks, and how a run's files replace an earlier generation.
//!
//! `write_mode` decides what a committed run does to what the same sink committed before:
//!
//! | mode | the run's files | earlier files of this sink |
//! |---|---|---|
//! | `append` (default) | added | kept |
//! | `overwrite` | added | all deleted |
//! | `overwrite_partitions` | added | deleted in the partitions this run wrote, kept elsewhere |
//! | `error_if_exists` | added | the run fails before writing if anything is at `path` |
//!
//! **Which files are "the sink's".** Only files listed in a run manifest
//! (`_tributary/manifests/<run>.json`) written by the same pipeline, sink and shard ([`Writer`]).
//! A file someone copied into the table, or another pipeline's or shard's files, are never
//! deleted.
//!
//! **Crash safety.** The old generation is deleted only after the new one is committed, and the
//! deletion is part of the commit plan ([`super::LakePlan::retire`]):
//!
//! 1. (without `[pipeline] state`) the plan is written to `_tributary/commits/<run>.json`, the
//!    lake's own write-ahead record (with a state, the state's `pending` record plays this role);
//! 2. staged files are renamed into place, then the run manifest is written;
//! 3. the old generation's files are deleted, then their manifests deleted (or rewritten without
//!    the replaced files, for `overwrite_partitions`);
//! 4. the write-ahead record is removed.
//!
//! Every step is idempotent, and a run killed anywhere after step 1 is finished by the next run
//! before it reads anything (from the state's `pending`, or from `_tributary/commits/` at the
//! sink's start). Killed before step 1, nothing of the run is visible.
//!
//! **The window.** Between step 2 and the end of step 3 (and, after a kill there, until the next
//! run), a reader that lists the directory (DuckDB `read_parquet('…/**/*.parquet')`, Spark or
//! Trino on a plain Hive table) sees both generations. A table format closes that window: the
//! `delta` sink's `mode = "overwrite"` swaps generations in one Delta commit.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::commit::{MANIFEST_DIR, Manifest, ManifestFile, STAGING_DIR};
use tributary_core::error::RunError;
use tributary_core::failpoint;
use tributary_core::plugin::RunContext;
use tributary_core::store::Target;

/// Where the lake's write-ahead records of commits in flight live, relative to the table's base.
pub const COMMITS_DIR: &str = "_tributary/commits";
/// How many deletions run at once (object stores delete one request per file).
const DELETE_CONCURRENCY: usize = 8;

/// What a run does to the files the same sink committed before (`write_mode`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Add this run's files; keep everything committed before.
    #[default]
    Append,
    /// This run's files replace every file the sink committed before (deleted after the new
    /// ones are committed).
    Overwrite,
    /// Only the Hive partitions this run wrote are replaced; other partitions are kept (Spark's
    /// dynamic partition overwrite).
    OverwritePartitions,
    /// Fail before writing anything when `path` already holds data.
    ErrorIfExists,
}

impl WriteMode {
    /// The TOML value.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Overwrite => "overwrite",
            WriteMode::OverwritePartitions => "overwrite_partitions",
            WriteMode::ErrorIfExists => "error_if_exists",
        }
    }
}

/// Who committed a run: manifests of the same writer are "the sink's files".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The pipeline's name.
    pub pipeline: String,
    /// The sink's id.
    pub sink: String,
    /// The shard tag (`s0of4`), if the run was sharded.
    pub shard: Option<String>,
}

impl Writer {
    /// The writer of the sink running in `ctx`.
    pub fn of(ctx: &RunContext) -> Self {
        Self {
            pipeline: ctx.pipeline.clone(),
            sink: ctx.id.clone(),
            shard: ctx.shard.map(|s| s.tag()),
        }
    }

    /// Whether `manifest` records a run of this writer.
    pub fn wrote(&self, manifest: &Manifest) -> bool {
        manifest.pipeline == self.pipeline
            && manifest.sink == self.sink
            && manifest.shard == self.shard
    }
}

/// An earlier run whose files (some or all) the new generation replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retired {
    /// The earlier run.
    pub run_id: String,
    /// Its files to delete, relative to the table.
    pub files: Vec<String>,
    /// Its manifest once they are gone; `None` when none of its files is left (the manifest is
    /// deleted).
    pub remaining: Option<Manifest>,
}

/// Every object under `<base>/<dir>` (`what` names them in the error).
pub(crate) async fn list_under(
    target: &Target,
    dir: &str,
    what: &str,
) -> Result<Vec<object_store::ObjectMeta>, RunError> {
    target
        .store
        .list(Some(&target.path(dir)))
        .try_collect()
        .await
        .map_err(|e| {
            RunError::msg(format!(
                "cannot list {what} of {}: {}",
                target.display,
                super::describe_store_error(&e)
            ))
        })
}

/// Every readable run manifest of the table. A manifest that cannot be parsed is skipped with a
/// warning: its files are unknown, so they are never deleted.
pub async fn manifests(target: &Target) -> Result<Vec<Manifest>, RunError> {
    let listed = list_under(target, MANIFEST_DIR, "the run manifests").await?;
    let mut out = Vec::new();
    for meta in listed {
        if meta.location.extension() != Some("json") {
            continue;
        }
        let bytes = match target.store.get(&meta.location).await {
            Ok(got) => got.bytes().await,
            Err(e) => Err(e),
        };
        let bytes = match bytes {
            Ok(b) => b,
            // Deleted between the listing and the read (a concurrent writer retired it).
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => {
                return Err(RunError::msg(format!(
                    "cannot read the run manifest {}: {e}",
                    target.display_path(&target.relative(&meta.location))
                )));
            }
        };
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => out.push(m),
            Err(e) => tracing::warn!(
                manifest = %target.display_path(&target.relative(&meta.location)),
                error = %e,
                "a run manifest cannot be read; its files are left alone"
            ),
        }
    }
    out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(out)
}

/// What the new generation `new_files` of `writer`'s run `run_id` replaces, per `mode`.
pub fn retire(
    mode: WriteMode,
    earlier: &[Manifest],
    writer: &Writer,
    run_id: &str,
    new_files: &[ManifestFile],
) -> Vec<Retired> {
    let touched: BTreeSet<&str> = new_files.iter().map(|f| partition_dir(&f.path)).collect();
    let replaced = |f: &ManifestFile| match mode {
        WriteMode::Overwrite => true,
        WriteMode::OverwritePartitions => touched.contains(partition_dir(&f.path)),
        WriteMode::Append | WriteMode::ErrorIfExists => false,
    };
    let mut out = Vec::new();
    for m in earlier
        .iter()
        .filter(|m| writer.wrote(m) && m.run_id != run_id)
    {
        let (gone, kept): (Vec<&ManifestFile>, Vec<&ManifestFile>) =
            m.files.iter().partition(|f| replaced(f));
        if gone.is_empty() {
            continue;
        }
        let remaining = (!kept.is_empty()).then(|| {
            let files: Vec<ManifestFile> = kept.into_iter().cloned().collect();
            Manifest {
                rows: files.iter().map(|f| f.rows).sum(),
                bytes: files.iter().map(|f| f.bytes).sum(),
                files,
                ..m.clone()
            }
        });
        out.push(Retired {
            run_id: m.run_id.clone(),
            files: gone.into_iter().map(|f| f.path.clone()).collect(),
            remaining,
        });
    }
    out
}

/// `platform=x/folder=y` of `platform=x/folder=y/part-….parquet` (`""` when unpartitioned).
fn partition_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// A manifest path that stays inside the table's data (never `_tributary/`, never `..`): a
/// damaged or hand-edited manifest must not make a run delete anything else.
fn deletable(relative: &str) -> bool {
    !relative.is_empty()
        && !relative.starts_with('/')
        && !relative.starts_with("_tributary/")
        && relative
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// Step 3 of the protocol: deletes the retired files, then retires their manifests. Idempotent
/// (a file or manifest already gone is fine). Returns how many files were deleted.
pub async fn delete_retired(target: &Target, retired: &[Retired]) -> Result<usize, RunError> {
    let files: Vec<&str> = retired
        .iter()
        .flat_map(|r| r.files.iter().map(String::as_str))
        .filter(|f| {
            let ok = deletable(f);
            if !ok {
                tracing::warn!(file = %f, "a manifest names a file outside the table's data; it is not deleted");
            }
            ok
        })
        .collect();
    // Collected first (see `CommitPlan::commit`: a mapping closure in the stream trips the
    // higher-ranked `Send` check of boxed sink futures).
    let deletions: Vec<_> = files.iter().map(|f| delete_one(target, f)).collect();
    let deleted: Vec<bool> = futures::stream::iter(deletions)
        .buffer_unordered(DELETE_CONCURRENCY)
        .try_collect()
        .await?;
    if let Some(root) = &target.local_root {
        // A local disk keeps emptied partition directories; readers ignore them, people don't.
        for f in &files {
            remove_empty_parents(root, f);
        }
    }
    for r in retired {
        let path = Manifest::path(target, &r.run_id);
        match &r.remaining {
            Some(m) => {
                m.write(target).await?;
            }
            None => match target.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(RunError::msg(format!(
                        "cannot delete the replaced run manifest {}: {e}",
                        target.display_path(&target.relative(&path))
                    )));
                }
            },
        }
    }
    failpoint::hit("commit.old_manifests");
    Ok(deleted.into_iter().filter(|d| *d).count())
}

async fn delete_one(target: &Target, relative: &str) -> Result<bool, RunError> {
    let path = target.path(relative);
    match target.store.delete(&path).await {
        Ok(()) => {
            failpoint::hit("commit.old_deleted");
            Ok(true)
        }
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(RunError::msg(format!(
            "cannot delete {} of the replaced generation: {e}",
            target.display_path(relative)
        ))),
    }
}

/// Removes the now-empty directories between `root/relative`'s parent and `root`.
fn remove_empty_parents(root: &std::path::Path, relative: &str) {
    let mut dir = root.join(relative);
    while dir.pop() && dir.starts_with(root) && dir != root {
        if std::fs::remove_dir(&dir).is_err() {
            break;
        }
    }
}

/// `<base>/_tributary/commits/<run_id>.json`.
pub fn intent_path(target: &Target, run_id: &str) -> Path {
    target.path(&format!("{COMMITS_DIR}/{run_id}.json"))
}

/// For `error_if_exists`: a file the table already holds (outside in-flight staging), if any.
pub async fn existing_file(target: &Target) -> Result<Option<String>, RunError> {
    let base = (!target.base.as_ref().is_empty()).then_some(&target.base);
    let mut listing = target.store.list(base);
    let staging = target.path(STAGING_DIR);
    while let Some(item) = listing.next().await {
        let meta = item.map_err(|e| {
            RunError::msg(format!(
                "cannot list {}: {}",
                target.display,
                super::describe_store_error(&e)
            ))
        })?;
        if !meta.location.prefix_matches(&staging) {
            return Ok(Some(target.relative(&meta.location)));
        }
    }
    Ok(None)
}

/// Removes the write-ahead record of `run_id` (step 4).
pub(crate) async fn remove_intent(target: &Target, run_id: &str) -> Result<(), RunError> {
    let path = intent_path(target, run_id);
    match target.store.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(RunError::msg(format!(
            "the run is committed, but its commit record {} could not be removed: {e} (the next \
             run removes it)",
            target.display_path(&target.relative(&path))
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(run: &str, sink: &str, shard: Option<&str>, files: &[&str]) -> Manifest {
        Manifest {
            version: 1,
            run_id: run.into(),
            pipeline: "p".into(),
            sink: sink.into(),
            shard: shard.map(str::to_owned),
            format: "parquet".into(),
            location: "mem://t".into(),
            started_at: chrono::Utc::now(),
            committed_at: chrono::Utc::now(),
            rows: files.len() as u64,
            bytes: 0,
            files: files.iter().map(|f| file(f)).collect(),
            schema: serde_json::Value::Null,
        }
    }

    fn file(path: &str) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            rows: 1,
            bytes: 0,
            partition: Vec::new(),
        }
    }

    #[test]
    fn only_the_same_pipeline_sink_and_shard_is_replaced() {
        let writer = Writer {
            pipeline: "p".into(),
            sink: "lake".into(),
            shard: Some("s0of2".into()),
        };
        let earlier = [
            manifest("r1", "lake", Some("s0of2"), &["a/1", "b/1"]),
            manifest("r2", "lake", Some("s1of2"), &["a/2"]),
            manifest("r3", "other", Some("s0of2"), &["a/3"]),
            manifest("r4", "lake", None, &["a/4"]),
            manifest("now", "lake", Some("s0of2"), &["a/5"]),
        ];
        let new = [file("a/5")];
        let all = retire(WriteMode::Overwrite, &earlier, &writer, "now", &new);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].run_id.as_str(), all[0].files.len()), ("r1", 2));
        assert!(all[0].remaining.is_none());
        let parts = retire(
            WriteMode::OverwritePartitions,
            &earlier,
            &writer,
            "now",
            &new,
        );
        assert_eq!(parts[0].files, ["a/1"]);
        let left = parts[0].remaining.as_ref().unwrap();
        assert_eq!((left.files.len(), left.rows), (1, 1));
        assert!(retire(WriteMode::Append, &earlier, &writer, "now", &new).is_empty());
    }

    #[test]
    fn a_manifest_cannot_make_a_run_delete_outside_the_data() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "_tributary/state",
            "a//b",
            "./a",
        ] {
            assert!(!deletable(bad), "{bad}");
        }
        assert!(deletable("platform=ig/part-1.parquet"));
        assert!(deletable("part-1.parquet"));
    }

    #[test]
    fn write_modes_are_spelled_as_in_toml() {
        for (mode, text) in [
            (WriteMode::Append, "append"),
            (WriteMode::Overwrite, "overwrite"),
            (WriteMode::OverwritePartitions, "overwrite_partitions"),
            (WriteMode::ErrorIfExists, "error_if_exists"),
        ] {
            assert_eq!(mode.as_str(), text);
            let back: WriteMode = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(back, mode);
        }
    }
}
