//! [`StdoutSink`]: prints batches as NDJSON (as they arrive) or as one table (at `finish`).
//!
//! Writes are blocking `std::io::Write` calls run on tokio's blocking pool, so a slow reader of
//! standard output (`| less`) blocks this sink's task, not a runtime worker: the bounded channel
//! in front of the sink then paces the sources (backpressure).
//!
//! A closed pipe (`EPIPE`, `ErrorKind::BrokenPipe`) is the reader saying "enough", not a failure:
//! the sink drops its writer, reports that it wants no more data, ignores later batches, and
//! `finish` succeeds. (Rust ignores `SIGPIPE`, so the write returns the error instead of the
//! process being killed.)

use std::io::{ErrorKind, Write};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayData, ArrayRef, RecordBatch, StringArray, make_array, new_null_array,
};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::WriterBuilder;
use arrow::json::writer::LineDelimited;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::pretty_format_batches;
use futures::future::BoxFuture;
use tributary_core::RunError;
use tributary_core::plugin::{Sink, SinkReport};

use crate::config::Format;

/// What a [`StdoutSink`] prints; [`crate::Stdout`]'s build resolves it from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// NDJSON or table.
    pub format: Format,
    /// Most rows to print (`None`: no limit).
    pub max_rows: Option<u64>,
    /// `table` only: the longest cell, in characters, ellipsis included (at least 1).
    pub max_width: usize,
    /// Indices of the input columns to print, in order (`None`: every column).
    pub projection: Option<Vec<usize>>,
    /// `table` only: the order of the rows (`None`: arrival order, the first rows to arrive).
    pub order_by: Option<Vec<SortKey>>,
}

/// One key of `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Index of the input column.
    pub column: usize,
    /// Largest first.
    pub descending: bool,
}

/// Whether a column of `data_type` can be a sort key (arrow's sort kernels support it).
pub fn sortable(data_type: &DataType) -> bool {
    let values = new_null_array(data_type, 2);
    lexsort_to_indices(
        &[SortColumn {
            values,
            options: None,
        }],
        None,
    )
    .is_ok()
}

/// `order_by`'s state: the best rows so far, a bounded top-N (the rows arrive in an order that
/// varies between runs, so "the first N" would not be reproducible).
struct Top {
    /// Input columns held: the printed ones, then sort keys that are not printed.
    keep: Vec<usize>,
    /// Positions in `keep` of the printed columns, in print order.
    print: Vec<usize>,
    /// Sort keys as positions in `keep`, then every other held sortable column ascending, so
    /// that rows equal on the keys still come out in one order (ties cannot depend on arrival).
    sort: Vec<(usize, SortOptions)>,
    /// The best rows so far (at most `max_rows`), in order.
    best: Option<RecordBatch>,
    /// Rows received.
    seen: u64,
    /// `order_by` as written, for the footer (`updated_time desc, id`).
    described: String,
}

