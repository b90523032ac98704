//! Typed threads to one canonical RecordBatch (the plugin decodes list pages straight into
//! columns instead: [`crate::columns`]; both fill the same builders).

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};

use crate::client::Thread;
pub use crate::columns::Columns;
use crate::columns::ThreadColumns;

/// Builds one canonical batch from threads (columns not in `columns` are null).
pub fn threads_to_batch(
    threads: &[Thread],
    extracted_at: DateTime<Utc>,
    columns: &Columns,
) -> Result<RecordBatch, ArrowError> {
    let mut out = ThreadColumns::with_capacity(threads.len());
    for t in threads {
        out.append_thread(t, columns);
    }
    out.finish(extracted_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMillisecondType;
    use tributary_core::canonical::conversations_schema;

    use crate::client::{Folder, Message, Participant, Platform};

    fn thread(id: &str) -> Thread {
        Thread {
            page_id: "p".into(),
            platform: Platform::Instagram,
            folder: Folder::Other,
            id: id.into(),
            updated_time: crate::client::parse_graph_time("2026-11-20T09:28:50+0000"),
            link: Some("/l".into()),
            snippet: Some("שלום 😀".into()),
            name: None,
            subject: None,
            scoped_thread_key: None,
            wallpaper: None,
            message_count: Some(3),
            unread_count: None,
            can_reply: Some(true),
            is_subscribed: None,
            participants: Some(vec![Participant {
                id: Some("1".into()),
                username: Some("u".into()),
                ..Default::default()
            }]),
            senders: None,
            former_participants: None,
            messages: Some(vec![Message {
                id: Some("m".into()),
                message: Some("hi".into()),
                to: Some(vec![Participant {
                    id: Some("2".into()),
                    ..Default::default()
                }]),
                tags: Some(vec!["inbox".into()]),
                ..Default::default()
            }]),
            extra: vec![(
                "is_owner".into(),
                serde_json::value::RawValue::from_string("true".into()).unwrap(),
            )],
        }
    }

    #[test]
    fn batch_matches_the_canonical_schema_and_nulls_unrequested_columns() {
        let mut t2 = thread("t2");
        t2.participants = None;
        t2.messages = None;
        t2.extra.clear();
        let cols = Columns::new(
            &[
                "snippet".into(),
                "participants".into(),
                "updated_time".into(),
            ],
            true,
        );
        let batch = threads_to_batch(&[thread("t1"), t2], Utc::now(), &cols).unwrap();
        assert_eq!(batch.schema(), conversations_schema());
        assert_eq!(batch.num_rows(), 2);
        let snippet = batch.column_by_name("snippet").unwrap().as_string::<i32>();
        assert_eq!(snippet.value(0), "שלום 😀");
        // `link` was returned but not requested.
        assert_eq!(batch.column_by_name("link").unwrap().null_count(), 2);
        let updated = batch
            .column_by_name("updated_time")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(updated.value(0), 1_795_166_930_000);
        let parts = batch
            .column_by_name("participants")
            .unwrap()
            .as_list::<i32>();
        assert!(parts.is_valid(0) && parts.is_null(1));
        let msgs = batch.column_by_name("messages").unwrap().as_list::<i32>();
        assert_eq!(msgs.value(0).len(), 1);
        let extra = batch
            .column_by_name("extra_json")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"is_owner":true}"#);
        assert!(extra.is_null(1));
    }

    #[test]
    fn empty_batch_is_valid() {
        let batch = threads_to_batch(&[], Utc::now(), &Columns::default()).unwrap();
        assert_eq!(batch.num_rows(), 0);
    }
}
