//! Realistic canonical conversations batches, for benchmarks and tests that want volume.
//!
//! Every column of [`conversations_schema`], filled the way the Graph source fills it:
//! participants with Unicode names, messages with Unicode text, a sender, a recipient and tags.
//! Deterministic: the same arguments give the same batch on every run.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, StructBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
    new_null_array,
};
use arrow::datatypes::{DataType, Field};
use tributary_core::canonical::{self, conversations_schema};

const FOLDERS: [&str; 4] = ["inbox", "other", "page_done", "spam"];
const PAGES: [&str; 4] = [
    "104857600000001",
    "104857600000002",
    "104857600000003",
    "104857600000004",
];
const BASE_MS: i64 = 1_795_000_000_000;

/// Where thread `i` comes from when the (platform, folder) unit changes every `run` threads.
#[derive(Clone, Copy)]
struct Layout {
    run: usize,
}

impl Layout {
    fn unit(self, i: usize) -> usize {
        i / self.run.max(1)
    }

    fn instagram(self, i: usize) -> bool {
        self.unit(i).is_multiple_of(2)
    }

    fn platform(self, i: usize) -> &'static str {
        if self.instagram(i) {
            "instagram"
        } else {
            "messenger"
        }
    }

    /// `unit / 2` so that every (platform, folder) pair occurs.
    fn folder(self, i: usize) -> &'static str {
        FOLDERS[(self.unit(i) / 2) % 4]
    }
}

fn participant(b: &mut StructBuilder, ig: bool, thread: usize, who: usize) {
    let id = format!(
        "{}{:08}",
        if ig { "178414" } else { "657" },
        thread * 7 + who
    );
    b.field_builder::<StringBuilder>(0)
        .expect("id")
        .append_value(&id);
    let name = (!ig).then(|| format!("Zoë Müller-{who} 山田"));
    b.field_builder::<StringBuilder>(1)
        .expect("name")
        .append_option(name.as_deref());
    let email = (!ig).then(|| format!("{id}@facebook.com"));
    b.field_builder::<StringBuilder>(2)
        .expect("email")
        .append_option(email.as_deref());
    let username = ig.then(|| format!("user_{thread}_{who}"));
    b.field_builder::<StringBuilder>(3)
        .expect("username")
        .append_option(username.as_deref());
    b.append(true);
}

fn participants(layout: Layout, rows: usize) -> ArrayRef {
    let mut list = ListBuilder::new(StructBuilder::from_fields(
        canonical::participant_fields(),
        0,
    ))
    .with_field(Arc::new(Field::new_list_field(
        canonical::participant_type(),
        true,
    )));
    for i in 0..rows {
        participant(list.values(), layout.instagram(i), i, 0);
        participant(list.values(), layout.instagram(i), i, 1);
        list.append(true);
    }
    Arc::new(list.finish())
}

