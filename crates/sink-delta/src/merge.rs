//! `mode = "merge"`: an upsert on `(page_id, platform, folder, id)` where the newest
//! `updated_time` wins, written by hand because delta-rs' `MERGE` needs DataFusion (which would
//! roughly double this project's build).
//!
//! It is a copy-on-write merge computed at commit time from the table's newest version:
//!
//! 1. read the key and `updated_time` columns of the run's new files (staged in the table
//!    directory, not yet in the log);
//! 2. read the same columns of every table file that can hold one of those keys (files whose
//!    partition values or `page_id` statistics exclude every incoming key are skipped);
//! 3. a table row whose key arrives with an equal or newer `updated_time` is deleted: its file
//!    is rewritten without it (`remove` + `add`); an incoming row older than the table's copy is
//!    dropped from the new files instead;
//! 4. one commit carries the removes, the rewritten files and the new files.
//!
//! Computing it at commit time means a commit rolled forward after a crash merges against the
//! table as it is then. A concurrent writer that removes a file this merge also rewrites makes
//! the commit conflict; the merge is then redone on the newer version (`merge_retries`).
//! Concurrent appends of *other* keys (other shards' pages) never conflict. Memory: the
//! incoming keys (about 100 bytes per row) and one file's key columns at a time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, new_null_array};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tributary_core::RunError;

use crate::config::{MERGE_KEY, MERGE_ORDER, writer_properties};
use crate::plan::DeltaPlan;

/// The read predicate recorded in the commit (for humans reading the history).
pub const PREDICATE: &str = "merge on (page_id, platform, folder, id), newest updated_time wins";

/// The actions of one merge commit, and what it wrote.
#[derive(Debug)]
pub struct Merged {
    /// Removes, rewritten adds and new adds.
    pub actions: Vec<Action>,
    /// Incoming rows that made it into the table.
    pub rows: u64,
    /// Files added.
    pub files: u64,
    /// Bytes added.
    pub bytes: u64,
}

/// Where one incoming row is: (file index in the plan, row in that file), and its time.
#[derive(Debug, Clone, Copy)]
struct Incoming {
    file: usize,
    row: usize,
    time: i64,
}

/// A data file: where it is and its partition values.
struct FileRef {
    path: Path,
    partition_values: HashMap<String, Option<String>>,
}

impl FileRef {
    fn of_add(add: &Add) -> Result<Self, object_store::path::Error> {
        Ok(Self {
            // `add.path` is a relative URL (percent-encoded partition values).
            path: Path::from_url_path(&add.path)?,
            partition_values: add.partition_values.clone(),
        })
    }
}

/// One file's key columns: key strings and `updated_time` in microseconds.
struct Keys {
    keys: Vec<String>,
    times: Vec<i64>,
}

fn key_string(parts: [Option<&str>; 4]) -> String {
    // U+001F (unit separator) cannot occur in Graph ids or the enum columns.
    let mut k = String::with_capacity(64);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push('\u{1f}');
        }
        k.push_str(p.unwrap_or("\u{0}"));
    }
    k
}

/// A file losing rows to the merge, and which: it is written again without them.
type Rewrite = (FileRef, HashSet<usize>);

/// The run's side of a merge.
struct Run {
    /// Each incoming key, at its newest row.
    keys: HashMap<String, Incoming>,
    /// Per new file, its rows that lose: to a newer copy in the run or in the table.
    dropped: Vec<HashSet<usize>>,
}

impl Run {
    /// Settles the rows of one table file against the incoming ones, so that the newest copy of
    /// each key survives: returns the file's rows to delete, and marks the incoming rows it holds
    /// newer as dropped.
    fn settle(&mut self, table_file: &Keys) -> HashSet<usize> {
        let mut deleted = HashSet::new();
        for (row, (key, time)) in table_file.keys.iter().zip(&table_file.times).enumerate() {
            if let Some(new) = self.keys.get(key) {
                if *time > new.time {
                    self.dropped[new.file].insert(new.row);
                } else {
                    deleted.insert(row);
                }
            }
        }
        deleted
    }
}

/// The table's side of a merge.
struct Matched {
    /// `remove`s of the table files that hold a row the run replaces.
    removes: Vec<Action>,
    /// Those of them that keep other rows.
    rewrites: Vec<Rewrite>,
    /// Table files read (the others cannot hold an incoming key).
    scanned: usize,
}

