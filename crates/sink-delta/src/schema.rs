//! The table's schema from the pipeline's: Delta types, the derived `updated_date`, and the
//! check of an existing table's schema against the pipeline's.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use tributary_lake::partition::{UPDATED_DATE, UPDATED_TIME};

/// The Arrow type Delta stores for `ty`: Delta has only microsecond timestamps (`timestamp` is
/// UTC, `timestamp_ntz` has no zone), so every timestamp becomes microseconds; everything else is
/// unchanged. Nested lists and structs are rewritten field by field.
pub fn delta_type(ty: &DataType) -> DataType {
    match ty {
        DataType::Timestamp(_, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| Arc::from("UTC")))
        }
        DataType::List(item) => DataType::List(delta_field(item)),
        DataType::LargeList(item) => DataType::LargeList(delta_field(item)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(delta_field).collect()),
        other => other.clone(),
    }
}

fn delta_field(field: &FieldRef) -> FieldRef {
    Arc::new(Field::new(
        field.name(),
        delta_type(field.data_type()),
        field.is_nullable(),
    ))
}

/// The table schema for a pipeline whose batches have `input`: Delta types, plus a `date` column
/// `updated_date` when it is a partition column derived from `updated_time`.
pub fn table_schema(input: &Schema, partition_by: &[String]) -> SchemaRef {
    let mut fields: Vec<FieldRef> = input.fields().iter().map(delta_field).collect();
    if derives_updated_date(input, partition_by) {
        fields.push(Arc::new(Field::new(UPDATED_DATE, DataType::Date32, true)));
    }
    Arc::new(Schema::new(fields))
}

/// Whether `updated_date` must be computed from `updated_time`.
pub fn derives_updated_date(input: &Schema, partition_by: &[String]) -> bool {
    partition_by.iter().any(|p| p == UPDATED_DATE) && input.index_of(UPDATED_DATE).is_err()
}

/// Makes `batch` (the pipeline's) a batch of the table: adds `updated_date` when derived, and
/// casts each column to the table's type (millisecond → microsecond timestamps, nested too).
/// `table` is the table's Arrow schema; columns are matched by name.
pub fn to_table_batch(
    batch: &RecordBatch,
    table: &SchemaRef,
    derive_date: bool,
) -> Result<RecordBatch, ArrowError> {
    let input = batch.schema();
    let columns = table
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef, ArrowError> {
            let column = match input.index_of(field.name()) {
                Ok(i) => batch.column(i).clone(),
                Err(_) if derive_date && field.name() == UPDATED_DATE => {
                    let time = batch.column(input.index_of(UPDATED_TIME)?);
                    // The cast takes the timestamp's zone (UTC) into account.
                    cast(time, &DataType::Date32)?
                }
                Err(e) => return Err(e),
            };
            if column.data_type() == field.data_type() {
                Ok(column)
            } else {
                cast(&column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(table.clone(), columns)
}

/// What differs between the table's schema and the one the pipeline writes (empty: they agree).
/// Nullability is not compared (a nullable pipeline column into a non-nullable table column only
/// fails if a null actually arrives, and says so then).
pub fn differences(table: &Schema, ours: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for field in ours.fields() {
        match table.field_with_name(field.name()) {
            Err(_) => out.push(format!(
                "the pipeline writes `{}` ({}), which the table does not have",
                field.name(),
                field.data_type()
            )),
            Ok(t) if !same_type(t.data_type(), field.data_type()) => out.push(format!(
                "`{}` is {} in the table but {} in the pipeline",
                field.name(),
                t.data_type(),
                field.data_type()
            )),
            Ok(_) => {}
        }
    }
    for field in table.fields() {
        if ours.field_with_name(field.name()).is_err() {
            out.push(format!(
                "the table has `{}` ({}), which the pipeline does not write",
                field.name(),
                field.data_type()
            ));
        }
    }
    out
}

/// Type equality that ignores nullability and field metadata at every level.
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Struct(a), DataType::Struct(b)) => same_fields(a, b),
        (DataType::List(a), DataType::List(b))
        | (DataType::LargeList(a), DataType::LargeList(b)) => {
            same_type(a.data_type(), b.data_type())
        }
        (DataType::Timestamp(ua, za), DataType::Timestamp(ub, zb)) => {
            ua == ub && za.is_some() == zb.is_some()
        }
        _ => a == b,
    }
}

fn same_fields(a: &Fields, b: &Fields) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.name() == y.name() && same_type(x.data_type(), y.data_type()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampMillisecondArray};

    fn input() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new(
                "updated_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                true,
            ),
            Field::new(
                "messages",
                DataType::List(Arc::new(Field::new_list_field(
                    DataType::Struct(
                        vec![Field::new(
                            "created_time",
                            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                            true,
                        )]
                        .into(),
                    ),
                    true,
                ))),
                true,
            ),
        ])
    }

    #[test]
    fn timestamps_become_utc_microseconds_at_every_level() {
        let t = table_schema(&input(), &[]);
        assert_eq!(
            t.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let DataType::List(item) = t.field(2).data_type() else {
            panic!()
        };
        let DataType::Struct(f) = item.data_type() else {
            panic!()
        };
        assert_eq!(
            f[0].data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert!(!t.field(0).is_nullable(), "nullability is kept");
    }

    #[test]
    fn updated_date_is_derived_in_utc() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new(
                "updated_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
                true,
            ),
        ]));
        let table = table_schema(&schema, &["updated_date".into()]);
        assert_eq!(table.fields().len(), 3);
        // 2026-11-25T23:59:59.999Z and 2026-11-26T00:00:00Z.
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![1_795_651_199_999, 1_795_651_200_000])
                        .with_timezone("+00:00"),
                ),
            ],
        )
        .unwrap();
        let out = to_table_batch(&batch, &table, true).unwrap();
        let dates = arrow::util::display::ArrayFormatter::try_new(
            out.column(2).as_ref(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(dates.value(0).to_string(), "2026-11-25");
        assert_eq!(dates.value(1).to_string(), "2026-11-26");
        assert_eq!(
            out.column(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }

    #[test]
    fn differences_name_each_column() {
        let ours = table_schema(&input(), &[]);
        assert!(differences(&ours, &ours).is_empty());
        let other = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("extra", DataType::Utf8, true),
        ]);
        let d = differences(&other, &ours).join("\n");
        assert!(d.contains("`id` is Int64 in the table but Utf8"), "{d}");
        assert!(d.contains("writes `updated_time`"), "{d}");
        assert!(d.contains("the table has `extra`"), "{d}");
    }
}
