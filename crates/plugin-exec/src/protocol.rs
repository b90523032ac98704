//! The wire format: one Arrow IPC stream each way, framed and checked here.
//!
//! Writing uses arrow-ipc's `StreamWriter` into a buffer per batch, so the bytes can go to the
//! child's pipe asynchronously. Reading frames each message by hand before arrow-ipc's
//! `StreamDecoder` sees it: the frame header says how long the message is, so a child that
//! prints text to standard output is caught at its first bytes, with those bytes in the message,
//! instead of being read as a multi-gigabyte length.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::KEEP;

/// The 4 bytes that open every message of an Arrow IPC stream (format 0.15 and later).
pub const CONTINUATION: [u8; 4] = [0xFF; 4];
/// Longest message header accepted (the flatbuffer describing a batch: a few KiB in practice).
const MAX_METADATA: usize = 64 << 20;
/// Longest message body accepted (one batch's buffers).
const MAX_BODY: usize = 8 << 30;

/// Metadata keys tributary adds to the input stream's schema (also given as environment
/// variables, see the crate docs).
pub const META_COMPONENT: &str = "tributary.component";
/// See [`META_COMPONENT`].
pub const META_RUN_ID: &str = "tributary.run_id";
/// See [`META_COMPONENT`].
pub const META_SHARD: &str = "tributary.shard";
/// See [`META_COMPONENT`].
pub const META_PIPELINE: &str = "tributary.pipeline";

/// Encodes the stream tributary writes to a child, one message at a time.
pub struct Encoder {
    writer: StreamWriter<Vec<u8>>,
    schema: SchemaRef,
}

impl Encoder {
    /// A stream of batches of `schema`, with `metadata` added to the schema's own.
    pub fn new(
        schema: &Schema,
        metadata: &[(&str, String)],
    ) -> Result<Self, arrow::error::ArrowError> {
        let mut meta: HashMap<String, String> = schema.metadata().clone();
        meta.extend(metadata.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let schema = Arc::new(schema.clone().with_metadata(meta));
        let writer = StreamWriter::try_new(Vec::new(), &schema)?;
        Ok(Self { writer, schema })
    }

    /// The bytes of `batch` (preceded, the first time, by the schema message).
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
        let batch = batch.clone().with_schema(self.schema.clone())?;
        self.writer.write(&batch)?;
        // The next batch is likely as large: start its buffer at this one's size rather than
        // growing it by doubling (each growth a copy of what was written so far).
        let next = Vec::with_capacity(self.writer.get_ref().len());
        Ok(std::mem::replace(self.writer.get_mut(), next))
    }

    /// The end-of-stream marker (preceded by the schema if no batch was written).
    pub fn finish(mut self) -> Result<Vec<u8>, arrow::error::ArrowError> {
        self.writer.finish()?;
        Ok(std::mem::take(self.writer.get_mut()))
    }
}

/// What went wrong with the child's output stream (phrased for the user; the caller adds who).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// Standard output ended without the end-of-stream marker.
    ClosedEarly,
    /// The bytes are not an Arrow IPC stream.
    Garbage(String),
    /// The stream's schema is not the declared one.
    Schema(String),
    /// Reading the pipe failed.
    Io(String),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClosedEarly => {
                f.write_str("closed its standard output before the end of its Arrow stream")
            }
            Self::Garbage(m) => write!(
                f,
                "wrote something that is not an Arrow IPC stream on standard output: {m}; write logs to standard error, and only the stream to standard output"
            ),
            Self::Schema(m) => write!(f, "sent the wrong schema: {m}"),
            Self::Io(m) => write!(f, "cannot read its standard output: {m}"),
        }
    }
}

/// Reads the child's stream, one batch at a time, checked against the declared schema.
pub struct Decoder<R> {
    reader: R,
    decoder: StreamDecoder,
    declared: SchemaRef,
    /// Whether the stream may end with a boolean [`KEEP`] column (a row-for-row answer).
    keep: bool,
    checked: bool,
    ended: bool,
}

impl<R: AsyncRead + Unpin> Decoder<R> {
    /// Reads from `reader`; every batch must match `declared`.
    pub fn new(reader: R, declared: SchemaRef) -> Self {
        Self {
            reader,
            decoder: StreamDecoder::new(),
            declared,
            keep: false,
            checked: false,
            ended: false,
        }
    }

    /// Also accepts a last boolean column [`KEEP`] after the declared ones (it then comes with
    /// every batch: the answer of a child that reads only some columns).
    #[must_use]
    pub fn allowing_keep(mut self) -> Self {
        self.keep = true;
        self
    }

