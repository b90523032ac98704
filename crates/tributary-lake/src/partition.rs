//! Hive partitioning: `platform=instagram/folder=inbox/updated_date=2026-11-25/`.
//!
//! Keys come from `partition_by` columns, plus `updated_date`, derived from the `updated_time`
//! timestamp as a UTC calendar date (unless the input has its own `updated_date` column).
//! Partition columns are **not** written inside the files, as Hive, Spark and pyarrow do: readers
//! take them from the path, and a column present in both places makes some readers (pyarrow,
//! polars) fail on a type conflict.
//!
//! Values are escaped like Hive's `FileUtils.escapePathName` (`/` → `%2F`, `=` → `%3D`, control
//! characters, `%`, ...), so no value can add a directory level or climb out of the base path;
//! null and empty values become `__HIVE_DEFAULT_PARTITION__`. Readers with Hive partitioning
//! (DuckDB, pyarrow, polars, Spark, Trino) decode the escapes.
//!
//! Batches are split with Arrow kernels (lexsort, take, partition) — columnar, never row by row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::kernels::cast::cast;
use arrow::compute::{SortColumn, lexsort_to_indices, partition, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use tributary_core::error::BuildError;

/// The derived partition key: the UTC date of `updated_time`.
pub const UPDATED_DATE: &str = "updated_date";
/// The column `updated_date` is derived from.
pub const UPDATED_TIME: &str = "updated_time";
/// The directory value of a null or empty partition value (Hive's convention).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

#[derive(Debug, Clone)]
struct KeySource {
    name: String,
    column: usize,
    /// Derive a UTC date from this timestamp column (unit needed to compute days).
    date_of: Option<TimeUnit>,
}

/// How batches are split into partitions, and which columns the files keep.
#[derive(Debug, Clone)]
pub struct PartitionSpec {
    keys: Vec<KeySource>,
    projection: Vec<usize>,
    data_schema: SchemaRef,
}

/// One partition: `(column, value)` pairs in `partition_by` order (`None` for null).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey(pub Vec<(String, Option<String>)>);

impl PartitionKey {
    /// The relative directory, `k1=v1/k2=v2` (escaped), or `""` when unpartitioned.
    pub fn path(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| {
                let value = match v.as_deref() {
                    None | Some("") => NULL_PARTITION.to_owned(),
                    Some(v) => escape(v),
                };
                format!("{}={value}", escape(k))
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Escapes one path-segment value like Hive (`FileUtils.escapePathName`), plus every character
/// `object_store` would otherwise re-encode, so the name on disk and in the bucket is the same.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let needs = c.is_ascii_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | '^'
                    | '|'
                    | '<'
                    | '>'
                    | '`'
                    | '~'
            );
        if needs {
            // Every character in the set is ASCII: one byte, two hex digits.
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl PartitionSpec {
    /// No partitioning: every row goes to the base directory.
    pub fn none(schema: &SchemaRef) -> Self {
        Self {
            keys: Vec::new(),
            projection: (0..schema.fields().len()).collect(),
            data_schema: schema.clone(),
        }
    }

    /// Validates `partition_by` (config key `partition_by`) against the input schema. Pure.
    pub fn new(partition_by: &[String], schema: &SchemaRef) -> Result<Self, BuildError> {
        let mut keys: Vec<KeySource> = Vec::new();
        for name in partition_by {
            if keys.iter().any(|k| &k.name == name) {
                return Err(BuildError::at(
                    "partition_by",
                    format!("`{name}` is listed twice in `partition_by`"),
                ));
            }
            keys.push(key_source(name, schema)?);
        }
        // Derived keys keep their source column in the files; real partition columns move to
        // the path.
        let moved: Vec<usize> = keys
            .iter()
            .filter(|k| k.date_of.is_none())
            .map(|k| k.column)
            .collect();
        let projection: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !moved.contains(i))
            .collect();
        if projection.is_empty() {
            return Err(BuildError::at(
                "partition_by",
                "`partition_by` lists every column: the files would have no data",
            ));
        }
        let data_schema = Arc::new(schema.project(&projection).map_err(|e| {
            BuildError::at(
                "partition_by",
                format!("cannot project the input schema: {e}"),
            )
        })?);
        Ok(Self {
            keys,
            projection,
            data_schema,
        })
    }

    /// Whether any partition key is configured.
    pub fn is_partitioned(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The partition key names, in order.
    pub fn key_names(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.name.as_str()).collect()
    }

    /// The schema of the files (the input minus the partition columns).
    pub fn data_schema(&self) -> &SchemaRef {
        &self.data_schema
    }

    /// Splits `batch` into one data batch per partition (partition columns removed).
    pub fn split(
        &self,
        batch: &RecordBatch,
    ) -> Result<Vec<(PartitionKey, RecordBatch)>, ArrowError> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let data = batch.project(&self.projection)?;
        if self.keys.is_empty() {
            return Ok(vec![(PartitionKey(Vec::new()), data)]);
        }
        let key_arrays = self
            .keys
            .iter()
            .map(|k| key_strings(batch.column(k.column), k.date_of))
            .collect::<Result<Vec<_>, _>>()?;
        // Common case: a whole batch (one API page) falls in one partition — no copy at all.
        let ranges = partition(&key_arrays)?.ranges();
        if ranges.len() == 1 {
            return Ok(vec![(self.key_at(&key_arrays, 0), data)]);
        }
        // The row number as the last key keeps the input order inside each partition
        // (lexsort is not stable).
        let row_numbers: ArrayRef = Arc::new(arrow::array::UInt32Array::from_iter_values(
            0..batch.num_rows() as u32,
        ));
        let sort: Vec<SortColumn> = key_arrays
            .iter()
            .chain([&row_numbers])
            .map(|a| SortColumn {
                values: a.clone(),
                options: None,
            })
            .collect();
        let indices = lexsort_to_indices(&sort, None)?;
        let sorted_keys = key_arrays
            .iter()
            .map(|a| arrow::compute::take(a.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        let sorted = take_record_batch(&data, &indices)?;
        let ranges = partition(&sorted_keys)?.ranges();
        Ok(ranges
            .into_iter()
            .map(|r| {
                (
                    self.key_at(&sorted_keys, r.start),
                    sorted.slice(r.start, r.end - r.start),
                )
            })
            .collect())
    }

    fn key_at(&self, arrays: &[ArrayRef], row: usize) -> PartitionKey {
        PartitionKey(
            self.keys
                .iter()
                .zip(arrays)
                .map(|(k, a)| {
                    let s = a.as_string::<i32>();
                    (
                        k.name.clone(),
                        s.is_valid(row).then(|| s.value(row).to_owned()),
                    )
                })
                .collect(),
        )
    }
}

/// The key column as `Utf8` (dates derived from timestamps as UTC days).
fn key_strings(column: &ArrayRef, date_of: Option<TimeUnit>) -> Result<ArrayRef, ArrowError> {
    let keyed = match date_of {
        None => column.clone(),
        Some(unit) => {
            // Computed from the raw UTC epoch value, whatever the column's time zone: the
            // partition date is the UTC date by contract, and a cast to Date32 would use the
            // column's zone.
            let per_day: i64 = match unit {
                TimeUnit::Second => 86_400,
                TimeUnit::Millisecond => 86_400_000,
                TimeUnit::Microsecond => 86_400_000_000,
                TimeUnit::Nanosecond => 86_400_000_000_000,
            };
            let raw = cast(column, &DataType::Int64)?;
            let days = raw.as_primitive::<Int64Type>().unary::<_, Date32Type>(|v| {
                i32::try_from(v.div_euclid(per_day)).unwrap_or(i32::MAX)
            });
            Arc::new(days) as ArrayRef
        }
    };
    cast(&keyed, &DataType::Utf8)
}

fn is_partitionable(ty: &DataType) -> bool {
    ty.is_integer()
        || matches!(
            ty,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Date32
                | DataType::Date64
        )
}

/// A schema without `columns` (helper for sinks that report the file schema).
pub fn without(schema: &Schema, columns: &[&str]) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !columns.contains(&f.name().as_str()))
            .cloned()
            .collect::<Vec<_>>(),
    )
}

/// Where partition key `name` comes from: a scalar column, or `updated_date` derived from the
/// `updated_time` timestamp.
fn key_source(name: &String, schema: &SchemaRef) -> Result<KeySource, BuildError> {
    Ok(match schema.index_of(name) {
        Ok(column) => {
            let ty = schema.field(column).data_type();
            if !is_partitionable(ty) {
                return Err(BuildError::at(
                    "partition_by",
                    format!("cannot partition by `{name}`: its type {ty} is not a scalar"),
                )
                .with_help("partition by string, integer, boolean or date columns"));
            }
            KeySource {
                name: name.clone(),
                column,
                date_of: None,
            }
        }
        Err(_) if name == UPDATED_DATE => match schema.index_of(UPDATED_TIME) {
            Ok(column) => match schema.field(column).data_type() {
                DataType::Timestamp(unit, _) => KeySource {
                    name: name.clone(),
                    column,
                    date_of: Some(*unit),
                },
                other => {
                    return Err(BuildError::at(
                        "partition_by",
                        format!(
                            "`updated_date` is derived from `updated_time`, which must be \
                             a timestamp, not {other}"
                        ),
                    ));
                }
            },
            Err(_) => {
                return Err(BuildError::at(
                    "partition_by",
                    "`updated_date` is derived from an `updated_time` timestamp column, \
                     and the input has none",
                )
                .with_help("remove `updated_date` from `partition_by`"));
            }
        },
        Err(_) => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let mut e =
                BuildError::at("partition_by", format!("unknown partition column `{name}`"));
            e = match tributary_core::suggest(name, names.iter().copied().chain([UPDATED_DATE])) {
                Some(s) => e.with_help(format!("did you mean `{s}`?")),
                None => e.with_help(format!(
                    "the input has columns {}, and `updated_date` can be derived",
                    names.join(", ")
                )),
            };
            return Err(e);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::Field;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("platform", DataType::Utf8, true),
            Field::new("folder", DataType::Utf8, true),
            Field::new(
                "updated_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("n", DataType::Int64, true),
        ]))
    }

    fn batch(rows: &[(Option<&str>, &str, Option<i64>, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1)).collect::<StringArray>()),
                Arc::new(
                    rows.iter()
                        .map(|r| r.2)
                        .collect::<TimestampMillisecondArray>()
                        .with_timezone("UTC"),
                ),
                Arc::new(rows.iter().map(|r| Some(r.3)).collect::<Int64Array>()),
            ],
        )
        .unwrap()
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn splits_by_columns_and_utc_date_without_losing_rows() {
        let spec =
            PartitionSpec::new(&["platform".into(), "updated_date".into()], &schema()).unwrap();
        // 2026-11-25 is day 20_782 since the epoch; one millisecond before midnight stays there.
        let d = 20_782 * DAY;
        let b = batch(&[
            (Some("instagram"), "inbox", Some(d + DAY - 1), 1),
            (Some("messenger"), "inbox", Some(d), 2),
            (Some("instagram"), "other", Some(d + DAY), 3),
            (Some("instagram"), "spam", Some(d + 5), 4),
            (None, "inbox", None, 5),
        ]);
        let parts = spec.split(&b).unwrap();
        let summary: Vec<(String, Vec<i64>)> = parts
            .iter()
            .map(|(k, b)| {
                let n = b.column_by_name("n").unwrap().as_primitive::<Int64Type>();
                (k.path(), n.values().to_vec())
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    format!("platform={NULL_PARTITION}/updated_date={NULL_PARTITION}"),
                    vec![5]
                ),
                (
                    "platform=instagram/updated_date=2026-11-25".to_owned(),
                    vec![1, 4]
                ),
                (
                    "platform=instagram/updated_date=2026-11-26".to_owned(),
                    vec![3]
                ),
                (
                    "platform=messenger/updated_date=2026-11-25".to_owned(),
                    vec![2]
                ),
            ]
        );
        // The partition column moved to the path; the timestamp the date came from stayed.
        let cols: Vec<_> = parts[0]
            .1
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(cols, ["folder", "updated_time", "n"]);
    }

    #[test]
    fn one_partition_batches_are_not_copied() {
        let spec = PartitionSpec::new(&["folder".into()], &schema()).unwrap();
        let b = batch(&[
            (Some("a"), "inbox", Some(0), 1),
            (Some("b"), "inbox", Some(0), 2),
        ]);
        let parts = spec.split(&b).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1.num_rows(), 2);
        assert!(spec.split(&b.slice(0, 0)).unwrap().is_empty());
    }

    #[test]
    fn escaping_keeps_every_value_inside_one_directory() {
        for hostile in [
            "../../etc",
            "a/b",
            "..",
            "x=y",
            "%2F",
            "C:\\win",
            "a\nb",
            "?*#~[]",
        ] {
            let p = PartitionKey(vec![("k".into(), Some(hostile.into()))]).path();
            assert!(!p.contains('/'), "{hostile:?} -> {p}");
            // `k=..` is one ordinary directory name: only a bare `..` segment climbs.
            assert!(p.starts_with("k="), "{p}");
        }
        assert_eq!(escape("a/b=c%"), "a%2Fb%3Dc%25");
        assert_eq!(escape("日本語 😀"), "日本語 😀");
        assert_eq!(
            PartitionKey(vec![("k".into(), Some(String::new()))]).path(),
            format!("k={NULL_PARTITION}")
        );
    }

    #[test]
    fn build_errors_name_the_column_and_suggest() {
        let e = PartitionSpec::new(&["platfrom".into()], &schema()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("partition_by"));
        assert!(e.message.contains("`platfrom`"));
        assert_eq!(e.help.as_deref(), Some("did you mean `platform`?"));
        let e = PartitionSpec::new(&["updated_dat".into()], &schema()).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `updated_date`?"));
        let no_time = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
        let e = PartitionSpec::new(&["updated_date".into()], &no_time).unwrap_err();
        assert!(e.message.contains("updated_time"));
        let e = PartitionSpec::new(&["a".into()], &no_time).unwrap_err();
        assert!(e.message.contains("every column"));
        let e = PartitionSpec::new(&["n".into(), "n".into()], &schema()).unwrap_err();
        assert!(e.message.contains("twice"));
    }
}
