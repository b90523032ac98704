//! Benchmark support: a realistic canonical conversations batch: every column of
//! `tributary_core::canonical::conversations_schema()`, participants, and `MESSAGES` messages per
//! thread (Unicode text, recipients, tags). Deterministic: the same batch every run.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, StructBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
    new_null_array,
};
use arrow::datatypes::{DataType, Field};
use tributary_core::canonical::{self, conversations_schema};

/// Messages per thread (Graph's detail cap).
pub const MESSAGES: usize = 20;
/// Threads per batch.
pub const ROWS: usize = 8192;

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

fn messages(layout: Layout, rows: usize) -> ArrayRef {
    let fields = canonical::message_fields();
    let mut list = ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0)).with_field(
        Arc::new(Field::new_list_field(DataType::Struct(fields), true)),
    );
    for i in 0..rows {
        let ig = layout.instagram(i);
        for m in 0..MESSAGES {
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

/// `ROWS` threads over 4 pages, both platforms, all folders (1/8 of the rows per pair), the
/// (platform, folder) unit changing every `run` threads: `1` is the worst case for a filter
/// (kept rows never adjacent), `25` is a source emitting one batch row-run per API page.
pub fn batch(run: usize) -> RecordBatch {
    let layout = Layout { run };
    let schema = conversations_schema();
    let n = ROWS;
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
                    (0..n).map(|i| 20 + (i % 50) as i64),
                )),
                "unread_count" => Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| i.is_multiple_of(3).then_some(1)),
                )),
                "can_reply" | "is_subscribed" => Arc::new(BooleanArray::from(vec![true; n])),
                "participants" | "senders" => participants(layout, n),
                "messages" => messages(layout, n),
                _ => new_null_array(f.data_type(), n),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("canonical batch")
}