    /// The next batch, rebuilt with the declared schema; `None` after the end-of-stream marker.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>, StreamError> {
        while !self.ended {
            let Some(mut message) = self.frame().await? else {
                self.ended = true;
                return Ok(None);
            };
            let batch = self
                .decoder
                .decode(&mut message)
                .map_err(|e| StreamError::Garbage(format!("undecodable message ({e})")))?;
            if !self.checked
                && let Some(schema) = self.decoder.schema()
            {
                if self.keep {
                    self.declared = with_keep(&self.declared, &schema)?;
                }
                check_schema(&self.declared, &schema).map_err(|e| {
                    StreamError::Schema(if self.keep {
                        format!("{e}; with `columns`, the answer holds only the `output.add` columns, in order, then optionally `{KEEP}` (bool) last")
                    } else {
                        e
                    })
                })?;
                self.checked = true;
            }
            if let Some(batch) = batch {
                return conform(batch, &self.declared).map(Some);
            }
        }
        Ok(None)
    }

    /// Reads and discards whatever follows the end-of-stream marker, so the child never blocks
    /// on a full pipe; returns how many bytes that was.
    pub async fn drain(&mut self) -> u64 {
        tokio::io::copy(&mut self.reader, &mut tokio::io::sink())
            .await
            .unwrap_or(0)
    }

    /// One whole message (prefix, header, body) as one buffer; `None` at the end marker.
    async fn frame(&mut self) -> Result<Option<Buffer>, StreamError> {
        let mut prefix = [0u8; 8];
        let got = read_full(&mut self.reader, &mut prefix).await?;
        if got == 0 {
            return Err(StreamError::ClosedEarly);
        }
        if prefix[..4] != CONTINUATION || got < 8 {
            if got < 8 && prefix[..got.min(4)] == CONTINUATION[..got.min(4)] {
                return Err(StreamError::ClosedEarly);
            }
            // Show the start of what was printed (usually a log line), not just 8 bytes.
            let mut shown = prefix[..got].to_vec();
            let mut more = [0u8; 72];
            let wait = std::time::Duration::from_millis(200);
            if let Ok(Ok(n)) = tokio::time::timeout(wait, self.reader.read(&mut more)).await {
                shown.extend_from_slice(&more[..n]);
            }
            let text = String::from_utf8_lossy(&shown);
            return Err(StreamError::Garbage(format!(
                "it starts with {:?}",
                text.lines().next().unwrap_or("")
            )));
        }
        let len = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize;
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_METADATA {
            return Err(StreamError::Garbage(format!(
                "a message header of {len} bytes"
            )));
        }
        let mut bytes = vec![0u8; 8 + len];
        bytes[..8].copy_from_slice(&prefix);
        if read_full(&mut self.reader, &mut bytes[8..]).await? < len {
            return Err(StreamError::ClosedEarly);
        }
        let body = arrow_ipc::root_as_message(&bytes[8..])
            .map_err(|e| StreamError::Garbage(format!("an invalid message header ({e})")))?
            .bodyLength();
        let body = usize::try_from(body)
            .ok()
            .filter(|b| *b <= MAX_BODY)
            .ok_or_else(|| StreamError::Garbage(format!("a message body of {body} bytes")))?;
        // Read into spare capacity: no zero-filling of a body about to be overwritten. The slack
        // keeps `read_to_end`'s end-of-input probe from growing (copying) the whole buffer.
        bytes.reserve_exact(body + 64);
        let got = (&mut self.reader)
            .take(body as u64)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| StreamError::Io(e.to_string()))?;
        if got < body {
            return Err(StreamError::ClosedEarly);
        }
        Ok(Some(Buffer::from_vec(bytes)))
    }
}

/// `declared` followed by the [`KEEP`] column when the child's stream `got` ends with one.
fn with_keep(declared: &SchemaRef, got: &Schema) -> Result<SchemaRef, StreamError> {
    let Some(last) = got.fields().last().filter(|f| f.name() == KEEP) else {
        return Ok(declared.clone());
    };
    if last.data_type() != &DataType::Boolean {
        return Err(StreamError::Schema(format!(
            "column `{KEEP}` says which rows stay and must be bool; the child sent {}",
            last.data_type()
        )));
    }
    let mut fields = declared.fields().to_vec();
    fields.push(Arc::new(Field::new(KEEP, DataType::Boolean, true)));
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        declared.metadata().clone(),
    )))
}

/// Fills `buf` unless the stream ends first; returns how many bytes were read.
async fn read_full<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize, StreamError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]).await {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Io(e.to_string())),
        }
    }
    Ok(got)
}