impl Top {
    fn new(order: &[SortKey], projection: Option<&[usize]>, input: &Schema) -> Self {
        let mut keep: Vec<usize> = match projection {
            Some(p) => p.to_vec(),
            None => (0..input.fields().len()).collect(),
        };
        let print: Vec<usize> = (0..keep.len()).collect();
        for key in order {
            if !keep.contains(&key.column) {
                keep.push(key.column);
            }
        }
        let position = |column: usize| keep.iter().position(|&c| c == column).unwrap_or(0);
        let mut sort: Vec<(usize, SortOptions)> = order
            .iter()
            .map(|k| {
                let options = SortOptions {
                    descending: k.descending,
                    nulls_first: false,
                };
                (position(k.column), options)
            })
            .collect();
        for (pos, &column) in keep.iter().enumerate() {
            if !order.iter().any(|k| k.column == column)
                && sortable(input.field(column).data_type())
            {
                let options = SortOptions {
                    descending: false,
                    nulls_first: false,
                };
                sort.push((pos, options));
            }
        }
        let described = order
            .iter()
            .map(|k| {
                let name = input.field(k.column).name();
                if k.descending {
                    format!("{name} desc")
                } else {
                    name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            keep,
            print,
            sort,
            best: None,
            seen: 0,
            described,
        }
    }

    /// Merges `batch` into the best rows, keeping at most `limit`.
    fn add(&mut self, batch: &RecordBatch, limit: Option<u64>) -> Result<(), RunError> {
        self.seen += batch.num_rows() as u64;
        let batch = batch.project(&self.keep)?;
        let combined = match self.best.take() {
            Some(best) => concat_batches(&batch.schema(), [&best, &batch])?,
            None => batch,
        };
        let columns: Vec<SortColumn> = self
            .sort
            .iter()
            .map(|&(pos, options)| SortColumn {
                values: combined.column(pos).clone(),
                options: Some(options),
            })
            .collect();
        let limit = limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let indices = lexsort_to_indices(&columns, limit)?;
        self.best = Some(take_record_batch(&combined, &indices)?);
        Ok(())
    }

    /// Rows held.
    fn rows(&self) -> u64 {
        self.best.as_ref().map_or(0, |b| b.num_rows() as u64)
    }
}

/// Prints batches on standard output (or any writer, for tests and embedding).
pub struct StdoutSink {
    settings: Settings,
    /// `None` once the reader went away (and while a write runs on the blocking pool).
    out: Option<Box<dyn Write + Send>>,
    /// The schema of what is printed: projected, time zones made printable.
    schema: SchemaRef,
    /// Whether batches need [`printable_type`] relabelling before they are formatted.
    relabel: bool,
    /// Rows printed (NDJSON) or held for the table.
    rows: u64,
    /// Bytes written successfully.
    bytes: u64,
    /// `table`: the cells held until `finish`, at most `max_rows` rows of them.
    held: Vec<RecordBatch>,
    /// `table`: the schema of `held` (every column a string).
    cell_schema: SchemaRef,
    /// The reader of the output went away.
    closed: bool,
    /// `order_by`: the best rows so far.
    top: Option<Top>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("settings", &self.settings)
            .field("rows", &self.rows)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl StdoutSink {
    /// A sink printing batches of `input` to standard output.
    pub fn new(settings: Settings, input: &Schema) -> Result<Self, RunError> {
        Self::with_writer(settings, input, Box::new(std::io::stdout()))
    }

    /// A sink printing batches of `input` to `out` (tests capture output or simulate a closed
    /// pipe this way).
    pub fn with_writer(
        settings: Settings,
        input: &Schema,
        out: Box<dyn Write + Send>,
    ) -> Result<Self, RunError> {
        let projected = match &settings.projection {
            Some(indices) => input.project(indices)?,
            None => input.clone(),
        };
        let printable = Schema::new(
            projected
                .fields()
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_data_type(printable_type(f.data_type()))
                })
                .collect::<Vec<_>>(),
        );
        let relabel = printable != projected;
        let cell_schema = cell_schema(&printable);
        let top = match (&settings.order_by, settings.format) {
            (Some(order), Format::Table) => {
                Some(Top::new(order, settings.projection.as_deref(), input))
            }
            _ => None,
        };
        Ok(Self {
            settings,
            out: Some(out),
            schema: Arc::new(printable),
            relabel,
            rows: 0,
            bytes: 0,
            held: Vec::new(),
            cell_schema,
            closed: false,
            top,
        })
    }

    /// Rows still allowed by `max_rows`.
    fn room(&self) -> u64 {
        self.settings
            .max_rows
            .map_or(u64::MAX, |max| max.saturating_sub(self.rows))
    }

    /// Writes `bytes` and flushes, on the blocking pool. A closed pipe closes the sink quietly.
    async fn emit(&mut self, bytes: Vec<u8>) -> Result<(), RunError> {
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        let len = bytes.len() as u64;
        let (out, result) = tokio::task::spawn_blocking(move || {
            // Flush per batch so `| head` and `| jq` see rows as they are produced.
            let result = out.write_all(&bytes).and_then(|()| out.flush());
            (out, result)
        })
        .await
        .map_err(|e| RunError::msg(format!("the thread writing to standard output failed: {e}")))?;
        match result {
            Ok(()) => {
                self.out = Some(out);
                self.bytes += len;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                // The reader is gone: drop the writer (nothing more can reach anyone) and stop.
                self.closed = true;
                Ok(())
            }
            Err(e) => {
                self.out = Some(out);
                Err(RunError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot write to standard output: {e}"),
                )))
            }
        }
    }

    /// The part of `batch` still to print: projected, and cut to the row limit.
    fn take_rows(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        let room = self.room();
        if room == 0 || batch.num_rows() == 0 {
            return Ok(None);
        }
        let batch = match &self.settings.projection {
            Some(indices) => batch.project(indices)?,
            None => batch.clone(),
        };
        let keep = usize::try_from(room)
            .unwrap_or(usize::MAX)
            .min(batch.num_rows());
        let batch = if keep < batch.num_rows() {
            batch.slice(0, keep)
        } else {
            batch
        };
        self.printable(batch).map(Some)
    }

    /// `batch` (of the printed columns) with the printable types of [`printable_type`].
    fn printable(&self, batch: RecordBatch) -> Result<RecordBatch, RunError> {
        if !self.relabel {
            return Ok(batch);
        }
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(array, field)| Ok(make_array(relabel(array.to_data(), field.data_type())?)))
            .collect::<Result<Vec<_>, ArrowError>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// `data_type` with every `"UTC"` time zone written as the offset `"+00:00"`.
