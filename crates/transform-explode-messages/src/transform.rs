//! [`ExplodeMessagesTransform`]: the run-time side of `explode_messages`.
//!
//! Columnar: the `messages` list's offsets become an index array (`parents`) that repeats each
//! thread's row once per message; `take` gathers the key columns with it. The message columns are
//! the list's child struct array, sliced to the batch's range without a copy when every thread
//! and every message in it is valid, otherwise gathered with a second index array that skips null
//! threads (whose offsets may still span child rows) and null messages.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, StructArray, UInt32Array, make_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use tributary_core::RunError;
use tributary_core::canonical::{self, message, participant};
use tributary_core::plugin::Transform;

use crate::KEYS;

/// One row per message, with the thread's keys (see the crate docs for the schema).
#[derive(Debug)]
pub struct ExplodeMessagesTransform {
    schema: SchemaRef,
}

impl ExplodeMessagesTransform {
    /// A transform producing batches of `schema` (the output schema computed at build time).
    pub fn new(schema: SchemaRef) -> Self {
        Self { schema }
    }
}

/// Which child rows of the `messages` list become output rows.
enum Children {
    /// The contiguous range `start..start + len` of the child array, every row valid.
    Range { start: usize, len: usize },
    /// These child rows (null threads and null messages skipped).
    Take(UInt32Array),
}

/// For each output row, the input row (thread) and the child row (message) it comes from.
struct Plan {
    parents: UInt32Array,
    children: Children,
}

fn index(i: usize) -> Result<u32, RunError> {
    u32::try_from(i).map_err(|_| {
        RunError::msg(format!(
            "explode_messages: a batch addresses more than {} messages; use smaller batches",
            u32::MAX
        ))
    })
}

fn plan(list: &GenericListArray<i32>, items: &StructArray) -> Result<Plan, RunError> {
    let offsets = list.value_offsets();
    let rows = list.len();
    // `value_offsets` is already relative to the list's slice; the child array is not sliced.
    let first = offsets.first().copied().unwrap_or(0) as usize;
    let last = offsets.last().copied().unwrap_or(0) as usize;
    let span = |i: usize| (offsets[i] as usize, offsets[i + 1] as usize);

    // A null thread may own a non-empty segment of child rows (the Arrow spec allows it); those
    // rows are not messages.
    let null_thread_owns_rows = list.nulls().is_some_and(|nulls| {
        nulls.null_count() > 0 && (0..rows).any(|i| nulls.is_null(i) && span(i).0 != span(i).1)
    });
    let null_message_in_range = items
        .nulls()
        .is_some_and(|nulls| nulls.slice(first, last - first).null_count() > 0);

    if !null_thread_owns_rows && !null_message_in_range {
        let mut parents = Vec::with_capacity(last - first);
        for i in 0..rows {
            let (start, end) = span(i);
            let parent = index(i)?;
            parents.extend(std::iter::repeat_n(parent, end - start));
        }
        return Ok(Plan {
            parents: UInt32Array::from(parents),
            children: Children::Range {
                start: first,
                len: last - first,
            },
        });
    }

    let mut parents = Vec::with_capacity(last - first);
    let mut children = Vec::with_capacity(last - first);
    for i in 0..rows {
        if list.is_null(i) {
            continue;
        }
        let parent = index(i)?;
        let (start, end) = span(i);
        for child in start..end {
            if items.is_valid(child) {
                parents.push(parent);
                children.push(index(child)?);
            }
        }
    }
    Ok(Plan {
        parents: UInt32Array::from(parents),
        children: Children::Take(UInt32Array::from(children)),
    })
}

/// The child of `parent` named `name`, with `parent`'s nulls applied: a field of a null struct is
/// null, whatever the child array holds at that slot.
fn field_of(parent: &StructArray, name: &str) -> Result<ArrayRef, RunError> {
    let child = parent.column_by_name(name).ok_or_else(|| {
        RunError::msg(format!(
            "explode_messages: the message struct has no `{name}` field"
        ))
    })?;
    let Some(parent_nulls) = parent.nulls() else {
        return Ok(child.clone());
    };
    let nulls = NullBuffer::union(Some(parent_nulls), child.logical_nulls().as_ref());
    let data = child.to_data().into_builder().nulls(nulls).build()?;
    Ok(make_array(data))
}

