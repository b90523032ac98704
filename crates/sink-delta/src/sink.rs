//! [`DeltaSink`]: writes the run's rows as data files into the table directory (invisible until
//! committed: Delta readers see only files the log references) and commits them in one Delta
//! commit at the end — or hands the runtime a [`DeltaPlan`] to commit after it recorded the
//! state's write-ahead record.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::future::BoxFuture;
use tributary_core::plugin::{BuildInput, Prepared, RunContext, Sink, SinkReport};
use tributary_core::{BuildError, RunError};
use tributary_lake::PartitionSpec;

use crate::config::{Compression, DeltaConfig, MERGE_KEY, MERGE_ORDER, Mode, writer_properties};
use crate::plan::{DeltaPlan, KIND};
use crate::schema;
use crate::table::TableLocation;

/// Validated settings of one delta sink.
#[derive(Debug, Clone)]
struct Settings {
    table: TableLocation,
    partition_by: Vec<String>,
    mode: Mode,
    compression: Compression,
    compression_level: Option<i32>,
    target_file_size: u64,
    commit_retries: usize,
    merge_retries: usize,
}

/// The `delta` sink.
pub struct DeltaSink {
    settings: Settings,
    /// The table schema this pipeline writes.
    schema: SchemaRef,
    derive_date: bool,
    run: Option<Running>,
}

impl std::fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSink")
            .field("table", &self.settings.table.display())
            .finish_non_exhaustive()
    }
}

struct Running {
    /// `None` in a dry run.
    writer: Option<RecordBatchWriter>,
    /// The table's Arrow schema (batches are cast to it).
    table_schema: SchemaRef,
    app_id: String,
    txn_version: i64,
    run_id: String,
    rows: u64,
}

/// Validates `config` against the input. Pure.
pub fn delta_sink(config: DeltaConfig, input: &BuildInput) -> Result<DeltaSink, BuildError> {
    let table = TableLocation::parse(&config.path, config.store.clone())?;
    // The lake layer's partition validation: known scalar columns or `updated_date`, with
    // did-you-mean.
    PartitionSpec::new(&config.partition_by, &input.schema)?;
    config.compression.codec(config.compression_level)?;
    if config.target_file_size.bytes() < 1 << 20 {
        return Err(BuildError::at(
            "target_file_size",
            "`target_file_size` below 1 MiB makes a table of tiny files",
        )
        .with_help("use \"128MiB\" (the default) or more"));
    }
    if config.mode == Mode::Merge {
        for column in MERGE_KEY.iter().chain([&MERGE_ORDER]) {
            if input.schema.index_of(column).is_err() {
                return Err(BuildError::at(
                    "mode",
                    format!(
                        "`mode = \"merge\"` matches rows on (page_id, platform, folder, id) and \
                         keeps the newest `updated_time`, but the input has no `{column}` column"
                    ),
                )
                .with_help("use `mode = \"append\"`, or feed the sink the conversations source"));
            }
        }
    }
    let schema = schema::table_schema(&input.schema, &config.partition_by);
    Ok(DeltaSink {
        derive_date: schema::derives_updated_date(&input.schema, &config.partition_by),
        schema,
        settings: Settings {
            table,
            partition_by: config.partition_by,
            mode: config.mode,
            compression: config.compression,
            compression_level: config.compression_level,
            target_file_size: config.target_file_size.bytes(),
            commit_retries: config.commit_retries,
            merge_retries: config.merge_retries,
        },
        run: None,
    })
}

impl DeltaSink {
    fn check_table(&self, table: &deltalake::DeltaTable) -> Result<SchemaRef, RunError> {
        use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
        let t = &self.settings.table;
        let metadata = table
            .snapshot()
            .map_err(|e| t.error("cannot read", e))?
            .metadata();
        let theirs: arrow::datatypes::Schema = (&metadata.parse_schema().map_err(|e| {
            RunError::msg(format!("cannot read the schema of {}: {e}", t.display()))
        })?)
            .try_into_arrow()
            .map_err(|e| {
                RunError::msg(format!("cannot read the schema of {}: {e}", t.display()))
            })?;
        let differences = schema::differences(&theirs, &self.schema);
        if !differences.is_empty() {
            return Err(RunError::msg(format!(
                "the Delta table {} has a different schema than this pipeline writes:\n  - {}\n\
                 Nothing was written. Point `path` at a new table, or migrate the table first.",
                t.display(),
                differences.join("\n  - ")
            )));
        }
        let partitions: Vec<String> = metadata.partition_columns().to_vec();
        if partitions != self.settings.partition_by {
            return Err(RunError::msg(format!(
                "the Delta table {} is partitioned by [{}] but the sink's `partition_by` is [{}]. \
                 Nothing was written. Set `partition_by` to the table's (it only applies when the \
                 sink creates a table).",
                t.display(),
                partitions.join(", "),
                self.settings.partition_by.join(", ")
            )));
        }
        Ok(std::sync::Arc::new(theirs))
    }

    fn plan(&self, run: &Running, adds: Vec<deltalake::kernel::Add>) -> DeltaPlan {
        DeltaPlan {
            kind: KIND.to_owned(),
            table: self.settings.table.clone(),
            app_id: run.app_id.clone(),
            txn_version: run.txn_version,
            mode: self.settings.mode,
            partition_by: self.settings.partition_by.clone(),
            adds,
            rows: run.rows,
            commit_retries: self.settings.commit_retries,
            merge_retries: self.settings.merge_retries,
            compression: self.settings.compression,
            compression_level: self.settings.compression_level,
            target_file_size: self.settings.target_file_size,
            run_id: run.run_id.clone(),
        }
    }