///
/// Arrow formats (JSON, display) only offset time zones unless it is built with `chrono-tz`, and
/// the canonical schema names its zone `"UTC"`: the offset is the same instant, printed the same
/// RFC 3339 way, without pulling a time-zone database into every build.
fn printable_type(data_type: &DataType) -> DataType {
    let field = |f: &FieldRef| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(printable_type(f.data_type())),
        )
    };
    match data_type {
        DataType::Timestamp(unit, Some(tz)) if tz.as_ref() == "UTC" => {
            DataType::Timestamp(*unit, Some("+00:00".into()))
        }
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::Dictionary(key, value) => {
            DataType::Dictionary(key.clone(), Box::new(printable_type(value)))
        }
        other => other.clone(),
    }
}

/// `data` relabelled as `to`, a type that differs from its own only in time zone names (see
/// [`printable_type`]): the buffers are shared, not copied.
fn relabel(data: ArrayData, to: &DataType) -> Result<ArrayData, ArrowError> {
    if data.data_type() == to {
        return Ok(data);
    }
    let child_types: Vec<&DataType> = match to {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => {
            vec![f.data_type()]
        }
        DataType::Struct(fields) => fields.iter().map(|f| f.data_type()).collect(),
        DataType::Dictionary(_, value) => vec![value.as_ref()],
        _ => Vec::new(),
    };
    let children = data
        .child_data()
        .iter()
        .zip(child_types)
        .map(|(child, to)| relabel(child.clone(), to))
        .collect::<Result<Vec<_>, _>>()?;
    data.into_builder()
        .data_type(to.clone())
        .child_data(children)
        .build()
}

/// NDJSON for `batch`: one object per row, every key present, timestamps RFC 3339.
fn ndjson(batch: &RecordBatch) -> Result<Vec<u8>, RunError> {
    let mut writer = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, LineDelimited>(Vec::with_capacity(batch.num_rows() * 256));
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner())
}

/// `value` as shown in one cell: control characters escaped (so one value is one line), and,
/// if that is longer than `max_width` characters, its start and its end around a `…` (Graph ids
/// share long prefixes and differ at the end, so a cut that kept only the start would show every
/// id the same). Cuts between `char`s, never inside one.
fn cell(value: &str, max_width: usize) -> String {
    // The escaped form is what takes room on screen, so it is what gets measured and cut.
    fn shown(c: char) -> impl DoubleEndedIterator<Item = char> {
        let escaped: Vec<char> = if c.is_control() {
            c.escape_default().collect()
        } else {
            vec![c]
        };
        escaped.into_iter()
    }
    let width = value.chars().flat_map(shown).take(max_width + 1).count();
    if width <= max_width {
        return value.chars().flat_map(shown).collect();
    }
    // One character goes to the ellipsis; the start gets the odd one.
    let tail = (max_width - 1) / 2;
    let head = max_width - 1 - tail;
    let mut out: String = value.chars().flat_map(shown).take(head).collect();
    out.push('…');
    let end: Vec<char> = value
        .chars()
        .rev()
        .flat_map(|c| shown(c).rev())
        .take(tail)
        .collect();
    out.extend(end.into_iter().rev());
    out
}

