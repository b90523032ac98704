//! `ParquetSink`: batches → Parquet files through the shared lake layer.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tributary_core::plugin::BuildInput;
use tributary_core::{BuildError, RunError};
use tributary_lake::{
    EncoderFactory, FileEncoder, LakeSink, PartitionSpec, RotationOptions, TargetSpec,
    require_positive,
};

use crate::config::{ParquetConfig, ROW_GROUP_MAX_BYTES};

/// Multipart parts uploaded concurrently per open file.
const UPLOAD_CONCURRENCY: usize = 2;

/// The running `parquet` sink: the shared [`LakeSink`] with Parquet files. Built by
/// [`parquet_sink`]; does I/O only from `start()`.
pub type ParquetSink = LakeSink<ParquetFactory>;

/// Validates `config` against the input and prepares the sink. Pure: no I/O.
pub fn parquet_sink(config: ParquetConfig, input: &BuildInput) -> Result<ParquetSink, BuildError> {
    let target = TargetSpec::parse(&config.path, config.store.clone())?;
    let spec = PartitionSpec::new(&config.partition_by, &input.schema)?;
    // Every input type must have a Parquet mapping; better to know at `validate` time.
    parquet::arrow::ArrowSchemaConverter::new()
        .convert(spec.data_schema())
        .map_err(|e| {
            BuildError::new(format!(
                "the input schema cannot be written as Parquet: {e}"
            ))
        })?;
    require_positive("row_group_rows", config.row_group_rows as u64)?;
    let rotation = RotationOptions::from_keys(
        config.max_open_files,
        config.max_rows_per_file,
        config.target_file_size,
    )?;
    let codec = config.compression.codec(config.compression_level)?;
    let props = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(config.row_group_rows))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        // Min/max per page and per column chunk: readers prune row groups and pages.
        .set_statistics_enabled(EnabledStatistics::Page)
        // Every column starts dictionary-encoded and falls back to plain when its
        // dictionary outgrows the page limit, so low-cardinality columns (platform,
        // folder, page_id, tags) stay dictionary-encoded and unique text does not pay for it.
        .set_dictionary_enabled(true)
        .build();
    Ok(LakeSink::new(
        target,
        spec,
        rotation,
        ParquetFactory {
            props,
            tag: config.compression.file_tag(),
        },
    )
    .with_mode(config.write_mode))
}

/// Opens Parquet encoders with fixed writer properties.
pub struct ParquetFactory {
    props: WriterProperties,
    tag: &'static str,
}

impl EncoderFactory for ParquetFactory {
    type Encoder = ParquetEncoder;

    fn format(&self) -> &'static str {
        "parquet"
    }

    fn extension(&self) -> String {
        format!("{}.parquet", self.tag)
    }

    fn create(
        &self,
        store: Arc<dyn ObjectStore>,
        path: Path,
        schema: &SchemaRef,
    ) -> Result<ParquetEncoder, RunError> {
        // BufWriter: one PUT for small files, a multipart upload (10 MiB parts) for large ones.
        // Two parts in flight (default 8) keep an open file's memory to one row group plus
        // ~20 MiB of upload; encoding, not upload concurrency, is the bottleneck on one core.
        let out = BufWriter::new(store, path).with_max_concurrency(UPLOAD_CONCURRENCY);
        let writer = AsyncArrowWriter::try_new(out, schema.clone(), Some(self.props.clone()))
            .map_err(parquet_error)?;
        Ok(ParquetEncoder { writer })
    }
}

/// One Parquet file being written (row groups are flushed as they fill).
pub struct ParquetEncoder {
    writer: AsyncArrowWriter<BufWriter>,
}

impl FileEncoder for ParquetEncoder {
    async fn write(&mut self, batch: &RecordBatch) -> Result<(), RunError> {
        self.writer.write(batch).await.map_err(parquet_error)
    }

    fn size_estimate(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    async fn close(mut self) -> Result<u64, RunError> {
        self.writer.finish().await.map_err(parquet_error)?;
        Ok(self.writer.bytes_written() as u64)
    }
}

fn parquet_error(e: parquet::errors::ParquetError) -> RunError {
    RunError::msg(e.to_string())
}