/// Computes the merge of `plan`'s new files into `table` (its loaded version).
pub async fn merge(table: &DeltaTable, plan: &DeltaPlan) -> Result<Merged, RunError> {
    let store = table.object_store();
    let mut run = read_incoming(&store, plan).await?;
    let Matched {
        removes,
        mut rewrites,
        scanned,
    } = match_table(table, &store, plan, &mut run).await?;
    let files_rewritten = removes.len();
    let mut merged = Merged {
        actions: removes,
        rows: 0,
        files: 0,
        bytes: 0,
    };
    add_new_files(plan, run.dropped, &mut merged, &mut rewrites)?;
    for add in write_rewrites(table, &store, plan, &rewrites).await? {
        merged.files += 1;
        merged.bytes += add.size as u64;
        merged.actions.push(Action::Add(add));
    }
    tracing::info!(
        table = %plan.table.display(),
        incoming = run.keys.len(),
        files_scanned = scanned,
        files_rewritten,
        "merge planned"
    );
    Ok(merged)
}

/// A merge failure, naming the table.
fn error(plan: &DeltaPlan, what: &str, e: &dyn std::fmt::Display) -> RunError {
    RunError::msg(format!(
        "merge into the Delta table {}: {what}: {e}",
        plan.table.display()
    ))
}

/// Reads the keys of the run's new files. The newest copy wins inside the run too: an older one
/// is dropped as if the table held the newer.
async fn read_incoming(store: &Arc<dyn ObjectStore>, plan: &DeltaPlan) -> Result<Run, RunError> {
    let mut run = Run {
        keys: HashMap::new(),
        dropped: vec![HashSet::new(); plan.adds.len()],
    };
    for (file, add) in plan.adds.iter().enumerate() {
        let file_ref = FileRef::of_add(add).map_err(|e| error(plan, "bad file path", &e))?;
        let keys = read_keys(store, &file_ref)
            .await
            .map_err(|e| error(plan, "cannot read a new data file", &e))?;
        for (row, (key, time)) in keys.keys.into_iter().zip(keys.times).enumerate() {
            let new = Incoming { file, row, time };
            match run.keys.get_mut(&key) {
                Some(old) if old.time > time => {
                    run.dropped[file].insert(row);
                }
                Some(old) => {
                    run.dropped[old.file].insert(old.row);
                    *old = new;
                }
                None => {
                    run.keys.insert(key, new);
                }
            }
        }
    }
    Ok(run)
}

/// Finds the table's rows with incoming keys, reading only the files that can hold one: those
/// rows lose to an equal or newer incoming row, or win against an older one.
async fn match_table(
    table: &DeltaTable,
    store: &Arc<dyn ObjectStore>,
    plan: &DeltaPlan,
    run: &mut Run,
) -> Result<Matched, RunError> {
    let partition_filter = PartitionFilter::new(plan, &run.keys);
    let files: Vec<_> = table
        .get_active_add_actions_by_predicate(None)
        .try_collect()
        .await
        .map_err(|e| error(plan, "cannot list the table's files", &e))?;
    let mut matched = Matched {
        removes: Vec::new(),
        rewrites: Vec::new(),
        scanned: 0,
    };
    for view in &files {
        let file_ref = FileRef {
            path: view.object_store_path(),
            partition_values: view.partition_values_map(),
        };
        if !partition_filter.may_hold(&file_ref.partition_values, view.stats().as_deref()) {
            continue;
        }
        if view.deletion_vector_descriptor().is_some() {
            return Err(error(
                plan,
                "unsupported table",
                &"a file has a deletion vector (written by another engine); `mode = \"merge\"` \
                  rewrites whole files and does not apply deletion vectors — use `mode = \"append\"` \
                  or purge the deletion vectors (REORG TABLE ... APPLY (PURGE)) first",
            ));
        }
        matched.scanned += 1;
        let keys = read_keys(store, &file_ref)
            .await
            .map_err(|e| error(plan, "cannot read a table file", &e))?;
        let deleted = run.settle(&keys);
        if !deleted.is_empty() {
            matched
                .removes
                .push(Action::Remove(view.remove_action(true)));
            if deleted.len() < keys.keys.len() {
                matched.rewrites.push((file_ref, deleted));
            }
        }
    }
    Ok(matched)
}