/// The schema of a table's cells: the same names, every column a (nullable) string.
fn cell_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// `batch` as table cells: every value formatted and cut to `max_width`. Held instead of the
/// batch itself, because a slice of a batch keeps the whole batch's buffers alive.
fn cells(
    batch: &RecordBatch,
    cell_schema: &SchemaRef,
    max_width: usize,
) -> Result<RecordBatch, RunError> {
    let options = FormatOptions::default().with_null("null");
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for array in batch.columns() {
        let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
        let cells: StringArray = (0..array.len())
            .map(|i| Some(cell(&formatter.value(i).to_string(), max_width)))
            .collect();
        columns.push(Arc::new(cells));
    }
    Ok(RecordBatch::try_new(cell_schema.clone(), columns)?)
}

/// One aligned table of the held cells (the header alone when there are none).
fn table(cell_schema: &SchemaRef, held: &[RecordBatch]) -> Result<String, RunError> {
    if held.is_empty() {
        // Still show the columns: "no rows" is an answer too.
        return Ok(
            pretty_format_batches(&[RecordBatch::new_empty(cell_schema.clone())])?.to_string(),
        );
    }
    Ok(pretty_format_batches(held)?.to_string())
}

impl Sink for StdoutSink {
    fn write<'a>(&'a mut self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<(), RunError>> {
        Box::pin(async move {
            if self.closed {
                return Ok(());
            }
            if let Some(top) = self.top.as_mut() {
                if batch.num_rows() > 0 {
                    top.add(batch, self.settings.max_rows)?;
                    self.rows = top.rows();
                }
                return Ok(());
            }
            let Some(batch) = self.take_rows(batch)? else {
                return Ok(());
            };
            let rows = batch.num_rows() as u64;
            match self.settings.format {
                Format::Ndjson => {
                    let bytes = ndjson(&batch)?;
                    self.emit(bytes).await?;
                    if !self.closed {
                        self.rows += rows;
                    }
                }
                Format::Table => {
                    self.rows += rows;
                    let cells = cells(&batch, &self.cell_schema, self.settings.max_width)?;
                    self.held.push(cells);
                }
            }
            Ok(())
        })
    }