fn messages(layout: Layout, rows: usize, per_thread: usize) -> ArrayRef {
    let fields = canonical::message_fields();
    let mut list = ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0)).with_field(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
    );
    for i in 0..rows {
        let ig = layout.instagram(i);
        for m in 0..per_thread {
            let s = list.values();
            s.field_builder::<StringBuilder>(0)
                .expect("id")
                .append_value(format!(
                    "m_{i:06}_{m:02}_aGVsbG8gd29ybGQgdGhpcyBpcyBhIG1lc3NhZ2UgaWQ"
                ));
            s.field_builder::<TimestampMillisecondBuilder>(1)
                .expect("created_time")
                .append_value(BASE_MS - (i * 1000 + m * 60) as i64 * 1000);
            participant(
                s.field_builder::<StructBuilder>(2).expect("from"),
                ig,
                i,
                m % 2,
            );
            let to = s
                .field_builder::<ListBuilder<Box<dyn ArrayBuilder>>>(3)
                .expect("to");
            let recipient = to
                .values()
                .as_any_mut()
                .downcast_mut::<StructBuilder>()
                .expect("struct");
            participant(recipient, ig, i, 1 - m % 2);
            to.append(true);
            s.field_builder::<StringBuilder>(4)
                .expect("message")
                .append_value(format!(
                    "Bonjour 👋 message {m} of thread {i}: ¿está disponible? 在吗 مرحبا"
                ));
            s.field_builder::<StringBuilder>(5)
                .expect("sticker")
                .append_null();
            let tags = s
                .field_builder::<ListBuilder<Box<dyn ArrayBuilder>>>(6)
                .expect("tags");
            for tag in ["inbox", "source:mobile"] {
                let values = tags
                    .values()
                    .as_any_mut()
                    .downcast_mut::<StringBuilder>()
                    .expect("utf8");
                values.append_value(tag);
            }
            tags.append(true);
            s.field_builder::<StringBuilder>(7)
                .expect("attachments_json")
                .append_null();
            s.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

/// `n_threads` threads of `messages_per_thread` messages each, the (platform, folder) unit
/// changing on every thread: a filter never finds two kept rows side by side (its worst case).
///
/// Same as [`canonical_in_runs`] with `run = 1`.
pub fn canonical(n_threads: usize, messages_per_thread: usize) -> RecordBatch {
    canonical_in_runs(n_threads, messages_per_thread, 1)
}

/// `n_threads` threads of `messages_per_thread` messages each, over the 4 pages of the embedded
/// Graph (`104857600000001..4`, cycling per thread), both platforms and all 4 folders (1/8 of the
/// threads per (platform, folder) pair, instagram first), the (platform, folder) unit changing
/// every `run` threads: `1` is the worst case for a filter (kept rows never adjacent), `25` is a
/// source emitting one row-run per API page. `run = 0` is taken as `1`.
///
/// Instagram participants have a `username` and no name or email, Messenger ones the reverse.
/// Thread `i` has `updated_time` and `extracted_at` one second older than thread `i - 1`,
/// `message_count = messages_per_thread + i % 50` (Graph's total, at least the messages present),
/// `unread_count` 1 on every third thread (null otherwise), and nulls in the columns not listed
/// here (such as `sticker` and `attachments_json` of every message).
///
/// # Panics
/// Never for a valid canonical schema (it would be a bug in this generator).
pub fn canonical_in_runs(n_threads: usize, messages_per_thread: usize, run: usize) -> RecordBatch {
    let layout = Layout { run };
    let schema = conversations_schema();
    let n = n_threads;
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "page_id" => Arc::new(StringArray::from_iter_values((0..n).map(|i| PAGES[i % 4]))),
                "platform" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| layout.platform(i)),
                )),
                "folder" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| layout.folder(i)),
                )),
                "id" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("t_{i:06}_bTpjb252ZXJzYXRpb24taWQ")),
                )),
                "updated_time" | "extracted_at" => Arc::new(
                    TimestampMillisecondArray::from_iter_values(
                        (0..n).map(|i| BASE_MS - i as i64 * 1000),
                    )
                    .with_timezone("UTC"),
                ),
                "snippet" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("Bonjour 👋 message 0 of thread {i}")),
                )),
                "link" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("/t_{i:06}")),
                )),
                "message_count" => Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|i| (messages_per_thread + i % 50) as i64),
                )),
                "unread_count" => Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| i.is_multiple_of(3).then_some(1)),
                )),
                "can_reply" | "is_subscribed" => Arc::new(BooleanArray::from(vec![true; n])),
                "participants" | "senders" => participants(layout, n),
                "messages" => messages(layout, n, messages_per_thread),
                _ => new_null_array(f.data_type(), n),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("canonical batch")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Array, AsArray};

    use super::*;

    fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
        batch
            .column_by_name(column)
            .expect("column")
            .as_string::<i32>()
            .iter()
            .map(|v| v.expect("non-null").to_owned())
            .collect()
    }

    #[test]
    fn has_the_canonical_schema_and_the_requested_sizes() {
        let batch = canonical(10, 3);
        assert_eq!(batch.schema(), conversations_schema());
        assert_eq!(batch.num_rows(), 10);
        let messages = batch
            .column_by_name("messages")
            .expect("messages")
            .as_list::<i32>();
        assert_eq!(messages.null_count(), 0);
        assert!((0..10).all(|i| messages.value_length(i) == 3));
        assert_eq!(messages.values().len(), 30);
        let participants = batch
            .column_by_name("participants")
            .expect("participants")
            .as_list::<i32>();
        assert!((0..10).all(|i| participants.value_length(i) == 2));
    }

    #[test]
    fn every_platform_and_folder_pair_gets_an_eighth_of_the_threads() {
        for run in [1, 25] {
            let batch = canonical_in_runs(8 * 25 * 4, 1, run);
            let mut pairs = BTreeMap::<(String, String), usize>::new();
            for pair in strings(&batch, "platform")
                .into_iter()
                .zip(strings(&batch, "folder"))
            {
                *pairs.entry(pair).or_default() += 1;
            }
            assert_eq!(pairs.len(), 8, "run {run}: {pairs:?}");
            assert!(pairs.values().all(|&n| n == 100), "run {run}: {pairs:?}");
        }
    }

    #[test]
    fn the_unit_changes_every_run_threads() {
        let platforms = strings(&canonical_in_runs(60, 0, 25), "platform");
        assert!(platforms[..25].iter().all(|p| p == "instagram"));
        assert!(platforms[25..50].iter().all(|p| p == "messenger"));
        assert_eq!(platforms[50], "instagram");
        let platforms = strings(&canonical(4, 0), "platform");
        assert_eq!(
            platforms,
            ["instagram", "messenger", "instagram", "messenger"]
        );
        assert_eq!(canonical_in_runs(4, 0, 0), canonical(4, 0), "run 0 is 1");
    }

    #[test]
    fn is_deterministic() {
        assert_eq!(canonical_in_runs(100, 4, 25), canonical_in_runs(100, 4, 25));
    }
}