    /// Flushes the run's open files: their `add` actions (empty in a dry run).
    async fn flush(&mut self) -> Result<(Running, Vec<deltalake::kernel::Add>), RunError> {
        let Some(mut run) = self.run.take() else {
            return Err(RunError::msg("the delta sink was finished without start()"));
        };
        let adds = match run.writer.as_mut() {
            Some(w) => w
                .flush()
                .await
                .map_err(|e| self.settings.table.error("cannot write data files into", e))?,
            None => Vec::new(),
        };
        Ok((run, adds))
    }

    fn dry_report(&self, run: &Running) -> SinkReport {
        tracing::info!(sink = "delta", table = %self.settings.table.display(), rows = run.rows, "dry run: would commit these rows to the Delta table");
        SinkReport {
            rows: run.rows,
            files: 0,
            bytes: 0,
            location: Some(self.settings.table.display()),
        }
    }
}

/// `tributary/<pipeline>/<sink>[/<shard>]`: the Delta application id of one sink's writes.
fn app_id(ctx: &RunContext) -> String {
    let mut id = format!("tributary/{}/{}", ctx.pipeline, ctx.id);
    if let Some(shard) = ctx.shard {
        id.push('/');
        id.push_str(&shard.tag());
    }
    id
}

impl Sink for DeltaSink {
    fn appends(&self) -> Option<&'static str> {
        (self.settings.mode == Mode::Append).then_some("mode")
    }

    fn replaces(&self) -> Option<&'static str> {
        (self.settings.mode == Mode::Overwrite).then_some("mode")
    }

    fn start<'a>(&'a mut self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            if self.settings.mode == Mode::Overwrite
                && let Some(shard) = ctx.shard
            {
                return Err(RunError::msg(format!(
                    "`mode = \"overwrite\"` replaces the whole Delta table {}, so with \
                     `--shard {shard}` every shard would erase the rows of the others; nothing \
                     was written. Use mode = \"merge\" for sharded runs, or run unsharded",
                    self.settings.table.display()
                )));
            }
            let t = &self.settings.table;
            let table = if ctx.dry_run {
                t.load().await?
            } else {
                Some(
                    t.load_or_create(&self.schema, &self.settings.partition_by, &ctx.pipeline)
                        .await?,
                )
            };
            let app_id = app_id(ctx);
            let now = chrono_millis();
            let (writer, table_schema, txn_version) = match table {
                Some(table) => {
                    let table_schema = self.check_table(&table)?;
                    let last = table
                        .snapshot()
                        .map_err(|e| t.error("cannot read", e))?
                        .transaction_version(table.log_store().as_ref(), &app_id)
                        .await
                        .map_err(|e| t.error("cannot read", e))?;
                    // Versions are milliseconds, made strictly increasing even if the clock
                    // went back.
                    let version = last.map_or(now, |v| now.max(v + 1));
                    let writer = if ctx.dry_run {
                        None
                    } else {
                        Some(
                            RecordBatchWriter::for_table(&table)
                                .map_err(|e| t.error("cannot write to", e))?
                                .with_writer_properties(writer_properties(
                                    self.settings.compression,
                                    self.settings.compression_level,
                                ))
                                .with_target_file_size(self.settings.target_file_size),
                        )
                    };
                    (writer, table_schema, version)
                }
                // Dry run against a table that does not exist yet.
                None => (None, self.schema.clone(), now),
            };
            self.run = Some(Running {
                writer,
                table_schema,
                app_id,
                txn_version,
                run_id: ctx.run_id.clone(),
                rows: 0,
            });
            Ok(())
        })
    }

    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            let Some(run) = self.run.as_mut() else {
                return Err(RunError::msg("the delta sink received data before start()"));
            };
            if batch.num_rows() == 0 {
                return Ok(());
            }
            let rows = schema::to_table_batch(batch, &run.table_schema, self.derive_date).map_err(
                |e| {
                    RunError::msg(format!(
                        "a batch does not fit the Delta table {}: {e}",
                        self.settings.table.display()
                    ))
                },
            )?;
            if let Some(writer) = run.writer.as_mut() {
                writer
                    .write(rows)
                    .await
                    .map_err(|e| self.settings.table.error("cannot write data files into", e))?;
            }
            run.rows += batch.num_rows() as u64;
            Ok(())
        })
    }

    fn stages(&self) -> bool {
        true
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
        Box::pin(async move {
            let (run, adds) = self.flush().await?;
            if run.writer.is_none() {
                return Ok(self.dry_report(&run));
            }
            if adds.is_empty() && self.settings.mode != Mode::Overwrite {
                return Ok(SinkReport {
                    location: Some(self.settings.table.display()),
                    ..SinkReport::default()
                });
            }
            self.plan(&run, adds).commit().await
        })
    }

    fn prepare(mut self: Box<Self>) -> BoxFuture<'static, Result<Prepared, RunError>> {
        Box::pin(async move {
            let (run, adds) = self.flush().await?;
            if run.writer.is_none() {
                return Ok(Prepared {
                    report: self.dry_report(&run),
                    plan: None,
                });
            }
            let report = SinkReport {
                rows: run.rows,
                files: adds.len() as u64,
                bytes: adds.iter().map(|a| a.size as u64).sum(),
                location: Some(self.settings.table.display()),
            };
            // An empty overwrite still commits: the run's (empty) output replaces the table.
            if adds.is_empty() && self.settings.mode != Mode::Overwrite {
                return Ok(Prepared { report, plan: None });
            }
            let plan = self.plan(&run, adds).to_json()?;
            Ok(Prepared {
                report,
                plan: Some(plan),
            })
        })
    }
}

fn chrono_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