/// Puts the new files that lost no row into the commit as they are, and queues the others for
/// a rewrite (the original stays unreferenced: a later merge attempt may still need it; VACUUM
/// removes it).
fn add_new_files(
    plan: &DeltaPlan,
    dropped: Vec<HashSet<usize>>,
    merged: &mut Merged,
    rewrites: &mut Vec<Rewrite>,
) -> Result<(), RunError> {
    for (add, dropped) in plan.adds.iter().zip(dropped) {
        if dropped.is_empty() {
            merged.rows += add_rows(add).unwrap_or(0);
            merged.files += 1;
            merged.bytes += add.size as u64;
            merged.actions.push(Action::Add(add.clone()));
        } else {
            let total = add_rows(add);
            merged.rows += total.map_or(0, |t| t.saturating_sub(dropped.len() as u64));
            let file_ref = FileRef::of_add(add).map_err(|e| error(plan, "bad file path", &e))?;
            rewrites.push((file_ref, dropped));
        }
    }
    Ok(())
}

/// Writes the files losing rows again without them, the way the sink writes its files (same
/// compression and file size): their `add` actions.
async fn write_rewrites(
    table: &DeltaTable,
    store: &Arc<dyn ObjectStore>,
    plan: &DeltaPlan,
    rewrites: &[Rewrite],
) -> Result<Vec<Add>, RunError> {
    if rewrites.is_empty() {
        return Ok(Vec::new());
    }
    let mut writer = RecordBatchWriter::for_table(table)
        .map_err(|e| error(plan, "cannot open a writer", &e))?
        .with_writer_properties(writer_properties(plan.compression, plan.compression_level))
        .with_target_file_size(plan.target_file_size);
    let schema = writer.arrow_schema();
    for (file_ref, deleted) in rewrites {
        rewrite(store, file_ref, deleted, &schema, &mut writer)
            .await
            .map_err(|e| error(plan, "cannot rewrite a file", &e))?;
    }
    writer
        .flush()
        .await
        .map_err(|e| error(plan, "cannot write rewritten files", &e))
}

/// Rows in an `add` action, from its statistics.
fn add_rows(add: &Add) -> Option<u64> {
    let stats: serde_json::Value = serde_json::from_str(add.stats.as_deref()?).ok()?;
    stats.get("numRecords")?.as_u64()
}

/// Skips files that cannot hold an incoming key: by partition value where a key column is a
/// partition column, and by the `page_id` min/max statistics otherwise.
struct PartitionFilter {
    /// Partition key column → the values incoming rows have.
    partition_values: Vec<(String, HashSet<Option<String>>)>,
    /// Sorted incoming page ids (when `page_id` is not a partition column).
    page_ids: Option<Vec<String>>,
}