/// Whether the child's stream schema `got` is the declared one: same column names, in the same
/// order, with the same types. The message names the first column that differs.
pub fn check_schema(declared: &Schema, got: &Schema) -> Result<(), String> {
    for field in got.fields() {
        if declared.field_with_name(field.name()).is_err() {
            return Err(format!(
                "column `{}` ({}) is not declared in `output`; declare it (output = {{ add = [{{ name = \"{}\", type = ... }}] }}) or leave it out",
                field.name(),
                field.data_type(),
                field.name()
            ));
        }
    }
    for field in declared.fields() {
        match got.field_with_name(field.name()) {
            Err(_) => {
                return Err(format!(
                    "column `{}` is declared in `output` but missing from the child's stream",
                    field.name()
                ));
            }
            Ok(sent) if !sent.data_type().equals_datatype(field.data_type()) => {
                return Err(format!(
                    "column `{}` is declared as {} but the child sent {}",
                    field.name(),
                    field.data_type(),
                    sent.data_type()
                ));
            }
            Ok(_) => {}
        }
    }
    let order = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if order(declared) != order(got) {
        return Err(format!(
            "the columns come in another order: declared {}; sent {}",
            order(declared),
            order(got)
        ));
    }
    Ok(())
}

/// `batch` with the declared schema (its nullability and metadata), or which column breaks it.
fn conform(batch: RecordBatch, declared: &SchemaRef) -> Result<RecordBatch, StreamError> {
    for (field, column) in declared.fields().iter().zip(batch.columns()) {
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(StreamError::Schema(format!(
                "column `{}` is declared `nullable = false` but the child sent {} null(s)",
                field.name(),
                column.null_count()
            )));
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(declared.clone(), batch.columns().to_vec(), &options)
        .map_err(|e| StreamError::Schema(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["a", "b"])) as _),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap()
    }

    async fn read_all(
        bytes: Vec<u8>,
        declared: SchemaRef,
    ) -> Result<Vec<RecordBatch>, StreamError> {
        let mut d = Decoder::new(std::io::Cursor::new(bytes), declared);
        let mut out = Vec::new();
        while let Some(b) = d.next().await? {
            out.push(b);
        }
        Ok(out)
    }

    fn stream(batches: &[RecordBatch], end: bool) -> Vec<u8> {
        let mut enc = Encoder::new(&batches[0].schema(), &[(META_RUN_ID, "r1".into())]).unwrap();
        let mut bytes = Vec::new();
        for b in batches {
            bytes.extend(enc.encode(b).unwrap());
        }
        if end {
            bytes.extend(enc.finish().unwrap());
        }
        bytes
    }

    #[tokio::test]
    async fn a_stream_round_trips_with_the_declared_schema() {
        let b = batch();
        let got = read_all(stream(&[b.clone(), b.clone()], true), b.schema())
            .await
            .unwrap();
        assert_eq!(got, vec![b.clone(), b]);
    }

    #[tokio::test]
    async fn the_input_stream_carries_the_run_metadata() {
        let b = batch();
        let mut d = Decoder::new(
            std::io::Cursor::new(stream(std::slice::from_ref(&b), true)),
            b.schema(),
        );
        d.next().await.unwrap();
        let schema = d.decoder.schema().unwrap();
        assert_eq!(
            schema.metadata().get(META_RUN_ID).map(String::as_str),
            Some("r1")
        );
    }

    #[tokio::test]
    async fn a_stream_without_its_end_marker_is_cut() {
        let b = batch();
        let e = read_all(stream(std::slice::from_ref(&b), false), b.schema())
            .await
            .unwrap_err();
        assert_eq!(e, StreamError::ClosedEarly);
        let mut half = stream(std::slice::from_ref(&b), true);
        half.truncate(half.len() / 2);
        assert_eq!(
            read_all(half, b.schema()).await.unwrap_err(),
            StreamError::ClosedEarly
        );
    }

    #[tokio::test]
    async fn printed_text_is_garbage_named_by_its_first_bytes() {
        let e = read_all(b"hello world\n".to_vec(), batch().schema())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StreamError::Garbage(m) if m.contains("hello wo")),
            "{e}"
        );
        let mut bytes = CONTINUATION.to_vec();
        bytes.extend(0x7fff_ffffu32.to_le_bytes());
        assert!(matches!(
            read_all(bytes, batch().schema()).await,
            Err(StreamError::Garbage(_))
        ));
    }

    #[tokio::test]
    async fn a_wrong_schema_names_the_column() {
        let b = batch();
        let declared = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Float64, true),
        ]));
        let e = read_all(stream(std::slice::from_ref(&b), true), declared)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StreamError::Schema(m) if m.contains("`n` is declared as Float64 but the child sent Int64")),
            "{e}"
        );
        let declared = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, true)]));
        let e = read_all(stream(std::slice::from_ref(&b), true), declared)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StreamError::Schema(m) if m.contains("column `n` (Int64) is not declared")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn nulls_in_a_non_nullable_column_are_refused() {
        let b = RecordBatch::try_from_iter([(
            "id",
            Arc::new(StringArray::from(vec![Some("a"), None])) as _,
        )])
        .unwrap();
        let declared = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let e = read_all(stream(&[b], true), declared).await.unwrap_err();
        assert!(
            matches!(&e, StreamError::Schema(m) if m.contains("`id` is declared `nullable = false`")),
            "{e}"
        );
    }
}
