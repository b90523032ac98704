//! `NdjsonSink`: batches → newline-delimited JSON files through the shared lake layer.

use std::io::Write;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::json::WriterBuilder;
use arrow::json::writer::LineDelimited;
use arrow::record_batch::RecordBatch;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use tokio::io::AsyncWriteExt;
use tributary_core::plugin::BuildInput;
use tributary_core::{BuildError, RunError};
use tributary_lake::{
    EncoderFactory, FileEncoder, LakeSink, PartitionSpec, RotationOptions, TargetSpec,
};

use crate::config::{Codec, NdjsonConfig};

/// The running `ndjson` sink: the shared [`LakeSink`] with NDJSON files. Built by
/// [`ndjson_sink`]; does I/O only from `start()`.
pub type NdjsonSink = LakeSink<NdjsonFactory>;

/// Validates `config` against the input and prepares the sink. Pure: no I/O.
pub fn ndjson_sink(config: NdjsonConfig, input: &BuildInput) -> Result<NdjsonSink, BuildError> {
    let target = TargetSpec::parse(&config.path, config.store.clone())?;
    let spec = PartitionSpec::new(&config.partition_by, &input.schema)?;
    let codec = config.codec()?;
    let rotation = RotationOptions::from_keys(
        config.max_open_files,
        config.max_rows_per_file,
        config.target_file_size,
    )?;
    let json = JsonShape::new(spec.data_schema(), config.explicit_nulls);
    Ok(
        LakeSink::new(target, spec, rotation, NdjsonFactory { codec, json })
            .with_mode(config.write_mode),
    )
}

/// How batches become JSON text.
///
/// Timestamps: `arrow_json` formats zoned timestamps through the zone *name*, and without the
/// `chrono-tz` feature (not built here: it compiles the whole tz database) it only understands
/// offsets. Every zoned timestamp is therefore re-tagged `+00:00` — the values are UTC instants
/// whatever the zone, so this changes no value — and formatted RFC 3339 with a literal `Z`,
/// with the fraction digits of the finest unit in the schema (`.000Z` for milliseconds).
#[derive(Debug, Clone)]
struct JsonShape {
    schema: SchemaRef,
    builder: WriterBuilder,
    needs_cast: bool,
}

impl JsonShape {
    fn new(schema: &SchemaRef, explicit_nulls: bool) -> Self {
        let mut finest = None;
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(as_utc_offset(f.data_type(), &mut finest))
            })
            .collect();
        let fraction = match finest {
            Some(TimeUnit::Second) => "",
            Some(TimeUnit::Millisecond) | None => "%.3f",
            Some(TimeUnit::Microsecond) => "%.6f",
            Some(TimeUnit::Nanosecond) => "%.9f",
        };
        let retagged = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let builder = WriterBuilder::new()
            .with_explicit_nulls(explicit_nulls)
            .with_timestamp_tz_format(format!("%Y-%m-%dT%H:%M:%S{fraction}Z"))
            // A zone-less timestamp is not known to be UTC: no `Z`, no offset.
            .with_timestamp_format(format!("%Y-%m-%dT%H:%M:%S{fraction}"));
        Self {
            needs_cast: retagged.as_ref() != schema.as_ref(),
            schema: retagged,
            builder,
        }
    }

    /// Appends `batch` as JSON lines to `out`.
    fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), RunError> {
        let batch = if self.needs_cast {
            let columns = batch
                .columns()
                .iter()
                .zip(self.schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            RecordBatch::try_new(self.schema.clone(), columns)?
        } else {
            batch.clone()
        };
        let mut writer = self.builder.clone().build::<_, LineDelimited>(out);
        writer.write(&batch)?;
        writer.finish()?;
        Ok(())
    }
}

