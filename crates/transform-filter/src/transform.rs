//! [`FilterTransform`]: the run-time side of `filter`, one boolean mask per batch from Arrow
//! comparison kernels, then `filter_record_batch`.

use arrow::array::{Array, ArrayRef, BooleanArray, Scalar, StringArray};
use arrow::compute::kernels::boolean::{and, not, or};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{cast, filter_record_batch, prep_null_mask_filter};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use tributary_core::RunError;
use tributary_core::plugin::Transform;

use crate::config::{Mode, Rule};

/// Keeps the rows of each batch that pass every rule; drops batches left with no row.
#[derive(Debug)]
pub struct FilterTransform {
    schema: SchemaRef,
    columns: Vec<ColumnFilter>,
}

/// One rule, compiled against the column's Arrow type.
#[derive(Debug)]
struct ColumnFilter {
    column: &'static str,
    mode: Mode,
    /// One scalar per listed value, already of the column's (leaf) type so `eq` needs no cast
    /// per batch.
    values: Vec<Scalar<ArrayRef>>,
}

/// Whether `filter` can compare a column of this type with its string values.
pub(crate) fn is_string_like(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        // `eq` unwraps one level of dictionary and compares its values.
        DataType::Dictionary(_, values) => {
            matches!(
                values.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => false,
    }
}

impl FilterTransform {
    /// Compiles `rules` for input batches of `schema`.
    ///
    /// The caller has checked that every rule's column exists and [`is_string_like`]; the error
    /// here is for a type Arrow cannot cast a string to, which that check excludes.
    pub fn new(schema: SchemaRef, rules: Vec<Rule>) -> Result<Self, RunError> {
        let mut columns = Vec::with_capacity(rules.len());
        for rule in rules {
            let field = schema.field_with_name(rule.column)?;
            let leaf = match field.data_type() {
                DataType::Dictionary(_, values) => values.as_ref(),
                other => other,
            };
            let values = rule
                .values
                .iter()
                .map(|value| {
                    let one = StringArray::from(vec![value.as_str()]);
                    Ok(Scalar::new(cast(&one, leaf)?))
                })
                .collect::<Result<Vec<_>, RunError>>()?;
            columns.push(ColumnFilter {
                column: rule.column,
                mode: rule.mode,
                values,
            });
        }
        Ok(Self { schema, columns })
    }
}

impl ColumnFilter {
    /// `true` for every row of `array` this rule keeps. Never null: a null value is "not listed",
    /// so `Keep` drops it and `Drop` keeps it.
    fn mask(&self, array: &dyn Array) -> Result<BooleanArray, RunError> {
        let mut listed: Option<BooleanArray> = None;
        for value in &self.values {
            let hit = eq(&array, value)?;
            listed = Some(match listed {
                None => hit,
                Some(acc) => or(&acc, &hit)?,
            });
        }
        // `Rule`s always list at least one value (config validation), so `listed` is set; an
        // empty list would mean "nothing listed" either way.
        let listed = match listed {
            // `prep_null_mask_filter` unwraps the null buffer: call it only when there is one.
            Some(listed) if listed.null_count() > 0 => prep_null_mask_filter(&listed),
            Some(listed) => listed,
            None => BooleanArray::from(vec![false; array.len()]),
        };
        Ok(match self.mode {
            Mode::Keep => listed,
            Mode::Drop => not(&listed)?,
        })
    }
}

impl Transform for FilterTransform {
    fn output_schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let mut keep: Option<BooleanArray> = None;
        for column in &self.columns {
            let array = batch.column_by_name(column.column).ok_or_else(|| {
                RunError::msg(format!(
                    "filter: a batch arrived without the `{}` column its schema promised",
                    column.column
                ))
            })?;
            let mask = column.mask(array.as_ref())?;
            keep = Some(match keep {
                None => mask,
                Some(acc) => and(&acc, &mask)?,
            });
        }
        let Some(keep) = keep else {
            return Ok(Some(batch));
        };
        match keep.true_count() {
            0 => Ok(None),
            // Every row passes: forward the batch itself instead of copying every column.
            n if n == batch.num_rows() => Ok(Some(batch)),
            _ => Ok(Some(filter_record_batch(&batch, &keep)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        DictionaryArray, Int64Array, LargeStringArray, StringViewArray, as_string_array,
    };
    use arrow::datatypes::{Field, Int32Type, Schema};

    use super::*;

    fn rule(column: &'static str, mode: Mode, values: &[&str]) -> Rule {
        Rule {
            column,
            key: column,
            mode,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    /// A batch with `platform`, `folder` and a row number `n`, from `(platform, folder)` pairs.
    fn batch(rows: &[(Option<&str>, Option<&str>)]) -> RecordBatch {
        let platform: ArrayRef = Arc::new(StringArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        ));
        let folder: ArrayRef = Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ));
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows.len() as i64));
        RecordBatch::try_from_iter([("platform", platform), ("folder", folder), ("n", n)])
            .expect("valid batch")
    }

    fn filter(rules: Vec<Rule>, schema: SchemaRef) -> FilterTransform {
        FilterTransform::new(schema, rules).expect("compiles")
    }

    /// The `n` of every kept row, or `None` when the batch was dropped.
    fn kept(transform: &FilterTransform, batch: RecordBatch) -> Option<Vec<i64>> {
        let out = transform.apply(batch).expect("applies")?;
        assert_eq!(out.schema(), transform.output_schema(), "schema is stable");
        assert!(out.num_rows() > 0, "never forwards an empty batch");
        let n = out
            .column_by_name("n")
            .expect("n")
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        Some(n.values().to_vec())
    }

    fn sample() -> RecordBatch {
        batch(&[
            (Some("instagram"), Some("inbox")),
            (Some("messenger"), Some("inbox")),
            (Some("instagram"), Some("spam")),
            (None, Some("inbox")),
            (Some("instagram"), None),
            (Some("messenger"), Some("other")),
        ])
    }

    #[test]
    fn keeps_only_listed_platforms_and_drops_null_platforms() {
        let b = sample();
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![0, 2, 4]));
    }

    #[test]
    fn keeps_any_of_several_listed_folders() {
        let b = sample();
        let f = filter(
            vec![rule("folder", Mode::Keep, &["spam", "other"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![2, 5]));
    }

    #[test]
    fn drops_excluded_platforms_and_keeps_null_platforms() {
        let b = sample();
        let f = filter(
            vec![rule("platform", Mode::Drop, &["messenger"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![0, 2, 3, 4]));
    }

    #[test]
    fn drops_excluded_folders_and_keeps_null_folders() {
        let b = sample();
        let f = filter(
            vec![rule("folder", Mode::Drop, &["inbox", "spam"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![4, 5]));
    }

    #[test]
    fn a_row_must_pass_every_column_rule() {
        let b = sample();
        let f = filter(
            vec![
                rule("platform", Mode::Keep, &["instagram"]),
                rule("folder", Mode::Keep, &["inbox"]),
            ],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![0]));
    }

    #[test]
    fn drops_a_batch_in_which_no_row_passes() {
        let b = batch(&[(Some("messenger"), Some("inbox")), (None, None)]);
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), None);
    }

    #[test]
    fn drops_an_empty_batch() {
        let b = batch(&[]);
        let f = filter(
            vec![rule("platform", Mode::Drop, &["messenger"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), None);
    }

    #[test]
    fn forwards_a_batch_in_which_every_row_passes_without_copying() {
        let b = batch(&[
            (Some("instagram"), Some("inbox")),
            (Some("instagram"), Some("other")),
        ]);
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        let before = b.column(0).to_data().buffers()[1].as_ptr();
        let out = f.apply(b).expect("applies").expect("kept");
        assert_eq!(out.num_rows(), 2);
        assert_eq!(out.column(0).to_data().buffers()[1].as_ptr(), before);
    }

    #[test]
    fn respects_the_offset_of_a_sliced_batch() {
        let b = sample().slice(2, 3); // rows 2, 3, 4: (ig, spam), (null, inbox), (ig, null)
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        assert_eq!(kept(&f, b), Some(vec![2, 4]));
    }

    #[test]
    fn keeps_the_values_of_every_column_byte_exact() {
        let platform: ArrayRef = Arc::new(StringArray::from(vec![
            "instagram",
            "messenger",
            "instagram",
        ]));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("é🙂 中文"), Some("x"), None]));
        let b =
            RecordBatch::try_from_iter([("platform", platform), ("text", text)]).expect("batch");
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        let out = f.apply(b).expect("applies").expect("kept");
        let text = as_string_array(out.column(1));
        assert_eq!(text.value(0), "é🙂 中文");
        assert!(text.is_null(1));
    }

    #[test]
    fn compares_large_view_and_dictionary_string_columns() {
        let values = vec![
            Some("instagram"),
            Some("messenger"),
            None,
            Some("instagram"),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(LargeStringArray::from(values.clone())),
            Arc::new(StringViewArray::from(values.clone())),
            Arc::new(
                values
                    .iter()
                    .copied()
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
        ];
        for platform in columns {
            let data_type = platform.data_type().clone();
            assert!(is_string_like(&data_type));
            let schema = Arc::new(Schema::new(vec![Field::new(
                "platform",
                data_type.clone(),
                true,
            )]));
            let b = RecordBatch::try_new(schema.clone(), vec![platform]).expect("batch");
            let f = filter(vec![rule("platform", Mode::Keep, &["instagram"])], schema);
            let out = f.apply(b).expect("applies").expect("kept");
            assert_eq!(out.num_rows(), 2, "{data_type}");
        }
    }

    #[test]
    fn filters_list_columns_of_a_sliced_batch_row_for_row() {
        let mut tags = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
        let rows: [(&str, Option<&[&str]>); 5] = [
            ("instagram", Some(&["a"])),
            ("messenger", Some(&["b", "c"])),
            ("instagram", None),
            ("instagram", Some(&["d", "e", "f"])),
            ("messenger", Some(&[])),
        ];
        for (_, values) in &rows {
            match values {
                Some(values) => {
                    for v in *values {
                        tags.values().append_value(v);
                    }
                    tags.append(true);
                }
                None => tags.append(false),
            }
        }
        let platform: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0)));
        let tags: ArrayRef = Arc::new(tags.finish());
        let b =
            RecordBatch::try_from_iter([("platform", platform), ("tags", tags)]).expect("batch");
        let b = b.slice(1, 4); // messenger [b,c], instagram null, instagram [d,e,f], messenger []
        let f = filter(
            vec![rule("platform", Mode::Keep, &["instagram"])],
            b.schema(),
        );
        let out = f.apply(b).expect("applies").expect("kept");
        let tags = out
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::ListArray>()
            .expect("list");
        assert_eq!(tags.len(), 2);
        assert!(tags.is_null(0));
        let second = tags.value(1);
        assert_eq!(
            as_string_array(&second).iter().collect::<Vec<_>>(),
            [Some("d"), Some("e"), Some("f")]
        );
    }

    #[test]
    fn other_types_are_not_string_like() {
        assert!(!is_string_like(&DataType::Int64));
        assert!(!is_string_like(&DataType::Dictionary(
            Box::new(DataType::Int8),
            Box::new(DataType::Int64)
        )));
    }
}