    fn wants_more(&self) -> bool {
        // With `order_by` any later row may belong in the table.
        !self.closed && (self.top.is_some() || self.room() > 0)
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<SinkReport, RunError>> {
        Box::pin(async move {
            if let Some(best) = self.top.as_mut().and_then(|t| t.best.take()) {
                let print = self
                    .top
                    .as_ref()
                    .map(|t| t.print.clone())
                    .unwrap_or_default();
                let batch = self.printable(best.project(&print)?)?;
                let cells = cells(&batch, &self.cell_schema, self.settings.max_width)?;
                self.held.push(cells);
            }
            if self.settings.format == Format::Table && !self.closed {
                let mut text = table(&self.cell_schema, &self.held)?;
                text.push('\n');
                let limit_hit = self.settings.max_rows.is_some_and(|max| self.rows >= max);
                let plural = if self.rows == 1 { "" } else { "s" };
                text.push_str(&if let Some(top) = &self.top {
                    let seen = top.seen;
                    if seen > self.rows {
                        format!(
                            "{} of {seen} rows, by {} (raise `max_rows` to see more)\n",
                            self.rows, top.described
                        )
                    } else {
                        format!("{} row{plural}, by {}\n", self.rows, top.described)
                    }
                } else if limit_hit {
                    format!(
                        "{} row{plural} (the first; raise `max_rows` to see more)\n",
                        self.rows
                    )
                } else {
                    format!("{} row{plural}\n", self.rows)
                });
                self.held.clear();
                self.emit(text.into_bytes()).await?;
                if self.closed {
                    // The reader left before the table: nothing was shown.
                    self.rows = 0;
                }
            }
            Ok(SinkReport {
                rows: self.rows,
                files: 0,
                bytes: self.bytes,
                location: Some("stdout".to_owned()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use arrow::array::{Int64Array, ListBuilder, StringBuilder, TimestampMillisecondArray};

    use super::*;

    /// A writer into a shared buffer, optionally refusing with `BrokenPipe` after `limit` bytes
    /// (like a pipe whose reader exited) or failing with another error.
    #[derive(Clone, Default)]
    struct Capture {
        buf: Arc<Mutex<Vec<u8>>>,
        limit: Option<usize>,
        fail_with: Option<ErrorKind>,
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.buf.lock().expect("lock").clone()).expect("utf8")
        }
    }

    impl Write for Capture {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if let Some(kind) = self.fail_with {
                return Err(std::io::Error::new(kind, "simulated"));
            }
            let mut buf = self.buf.lock().expect("lock");
            if let Some(limit) = self.limit {
                if buf.len() >= limit {
                    return Err(std::io::Error::from(ErrorKind::BrokenPipe));
                }
                let n = data.len().min(limit - buf.len());
                buf.extend_from_slice(&data[..n]);
                return Ok(n);
            }
            buf.extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn settings(format: Format) -> Settings {
        Settings {
            format,
            max_rows: None,
            max_width: 40,
            projection: None,
            order_by: None,
        }
    }

    /// Rows `start..start + n`: an id, a platform, a text (sometimes null) and a timestamp.
    fn batch(start: i64, n: i64) -> RecordBatch {
        let ids = Int64Array::from_iter_values(start..start + n);
        let platform = StringArray::from_iter_values(
            (start..start + n).map(|i| if i % 2 == 0 { "instagram" } else { "messenger" }),
        );
        let text: StringArray = (start..start + n)
            .map(|i| (i % 3 != 2).then(|| format!("hello {i} 🙂")))
            .collect();
        let time = TimestampMillisecondArray::from_iter_values(
            (start..start + n).map(|i| 1_795_000_000_000 + i * 1000),
        )
        .with_timezone("UTC");
        // Every column nullable, so that every batch has the schema of `batch(0, 0)`.
        RecordBatch::try_from_iter_with_nullable([
            ("n", Arc::new(ids) as ArrayRef, true),
            ("platform", Arc::new(platform) as ArrayRef, true),
            ("text", Arc::new(text) as ArrayRef, true),
            ("time", Arc::new(time) as ArrayRef, true),
        ])
        .expect("batch")
    }

    fn sink(settings: Settings, capture: &Capture) -> Box<dyn Sink> {
        Box::new(
            StdoutSink::with_writer(settings, &batch(0, 0).schema(), Box::new(capture.clone()))
                .expect("sink"),
        )
    }

    #[tokio::test]
    async fn ndjson_prints_one_object_per_row_with_every_key_and_rfc3339_times() {
        let capture = Capture::default();
        let mut s = sink(settings(Format::Ndjson), &capture);
        s.write(&batch(0, 2)).await.expect("write");
        s.write(&batch(2, 1)).await.expect("write");
        let report = s.finish().await.expect("finish");
        let text = capture.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            r#"{"n":0,"platform":"instagram","text":"hello 0 🙂","time":"2026-11-18T11:06:40Z"}"#
        );
        assert_eq!(
            lines[2],
            r#"{"n":2,"platform":"instagram","text":null,"time":"2026-11-18T11:06:42Z"}"#
        );
        assert_eq!(report.rows, 3);
        assert_eq!(report.bytes, text.len() as u64);
        assert_eq!(report.location.as_deref(), Some("stdout"));
    }

    #[tokio::test]
    async fn ndjson_stops_at_max_rows_and_then_wants_no_more() {
        let capture = Capture::default();
        let mut s = sink(
            Settings {
                max_rows: Some(3),
                ..settings(Format::Ndjson)
            },
            &capture,
        );
        s.write(&batch(0, 2)).await.expect("write");
        assert!(s.wants_more());
        s.write(&batch(2, 2)).await.expect("write");
        assert!(!s.wants_more());
        s.write(&batch(4, 2))
            .await
            .expect("a batch after the limit is ignored");
        let report = s.finish().await.expect("finish");
        assert_eq!(capture.text().lines().count(), 3);
        assert_eq!(report.rows, 3);
    }

    #[tokio::test]
    async fn a_closed_pipe_ends_the_sink_quietly() {
        let capture = Capture {
            limit: Some(100),
            ..Capture::default()
        };
        let mut s = sink(settings(Format::Ndjson), &capture);
        s.write(&batch(0, 1)).await.expect("first batch fits");
        assert!(s.wants_more());
        s.write(&batch(1, 50))
            .await
            .expect("a closed pipe is not an error");
        assert!(!s.wants_more(), "a closed pipe wants no more data");
        s.write(&batch(51, 5))
            .await
            .expect("writes after the close are ignored");
        let report = s.finish().await.expect("finish succeeds");
        assert_eq!(
            report.rows, 1,
            "only the rows that got through are reported"
        );
        assert_eq!(
            capture.text().len(),
            100,
            "nothing was written after the close"
        );
    }

    #[tokio::test]
    async fn a_pipe_closed_before_the_table_is_printed_is_not_an_error() {
        let capture = Capture {
            limit: Some(0),
            ..Capture::default()
        };
        let mut s = sink(settings(Format::Table), &capture);
        s.write(&batch(0, 3)).await.expect("write");
        let report = s.finish().await.expect("finish succeeds");
        assert_eq!(report.rows, 0);
        assert_eq!(capture.text(), "");
    }

    #[tokio::test]
    async fn other_write_errors_fail_the_run() {
        let capture = Capture {
            fail_with: Some(ErrorKind::StorageFull),
            ..Capture::default()
        };
        let mut s = sink(settings(Format::Ndjson), &capture);
        let err = s
            .write(&batch(0, 1))
            .await
            .expect_err("disk full is an error");
        assert!(
            err.to_string().contains("cannot write to standard output"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn table_prints_aligned_columns_once_with_a_row_count() {
        let capture = Capture::default();
        let mut s = sink(settings(Format::Table), &capture);
        s.write(&batch(0, 2)).await.expect("write");
        s.write(&batch(2, 1)).await.expect("write");
        assert_eq!(capture.text(), "", "a table is printed at the end");
        let report = s.finish().await.expect("finish");
        let expected = "\
+---+-----------+------------+----------------------+
| n | platform  | text       | time                 |
+---+-----------+------------+----------------------+
| 0 | instagram | hello 0 🙂 | 2026-11-18T11:06:40Z |
| 1 | messenger | hello 1 🙂 | 2026-11-18T11:06:41Z |
| 2 | instagram | null       | 2026-11-18T11:06:42Z |
+---+-----------+------------+----------------------+
3 rows
";
        assert_eq!(capture.text(), expected);
        assert_eq!(report.rows, 3);
    }

    #[tokio::test]
    async fn table_stops_at_max_rows_and_says_so() {
        let capture = Capture::default();
        let mut s = sink(
            Settings {
                max_rows: Some(2),
                ..settings(Format::Table)
            },
            &capture,
        );
        s.write(&batch(0, 5)).await.expect("write");
        assert!(!s.wants_more());
        let report = s.finish().await.expect("finish");
        let text = capture.text();
        assert_eq!(report.rows, 2);
        assert!(text.contains("| 1 |") && !text.contains("| 2 |"), "{text}");
        assert!(
            text.ends_with("2 rows (the first; raise `max_rows` to see more)\n"),
            "{text}"
        );
    }

    /// The table `settings` prints for `batches`, written in this order.
    async fn table_of(settings: Settings, batches: &[RecordBatch]) -> (String, SinkReport) {
        let capture = Capture::default();
        let mut s = sink(settings, &capture);
        for b in batches {
            s.write(b).await.expect("write");
            assert!(s.wants_more(), "a sorted table reads every row");
        }
        let report = s.finish().await.expect("finish");
        (capture.text(), report)
    }

    #[tokio::test]
    async fn order_by_shows_the_best_rows_of_the_whole_run_whatever_their_arrival_order() {
        let sorted = |max_rows| Settings {
            max_rows: Some(max_rows),
            order_by: Some(vec![SortKey {
                column: 3,
                descending: true,
            }]),
            ..settings(Format::Table)
        };
        let (one, report) = table_of(sorted(2), &[batch(0, 3), batch(3, 4), batch(7, 2)]).await;
        let (other, _) = table_of(sorted(2), &[batch(7, 2), batch(0, 3), batch(3, 4)]).await;
        assert_eq!(one, other, "arrival order does not change the table");
        // The newest two of all nine rows, newest first.
        let rows: Vec<&str> = one.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(
            rows[1].starts_with("| 8 |") && rows[2].starts_with("| 7 |"),
            "{one}"
        );
        assert_eq!(rows.len(), 3, "{one}");
        assert!(
            one.ends_with("2 of 9 rows, by time desc (raise `max_rows` to see more)\n"),
            "{one}"
        );
        assert_eq!(report.rows, 2, "rows printed");
        let (all, report) = table_of(sorted(20), &[batch(0, 2), batch(2, 1)]).await;
        assert!(all.ends_with("3 rows, by time desc\n"), "{all}");
        assert_eq!(report.rows, 3);
    }

    #[tokio::test]
    async fn order_by_breaks_ties_on_the_other_columns_and_may_sort_an_unprinted_column() {
        // Every row has the same platform: the tie is broken by the other held columns
        // (`n` ascending), not by arrival order.
        let same = |start, n| {
            let b = batch(start, n);
            let platform: ArrayRef =
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "instagram")));
            let mut columns = b.columns().to_vec();
            columns[1] = platform;
            RecordBatch::try_new(b.schema(), columns).expect("batch")
        };
        let settings = Settings {
            max_rows: Some(2),
            projection: Some(vec![0]),
            order_by: Some(vec![SortKey {
                column: 1,
                descending: false,
            }]),
            ..settings(Format::Table)
        };
        let (a, _) = table_of(settings.clone(), &[same(5, 3), same(0, 5)]).await;
        let (b, _) = table_of(settings, &[same(0, 5), same(5, 3)]).await;
        assert_eq!(a, b);
        assert!(
            a.contains("| 0 |") && a.contains("| 1 |") && !a.contains("| 2 |"),
            "{a}"
        );
        assert_eq!(
            a.lines().nth(1),
            Some("| n |"),
            "only the printed columns: {a}"
        );
        assert!(
            a.ends_with("2 of 8 rows, by platform (raise `max_rows` to see more)\n"),
            "{a}"
        );
    }

    #[test]
    fn strings_numbers_and_times_are_sortable_keys() {
        assert!(sortable(&DataType::Utf8));
        assert!(sortable(&DataType::Int64));
        assert!(sortable(&DataType::Timestamp(
            arrow::datatypes::TimeUnit::Millisecond,
            Some("UTC".into())
        )));
    }

    #[tokio::test]
    async fn table_truncates_long_values_with_an_ellipsis() {
        let capture = Capture::default();
        let mut s = sink(
            Settings {
                max_width: 8,
                ..settings(Format::Table)
            },
            &capture,
        );
        s.write(&batch(0, 1)).await.expect("write");
        s.finish().await.expect("finish");
        let text = capture.text();
        assert!(text.contains("| hell…0 🙂 |"), "{text}");
        assert!(text.contains("| 2026…40Z |"), "{text}");
        assert!(text.contains("| inst…ram |"), "{text}");
    }

    #[tokio::test]
    async fn table_shows_the_columns_when_no_row_arrived() {
        let capture = Capture::default();
        let s = sink(settings(Format::Table), &capture);
        s.finish().await.expect("finish");
        let text = capture.text();
        assert!(text.contains("| n | platform | text | time |"), "{text}");
        assert!(text.ends_with("0 rows\n"), "{text}");
    }

    #[tokio::test]
    async fn prints_only_the_projected_columns_in_order() {
        let capture = Capture::default();
        let mut s = sink(
            Settings {
                projection: Some(vec![1, 0]),
                ..settings(Format::Ndjson)
            },
            &capture,
        );
        s.write(&batch(0, 1)).await.expect("write");
        s.finish().await.expect("finish");
        assert_eq!(capture.text(), "{\"platform\":\"instagram\",\"n\":0}\n");
    }

    #[tokio::test]
    async fn table_formats_nested_values() {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("inbox");
        tags.values().append_value("source:mobile");
        tags.append(true);
        let tags = tags.finish();
        let b = RecordBatch::try_from_iter([("tags", Arc::new(tags) as ArrayRef)]).expect("batch");
        let capture = Capture::default();
        let mut s: Box<dyn Sink> = Box::new(
            StdoutSink::with_writer(
                settings(Format::Table),
                &b.schema(),
                Box::new(capture.clone()),
            )
            .expect("sink"),
        );
        s.write(&b).await.expect("write");
        s.finish().await.expect("finish");
        assert!(
            capture.text().contains("| [inbox, source:mobile] |"),
            "{}",
            capture.text()
        );
    }

    /// One row whose `messages` is a list of one struct holding a UTC timestamp, as in the
    /// canonical schema.
    fn nested_time_batch() -> RecordBatch {
        let time = TimestampMillisecondArray::from(vec![1_795_000_000_000]).with_timezone("UTC");
        let time_field = Arc::new(Field::new("created_time", time.data_type().clone(), true));
        let item = arrow::array::StructArray::from(vec![(time_field, Arc::new(time) as ArrayRef)]);
        let item_field = Arc::new(Field::new_list_field(item.data_type().clone(), true));
        let list = arrow::array::ListArray::new(
            item_field,
            arrow::buffer::OffsetBuffer::from_lengths([1]),
            Arc::new(item),
            None,
        );
        RecordBatch::try_from_iter([("messages", Arc::new(list) as ArrayRef)]).expect("batch")
    }

    #[tokio::test]
    async fn prints_utc_timestamps_nested_in_lists_of_structs() {
        for (format, expected) in [
            (
                Format::Ndjson,
                r#"{"messages":[{"created_time":"2026-11-18T11:06:40Z"}]}"#,
            ),
            (Format::Table, "| [{created_time: 2026-11-18T11:06:40Z}] |"),
        ] {
            let b = nested_time_batch();
            let capture = Capture::default();
            let settings = Settings {
                max_width: 100,
                ..settings(format)
            };
            let mut s: Box<dyn Sink> = Box::new(
                StdoutSink::with_writer(settings, &b.schema(), Box::new(capture.clone()))
                    .expect("sink"),
            );
            s.write(&b).await.expect("write");
            s.finish().await.expect("finish");
            assert!(
                capture.text().contains(expected),
                "{format:?}: {}",
                capture.text()
            );
        }
    }

    #[test]
    fn cell_cuts_on_char_boundaries_and_marks_the_cut() {
        assert_eq!(cell("short", 10), "short");
        assert_eq!(cell("exactly10!", 10), "exactly10!");
        assert_eq!(cell("eleven chars", 10), "eleve…hars");
        assert_eq!(cell("🙂🙂🙂🙂", 3), "🙂…🙂");
        assert_eq!(cell("中文中文中文", 4), "中文…文");
        assert_eq!(cell("abc", 1), "…");
        assert_eq!(cell("abc", 2), "a…");
        assert_eq!(cell("", 5), "");
    }

    #[test]
    fn cells_of_ids_sharing_a_long_prefix_stay_distinct() {
        // Instagram thread ids: base64 of `ig_thread:1:IGMessageThread:1:...`, equal for 40+
        // characters; a cut that kept only the start made every id of the demo look the same.
        let a = "aWdfdGhyZWFkOjE6SUdNZXNzYWdlVGhyZWFkOjE6MTc4NDE0MDAwMDAwMDAwMTIzNDU2";
        let b = "aWdfdGhyZWFkOjE6SUdNZXNzYWdlVGhyZWFkOjE6MTc4NDE0MDAwMDAwMDAwOTg3NjU0";
        let (ca, cb) = (cell(a, 40), cell(b, 40));
        assert_ne!(ca, cb);
        assert_eq!(ca.chars().count(), 40);
        assert!(
            ca.starts_with("aWdfdGhy") && ca.ends_with("MTIzNDU2"),
            "{ca}"
        );
    }

    #[test]
    fn cell_escapes_control_characters_to_keep_one_line() {
        assert_eq!(cell("a\nb\tc", 20), "a\\nb\\tc");
        assert_eq!(cell("line\nbreak", 6), "lin…ak");
        assert_eq!(cell("break\nline", 6), "bre…ne");
        assert_eq!(cell("ab\n", 3), "a…n");
    }
}