/// `ty` with every zoned timestamp re-tagged `+00:00`; records the finest time unit seen.
fn as_utc_offset(ty: &DataType, finest: &mut Option<TimeUnit>) -> DataType {
    let retag = |f: &Field, finest: &mut Option<TimeUnit>| {
        Arc::new(
            f.clone()
                .with_data_type(as_utc_offset(f.data_type(), finest)),
        )
    };
    match ty {
        DataType::Timestamp(unit, tz) => {
            let rank = |u: &TimeUnit| match u {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 1,
                TimeUnit::Microsecond => 2,
                TimeUnit::Nanosecond => 3,
            };
            if finest.as_ref().is_none_or(|f| rank(unit) > rank(f)) {
                *finest = Some(*unit);
            }
            DataType::Timestamp(*unit, tz.as_ref().map(|_| "+00:00".into()))
        }
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| retag(f, finest)).collect())
        }
        DataType::List(item) => DataType::List(retag(item, finest)),
        DataType::LargeList(item) => DataType::LargeList(retag(item, finest)),
        other => other.clone(),
    }
}

/// Opens NDJSON encoders.
pub struct NdjsonFactory {
    codec: Codec,
    json: JsonShape,
}

impl EncoderFactory for NdjsonFactory {
    type Encoder = NdjsonEncoder;

    fn format(&self) -> &'static str {
        "ndjson"
    }

    fn extension(&self) -> String {
        self.codec.extension().to_owned()
    }

    fn create(
        &self,
        store: Arc<dyn ObjectStore>,
        path: Path,
        _schema: &SchemaRef,
    ) -> Result<NdjsonEncoder, RunError> {
        let compressor = match self.codec {
            Codec::None => Compressor::None(Vec::new()),
            Codec::Gzip(level) => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level),
            )),
            Codec::Zstd(level) => {
                Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), level)?)
            }
        };
        Ok(NdjsonEncoder {
            // Two 10 MiB parts in flight at most: bounded memory per open file.
            out: BufWriter::new(store, path).with_max_concurrency(2),
            compressor,
            json: self.json.clone(),
            scratch: Vec::new(),
            written: 0,
        })
    }
}

/// Compresses in memory; the compressed bytes are drained to the object store after each
/// batch, so memory per open file is one batch of JSON plus the compressor's window.
enum Compressor {
    None(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Compressor {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Compressor::None(buf) => {
                buf.extend_from_slice(data);
                Ok(())
            }
            Compressor::Gzip(e) => e.write_all(data),
            Compressor::Zstd(e) => e.write_all(data),
        }
    }

    /// The compressed bytes produced so far (the encoders append to their inner `Vec` and never
    /// read it back, so draining it is safe).
    fn drain(&mut self) -> Vec<u8> {
        match self {
            Compressor::None(buf) => std::mem::take(buf),
            Compressor::Gzip(e) => std::mem::take(e.get_mut()),
            Compressor::Zstd(e) => std::mem::take(e.get_mut()),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Compressor::None(buf) => Ok(buf),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

/// One NDJSON file being written.
pub struct NdjsonEncoder {
    out: BufWriter,
    compressor: Compressor,
    json: JsonShape,
    scratch: Vec<u8>,
    written: u64,
}

impl FileEncoder for NdjsonEncoder {
    async fn write(&mut self, batch: &RecordBatch) -> Result<(), RunError> {
        self.scratch.clear();
        self.json.encode(batch, &mut self.scratch)?;
        self.compressor.write_all(&self.scratch)?;
        let bytes = self.compressor.drain();
        self.out.write_all(&bytes).await?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn size_estimate(&self) -> u64 {
        self.written
    }

    async fn close(mut self) -> Result<u64, RunError> {
        let tail = self.compressor.finish()?;
        self.out.write_all(&tail).await?;
        // `shutdown` completes the upload (the one PUT, or the multipart upload's last part).
        self.out.shutdown().await?;
        Ok(self.written + tail.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds_and_nulls_follow_the_option() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("é😀\"\n"), None])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(1_795_685_330_000), Some(-1)])
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from(vec![None, Some(7)])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        JsonShape::new(&schema, false)
            .encode(&batch, &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"s\":\"é😀\\\"\\n\",\"t\":\"2026-11-26T09:28:50.000Z\"}\n\
             {\"t\":\"1969-12-31T23:59:59.999Z\",\"n\":7}\n"
        );
        let mut out = Vec::new();
        JsonShape::new(&schema, true)
            .encode(&batch.slice(1, 1), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"s\":null,\"t\":\"1969-12-31T23:59:59.999Z\",\"n\":7}\n"
        );
    }
}