/// `array` with exactly `data_type`, which build checked has the same layout (`equals_datatype`):
/// only nested field names differ, so this relabels without touching the data.
fn as_type(array: ArrayRef, data_type: &DataType) -> Result<ArrayRef, RunError> {
    if array.data_type() == data_type {
        return Ok(array);
    }
    let data = array
        .to_data()
        .into_builder()
        .data_type(data_type.clone())
        .build()?;
    Ok(make_array(data))
}

impl Transform for ExplodeMessagesTransform {
    fn output_schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn apply(&self, batch: RecordBatch) -> Result<Option<RecordBatch>, RunError> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                RunError::msg(format!(
                    "explode_messages: a batch arrived without the `{name}` column its schema promised"
                ))
            })
        };
        let list = column(canonical::col::MESSAGES)?
            .as_list_opt::<i32>()
            .ok_or_else(|| {
                RunError::msg(
                    "explode_messages: `messages` is not a List, although build checked it",
                )
            })?;
        let items = list.values().as_struct_opt().ok_or_else(|| {
            RunError::msg(
                "explode_messages: `messages` items are not structs, although build checked it",
            )
        })?;

        let plan = plan(list, items)?;
        if plan.parents.is_empty() {
            return Ok(None);
        }

        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (input, _) in KEYS {
            columns.push(take(column(input)?.as_ref(), &plan.parents, None)?);
        }

        let messages: StructArray = match &plan.children {
            Children::Range { start, len } => items.slice(*start, *len),
            Children::Take(indices) => take(items, indices, None)?.as_struct().clone(),
        };
        let from = field_of(&messages, message::FROM)?;
        let from = from.as_struct_opt().ok_or_else(|| {
            RunError::msg(
                "explode_messages: `messages.from` is not a struct, although build checked it",
            )
        })?;

        columns.push(field_of(&messages, message::ID)?);
        columns.push(field_of(&messages, message::CREATED_TIME)?);
        columns.push(field_of(from, participant::ID)?);
        columns.push(field_of(from, participant::NAME)?);
        columns.push(field_of(from, participant::USERNAME)?);
        columns.push(as_type(
            field_of(&messages, message::TO)?,
            &canonical::participant_list_type(),
        )?);
        columns.push(field_of(&messages, message::MESSAGE)?);
        columns.push(field_of(&messages, message::STICKER)?);
        columns.push(as_type(
            field_of(&messages, message::TAGS)?,
            &crate::tags_type(),
        )?);
        columns.push(field_of(&messages, message::ATTACHMENTS_JSON)?);

        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            columns,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        ListArray, ListBuilder, StringArray, StringBuilder, StructBuilder,
        TimestampMillisecondArray, TimestampMillisecondBuilder, as_string_array,
    };
    use arrow::datatypes::{Field, Fields};
    use tributary_core::canonical::conversations_schema;
    use tributary_core::plugin::{BuildContext, BuildInput, TransformPlugin};

    use super::*;
    use crate::{ExplodeMessages, ExplodeMessagesConfig, messages_schema};

    /// One message of a test thread.
    #[derive(Clone, Default)]
    struct Msg {
        id: &'static str,
        created: i64,
        from: Option<(&'static str, Option<&'static str>, Option<&'static str>)>,
        to: Vec<&'static str>,
        text: Option<&'static str>,
        tags: Option<Vec<&'static str>>,
    }

    fn msg(id: &'static str, created: i64) -> Msg {
        Msg {
            id,
            created,
            from: Some(("u1", Some("Ann"), None)),
            to: vec!["p1"],
            text: Some(id),
            ..Msg::default()
        }
    }

    /// A thread: its id and messages (`None` = a null `messages` list).
    type Thread = (&'static str, Option<Vec<Option<Msg>>>);

    fn append_participant(
        b: &mut StructBuilder,
        id: &str,
        name: Option<&str>,
        username: Option<&str>,
    ) {
        b.field_builder::<StringBuilder>(0)
            .expect("id")
            .append_value(id);
        b.field_builder::<StringBuilder>(1)
            .expect("name")
            .append_option(name);
        b.field_builder::<StringBuilder>(2)
            .expect("email")
            .append_null();
        b.field_builder::<StringBuilder>(3)
            .expect("username")
            .append_option(username);
        b.append(true);
    }

    /// A null participant whose child slots still hold values: Arrow lets a writer leave data
    /// under a null struct, and readers must not surface it.
    fn append_null_participant(b: &mut StructBuilder) {
        for i in 0..4 {
            b.field_builder::<StringBuilder>(i)
                .expect("field")
                .append_value("ghost");
        }
        b.append_null();
    }

    /// The `messages` column of `threads`, built with arrow's builders (the canonical type).
    fn messages_array(threads: &[Thread]) -> ArrayRef {
        let fields = canonical::message_fields();
        let item = StructBuilder::from_fields(fields.clone(), 0);
        let mut list = ListBuilder::new(item).with_field(Arc::new(Field::new_list_field(
            DataType::Struct(fields),
            true,
        )));
        for (_, messages) in threads {
            let Some(messages) = messages else {
                list.append_null();
                continue;
            };
            for m in messages {
                let s = list.values();
                let valid = m.is_some();
                let m = m.clone().unwrap_or_default();
                s.field_builder::<StringBuilder>(0)
                    .expect("id")
                    .append_option(valid.then_some(m.id));
                s.field_builder::<TimestampMillisecondBuilder>(1)
                    .expect("created_time")
                    .append_option(valid.then_some(m.created));
                let from = s.field_builder::<StructBuilder>(2).expect("from");
                match m.from {
                    Some((id, name, username)) => append_participant(from, id, name, username),
                    None => append_null_participant(from),
                }
                let to = s
                    .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(3)
                    .expect("to");
                for p in &m.to {
                    let ps = to
                        .values()
                        .as_any_mut()
                        .downcast_mut::<StructBuilder>()
                        .expect("struct");
                    append_participant(ps, p, None, Some(p));
                }
                to.append(valid);
                s.field_builder::<StringBuilder>(4)
                    .expect("message")
                    .append_option(m.text);
                s.field_builder::<StringBuilder>(5)
                    .expect("sticker")
                    .append_null();
                let tags = s
                    .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(6)
                    .expect("tags");
                match &m.tags {
                    Some(values) => {
                        for t in values {
                            tags.values()
                                .as_any_mut()
                                .downcast_mut::<StringBuilder>()
                                .expect("utf8")
                                .append_value(t);
                        }
                        tags.append(true);
                    }
                    None => tags.append(false),
                }
                s.field_builder::<StringBuilder>(7)
                    .expect("attachments_json")
                    .append_null();
                s.append(valid);
            }
            list.append(true);
        }
        Arc::new(list.finish())
    }

    /// A canonical conversations batch of `threads` (every column, nulls where unused).
    fn batch(threads: &[Thread]) -> RecordBatch {
        let schema = conversations_schema();
        let n = threads.len();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    "page_id" => Arc::new(StringArray::from(vec!["p-1"; n])),
                    "platform" => Arc::new(StringArray::from(
                        (0..n)
                            .map(|i| if i % 2 == 0 { "instagram" } else { "messenger" })
                            .collect::<Vec<_>>(),
                    )),
                    "folder" => Arc::new(StringArray::from(vec!["inbox"; n])),
                    "id" => Arc::new(StringArray::from(
                        threads.iter().map(|t| t.0).collect::<Vec<_>>(),
                    )),
                    "messages" => messages_array(threads),
                    "extracted_at" => {
                        Arc::new(TimestampMillisecondArray::from(vec![0; n]).with_timezone("UTC"))
                    }
                    _ => arrow::array::new_null_array(f.data_type(), n),
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("canonical batch")
    }

    fn transform() -> Box<dyn Transform> {
        let input = BuildInput {
            schema: conversations_schema(),
            domains: vec![],
        };
        ExplodeMessages::build(
            ExplodeMessagesConfig {},
            &input,
            &BuildContext::transform("t", "m"),
        )
        .expect("builds")
    }

    fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
        let array = batch.column_by_name(column).expect("column");
        as_string_array(array)
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    fn values(batch: &RecordBatch, column: &str) -> Vec<String> {
        strings(batch, column)
            .into_iter()
            .map(|v| v.unwrap_or_else(|| "∅".into()))
            .collect()
    }

    fn explode(threads: &[Thread]) -> Option<RecordBatch> {
        let t = transform();
        let out = t.apply(batch(threads)).expect("applies")?;
        assert_eq!(out.schema(), messages_schema(), "schema is stable");
        assert!(out.num_rows() > 0, "never forwards an empty batch");
        Some(out)
    }

    #[test]
    fn one_row_per_message_with_the_thread_keys_in_order() {
        let out = explode(&[
            ("t1", Some(vec![Some(msg("m1", 3)), Some(msg("m2", 2))])),
            ("t2", Some(vec![Some(msg("m3", 1))])),
        ])
        .expect("rows");
        assert_eq!(values(&out, "conversation_id"), ["t1", "t1", "t2"]);
        assert_eq!(values(&out, "id"), ["m1", "m2", "m3"]);
        assert_eq!(
            values(&out, "platform"),
            ["instagram", "instagram", "messenger"]
        );
        assert_eq!(values(&out, "page_id"), ["p-1", "p-1", "p-1"]);
        assert_eq!(values(&out, "folder"), ["inbox", "inbox", "inbox"]);
        let created = out
            .column_by_name("created_time")
            .expect("created")
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(created.values().to_vec(), vec![3, 2, 1]);
    }

    #[test]
    fn flattens_the_sender_and_keeps_recipients_and_tags_as_lists() {
        let mut ig = msg("m1", 1);
        ig.from = Some(("u9", None, Some("ig_user")));
        ig.to = vec!["a", "b"];
        ig.tags = Some(vec!["inbox", "source:mobile"]);
        let mut nobody = msg("m2", 2);
        nobody.from = None;
        nobody.to = vec![];
        let out = explode(&[("t1", Some(vec![Some(ig), Some(nobody)]))]).expect("rows");
        assert_eq!(strings(&out, "from_id"), [Some("u9".into()), None]);
        assert_eq!(strings(&out, "from_name"), [None, None]);
        assert_eq!(
            strings(&out, "from_username"),
            [Some("ig_user".into()), None]
        );

        let to = out.column_by_name("to").expect("to").as_list::<i32>();
        let first = to.value(0);
        let ids = as_string_array(first.as_struct().column_by_name("id").expect("id"));
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some("a"), Some("b")]);
        assert_eq!(to.value(1).len(), 0);

        let tags = out.column_by_name("tags").expect("tags").as_list::<i32>();
        let first = tags.value(0);
        assert_eq!(
            as_string_array(&first).iter().collect::<Vec<_>>(),
            [Some("inbox"), Some("source:mobile")]
        );
        assert!(tags.is_null(1));
    }

    #[test]
    fn keeps_message_text_byte_exact_and_nulls_null() {
        let mut a = msg("m1", 1);
        a.text = Some("héllo 🙂 中文 مرحبا e\u{301}");
        let mut b = msg("m2", 2);
        b.text = None;
        let out = explode(&[("t1", Some(vec![Some(a), Some(b)]))]).expect("rows");
        assert_eq!(
            strings(&out, "message"),
            [Some("héllo 🙂 中文 مرحبا e\u{301}".into()), None]
        );
        assert_eq!(strings(&out, "sticker"), [None, None]);
    }

    #[test]
    fn threads_with_null_or_empty_messages_yield_no_rows() {
        let out = explode(&[
            ("t1", None),
            ("t2", Some(vec![])),
            ("t3", Some(vec![Some(msg("m1", 1))])),
            ("t4", None),
        ])
        .expect("rows");
        assert_eq!(values(&out, "conversation_id"), ["t3"]);
    }

    #[test]
    fn null_entries_inside_a_list_are_not_messages() {
        let out = explode(&[(
            "t1",
            Some(vec![Some(msg("m1", 1)), None, Some(msg("m3", 3))]),
        )])
        .expect("rows");
        assert_eq!(values(&out, "id"), ["m1", "m3"]);
        assert_eq!(values(&out, "conversation_id"), ["t1", "t1"]);
    }

    #[test]
    fn a_batch_without_any_message_is_dropped() {
        assert!(explode(&[("t1", None), ("t2", Some(vec![]))]).is_none());
    }

    #[test]
    fn an_empty_batch_is_dropped() {
        assert!(explode(&[]).is_none());
    }

    #[test]
    fn respects_the_offset_of_a_sliced_batch() {
        let full = batch(&[
            ("t1", Some(vec![Some(msg("m1", 1))])),
            ("t2", Some(vec![Some(msg("m2", 2)), Some(msg("m3", 3))])),
            ("t3", None),
            ("t4", Some(vec![Some(msg("m4", 4))])),
            ("t5", Some(vec![Some(msg("m5", 5))])),
        ]);
        let t = transform();
        let out = t.apply(full.slice(1, 3)).expect("applies").expect("rows");
        assert_eq!(values(&out, "id"), ["m2", "m3", "m4"]);
        assert_eq!(values(&out, "conversation_id"), ["t2", "t2", "t4"]);
        assert_eq!(
            values(&out, "platform"),
            ["messenger", "messenger", "messenger"]
        );
    }

    #[test]
    fn ignores_child_rows_owned_by_a_null_thread() {
        // Arrow allows a null list slot to span child rows; they must not become messages.
        let threads: [Thread; 2] = [
            ("t1", Some(vec![Some(msg("m1", 1)), Some(msg("m2", 2))])),
            ("t2", Some(vec![Some(msg("m3", 3))])),
        ];
        let b = batch(&threads);
        let messages = b
            .column_by_name("messages")
            .expect("messages")
            .as_list::<i32>()
            .clone();
        let (field, offsets, items, _) = messages.into_parts();
        let nulls = NullBuffer::from(vec![false, true]);
        let masked = ListArray::try_new(field, offsets, items, Some(nulls)).expect("list");
        let index = b.schema().index_of("messages").expect("index");
        let mut columns = b.columns().to_vec();
        columns[index] = Arc::new(masked);
        let b = RecordBatch::try_new(b.schema(), columns).expect("batch");
        let out = transform().apply(b).expect("applies").expect("rows");
        assert_eq!(values(&out, "id"), ["m3"]);
        assert_eq!(values(&out, "conversation_id"), ["t2"]);
    }

    #[test]
    fn relabels_list_items_named_differently_by_another_writer() {
        let b = batch(&[("t1", Some(vec![Some(msg("m1", 1))]))]);
        // Rename the item field of `messages.to` to "element" (as a Parquet round trip would).
        let messages = b
            .column_by_name("messages")
            .expect("messages")
            .as_list::<i32>()
            .clone();
        let (_, offsets, items, nulls) = messages.into_parts();
        let items = items.as_struct().clone();
        let (fields, mut children, item_nulls) = items.into_parts();
        let to_index = fields.iter().position(|f| f.name() == "to").expect("to");
        let to = children[to_index].as_list::<i32>().clone();
        let (_, to_offsets, to_values, to_nulls) = to.into_parts();
        let element = Arc::new(Field::new("element", canonical::participant_type(), true));
        children[to_index] = Arc::new(ListArray::new(
            element.clone(),
            to_offsets,
            to_values,
            to_nulls,
        ));
        let renamed: Fields = fields
            .iter()
            .map(|f| {
                if f.name() == "to" {
                    Arc::new(Field::new("to", DataType::List(element.clone()), true))
                } else {
                    f.clone()
                }
            })
            .collect();
        let items = StructArray::new(renamed.clone(), children, item_nulls);
        let list_field = Arc::new(Field::new("element", DataType::Struct(renamed), true));
        let list = ListArray::new(list_field.clone(), offsets, Arc::new(items), nulls);
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let index = b.schema().index_of("messages").expect("index");
        fields[index] = Field::new("messages", DataType::List(list_field), true);
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let mut columns = b.columns().to_vec();
        columns[index] = Arc::new(list);
        let b = RecordBatch::try_new(schema.clone(), columns).expect("batch");

        let input = BuildInput {
            schema,
            domains: vec![],
        };
        let t = ExplodeMessages::build(
            ExplodeMessagesConfig {},
            &input,
            &BuildContext::transform("t", "m"),
        )
        .expect("builds");
        let out = t.apply(b).expect("applies").expect("rows");
        assert_eq!(out.schema(), messages_schema());
        assert_eq!(
            out.column_by_name("to").expect("to").data_type(),
            &canonical::participant_list_type()
        );
    }

    #[test]
    fn the_output_row_count_is_the_number_of_valid_messages() {
        // Row count must equal the sum of list lengths whatever the mix of threads.
        let mut threads: Vec<Thread> = Vec::new();
        let mut expected = 0;
        for i in 0..50usize {
            let n = i % 7;
            let messages = match i % 5 {
                0 => None,
                _ => Some((0..n).map(|j| Some(msg("m", j as i64))).collect::<Vec<_>>()),
            };
            if i % 5 != 0 {
                expected += n;
            }
            threads.push(("t", messages));
        }
        let out = explode(&threads).expect("rows");
        assert_eq!(out.num_rows(), expected);
    }
}