impl PartitionFilter {
    fn new(plan: &DeltaPlan, incoming: &HashMap<String, Incoming>) -> Self {
        let mut partition_values = Vec::new();
        for (i, column) in MERGE_KEY.iter().enumerate() {
            if plan.partition_by.iter().any(|p| p == column) {
                let values = incoming
                    .keys()
                    .map(|k| {
                        let v = k.split('\u{1f}').nth(i).unwrap_or("\u{0}");
                        (v != "\u{0}").then(|| v.to_owned())
                    })
                    .collect();
                partition_values.push(((*column).to_owned(), values));
            }
        }
        let page_ids = (!plan.partition_by.iter().any(|p| p == "page_id")).then(|| {
            let mut ids: Vec<String> = incoming
                .keys()
                .map(|k| k.split('\u{1f}').next().unwrap_or("").to_owned())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        Self {
            partition_values,
            page_ids,
        }
    }

    fn may_hold(&self, partitions: &HashMap<String, Option<String>>, stats: Option<&str>) -> bool {
        for (column, values) in &self.partition_values {
            let value = partitions.get(column).cloned().flatten();
            if !values.contains(&value) {
                return false;
            }
        }
        let Some(ids) = &self.page_ids else {
            return true;
        };
        let Some((min, max)) = stats.and_then(page_id_range) else {
            return true;
        };
        // delta-rs truncates long string statistics; only trust short ones.
        if min.len() >= 32 || max.len() >= 32 {
            return true;
        }
        let first = ids.partition_point(|id| id.as_str() < min.as_str());
        ids.get(first).is_some_and(|id| id.as_str() <= max.as_str())
    }
}

fn page_id_range(stats: &str) -> Option<(String, String)> {
    let stats: serde_json::Value = serde_json::from_str(stats).ok()?;
    let min = stats.get("minValues")?.get("page_id")?.as_str()?.to_owned();
    let max = stats.get("maxValues")?.get("page_id")?.as_str()?.to_owned();
    Some((min, max))
}

/// Reads a data file whole (files are at most `target_file_size`; one at a time) and opens
/// it as Parquet.
async fn open(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<ParquetRecordBatchReaderBuilder<bytes::Bytes>, Box<dyn std::error::Error + Send + Sync>>
{
    let bytes = store.get(path).await?.bytes().await?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(bytes)?)
}

/// The merge key and time of every row of a data file. Key columns that are partition columns
/// are not in the file; their value comes from the `add` action.
async fn read_keys(
    store: &Arc<dyn ObjectStore>,
    file: &FileRef,
) -> Result<Keys, Box<dyn std::error::Error + Send + Sync>> {
    let partition_values = &file.partition_values;
    let builder = open(store, &file.path).await?;
    let in_file: Vec<&str> = MERGE_KEY
        .iter()
        .chain([&MERGE_ORDER])
        .copied()
        .filter(|c| !partition_values.contains_key(*c))
        .collect();
    let mask = ProjectionMask::columns(builder.parquet_schema(), in_file.iter().copied());
    let batches = builder
        .with_projection(mask)
        .build()?
        .collect::<Result<Vec<RecordBatch>, _>>()?;
    let mut out = Keys {
        keys: Vec::new(),
        times: Vec::new(),
    };
    for batch in batches {
        let column =
            |name: &str| -> Result<Option<ArrayRef>, Box<dyn std::error::Error + Send + Sync>> {
                match batch.schema().index_of(name) {
                    Ok(i) => Ok(Some(cast(batch.column(i), &DataType::Utf8)?)),
                    Err(_) if partition_values.contains_key(name) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            };
        let parts: Vec<Option<ArrayRef>> = MERGE_KEY
            .iter()
            .map(|c| column(c))
            .collect::<Result<_, _>>()?;
        let fixed: Vec<Option<String>> = MERGE_KEY
            .iter()
            .map(|c| partition_values.get(*c).cloned().flatten())
            .collect();
        let time = batch.column(batch.schema().index_of(MERGE_ORDER)?);
        let time = cast(
            &cast(time, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
            &DataType::Int64,
        )?;
        let time = time.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let value = |i: usize| -> Option<&str> {
                match &parts[i] {
                    Some(a) => {
                        let a = a.as_string::<i32>();
                        a.is_valid(row).then(|| a.value(row))
                    }
                    None => fixed[i].as_deref(),
                }
            };
            out.keys
                .push(key_string([value(0), value(1), value(2), value(3)]));
            out.times.push(if time.is_valid(row) {
                time.value(row)
            } else {
                i64::MIN
            });
        }
    }
    Ok(out)
}

/// Writes `add`'s file again without the rows in `deleted`, through `writer` (which computes
/// the new file's statistics and partition directory).
async fn rewrite(
    store: &Arc<dyn ObjectStore>,
    file: &FileRef,
    deleted: &HashSet<usize>,
    schema: &SchemaRef,
    writer: &mut RecordBatchWriter,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let batches = open(store, &file.path)
        .await?
        .build()?
        .collect::<Result<Vec<RecordBatch>, _>>()?;
    let mut offset = 0usize;
    for batch in batches {
        let keep: arrow::array::BooleanArray = (0..batch.num_rows())
            .map(|r| Some(!deleted.contains(&(offset + r))))
            .collect();
        offset += batch.num_rows();
        let kept = filter_record_batch(&batch, &keep)?;
        if kept.num_rows() == 0 {
            continue;
        }
        // Back to the table's full schema: partition columns as constants from the action.
        let columns = schema
            .fields()
            .iter()
            .map(
                |field| -> Result<ArrayRef, Box<dyn std::error::Error + Send + Sync>> {
                    let column = match kept.schema().index_of(field.name()) {
                        Ok(i) => kept.column(i).clone(),
                        Err(_) => match file.partition_values.get(field.name()) {
                            Some(Some(v)) => {
                                let v: ArrayRef =
                                    Arc::new(StringArray::from(vec![v.as_str(); kept.num_rows()]));
                                v
                            }
                            Some(None) => new_null_array(&DataType::Utf8, kept.num_rows()),
                            None => {
                                return Err(format!("column `{}` is missing", field.name()).into());
                            }
                        },
                    };
                    Ok(if column.data_type() == field.data_type() {
                        column
                    } else {
                        cast(&column, field.data_type())?
                    })
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        writer
            .write(RecordBatch::try_new(schema.clone(), columns)?)
            .await?;
    }
    Ok(())
}
