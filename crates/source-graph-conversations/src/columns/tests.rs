//! The column decoder against the typed path (typed decode + `threads_to_batch`): the same
//! bodies must give the same batches, column for column.

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use chrono::Utc;

use super::batches::Columnar;
use super::*;
use crate::client::decoder::{ListDecoder, Typed};
use crate::client::{Folder, KNOWN_THREAD_FIELDS, Platform, UnitKey};
use crate::source::threads_to_batch;

fn unit() -> UnitKey {
    UnitKey {
        page_id: "104857600000001".into(),
        platform: Platform::Messenger,
        folder: Folder::Inbox,
    }
}

fn all_columns(messages: bool) -> Columns {
    let fields: Vec<String> = KNOWN_THREAD_FIELDS.iter().map(|f| f.to_string()).collect();
    Columns::new(&fields, messages)
}

/// Both paths over `body`, every row kept; `extracted_at` left out of the comparison.
fn both(body: &str, columns: &Columns, messages_max: Option<usize>) -> (RecordBatch, RecordBatch) {
    let unit = unit();
    let typed = Typed { messages_max };
    let page = typed.decode(body.as_bytes(), &unit).unwrap();
    let keep = vec![true; page.data.len()];
    let (threads, _) = typed.keep(page, &keep, &unit).unwrap();
    let expected = threads_to_batch(&threads, Utc::now(), columns).unwrap();
    let columnar = Columnar {
        columns: Arc::new(columns.clone()),
        messages_max,
    };
    let page = columnar.decode(body.as_bytes(), &unit).unwrap();
    // The serde_json reading of the same visitor: the same batch again.
    let reference =
        decode_list_page_serde_json(body.as_bytes(), &unit, columns, messages_max).unwrap();
    assert_eq!(reference.next, page.next);
    assert_eq!(reference.times, page.times);
    assert_eq!(reference.more, page.more);
    for i in 0..page.batch.num_columns() - 1 {
        assert_eq!(
            reference.batch.column(i).to_data(),
            page.batch.column(i).to_data()
        );
    }
    (expected, page.batch)
}

fn assert_same(body: &str, columns: &Columns, messages_max: Option<usize>) -> RecordBatch {
    let (expected, got) = both(body, columns, messages_max);
    assert_eq!(got.schema(), expected.schema());
    assert_eq!(got.num_rows(), expected.num_rows());
    let last = expected.num_columns() - 1; // extracted_at: when each was built
    for i in 0..last {
        assert_eq!(
            got.column(i).to_data(),
            expected.column(i).to_data(),
            "column {}",
            expected.schema().field(i).name()
        );
    }
    got
}

const PAGE: &str = r#"{"data":[
  {"id":"t_1","updated_time":"2021-07-23T09:28:50+0000","snippet":"he said \"hi\" \ud83d\ude00",
   "link":"/l/1","message_count":7,"unread_count":2,"can_reply":true,"is_subscribed":false,
   "is_owner":true,"linked_group":{"id":"9","name":"caf\u00e9"},
   "participants":{"data":[{"name":"Kun","email":"1@facebook.com","id":"1","extra_key":1},
                           {"username":"u","id":"2"}],"paging":{"next":"x"}},
   "senders":[{"id":"1"}],
   "former_participants":null,
   "messages":{"data":[
      {"id":"m_1","created_time":"2021-07-23T09:28:50+0000","message":"שלום 😀",
       "from":{"username":"u","id":"2","x":[1]},"to":{"data":[{"username":"b","id":"3"}]},
       "tags":{"data":[{"name":"inbox"},{"other":1},{"name":"source:mobile"}]},
       "attachments":{"data":[{"id":"a","mime_type":"image/png"}]},"shares":{"data":[]}},
      {"id":"m_2","created_time":1627032530,"message":"","sticker":"https://s/1.png",
       "from":null,"to":[{"id":"4"}],"tags":null,"attachments":null},
      {"id":"m_3"}],
     "paging":{"cursors":{"after":"x"},"next":"https://graph.facebook.com/v25.0/t_1/messages?after=x"}}},
  {"id":"t_2","updated_time":"2021-07-22T11:28:50+0200","messages":null,"participants":[]},
  {"id":"t_3","subject":"s","name":"n","scoped_thread_key":"k","wallpaper":"w",
   "messages":{"data":[]},"senders":{"data":null}, "unknown_null":null}
],"paging":{"cursors":{"before":"a","after":"b"},"next":"https://graph.facebook.com/v25.0/1/conversations?after=b"}}"#;

#[test]
fn the_column_decoder_builds_what_the_typed_path_builds() {
    for messages_max in [None, Some(20), Some(2), Some(0)] {
        assert_same(PAGE, &all_columns(true), messages_max);
    }
    assert_same(PAGE, &all_columns(false), Some(20));
    // Only some columns requested: the rest null on both paths.
    let some = Columns::new(&["snippet".into(), "participants".into()], true);
    let got = assert_same(PAGE, &some, Some(20));
    assert_eq!(got.column_by_name("link").unwrap().null_count(), 3);
    let extra = got.column_by_name("extra_json").unwrap().as_string::<i32>();
    assert_eq!(
        extra.value(0),
        r#"{"is_owner":true,"linked_group":{"id":"9","name":"caf\u00e9"}}"#
    );
    assert_eq!(extra.value(2), r#"{"unknown_null":null}"#);
    assert!(extra.is_null(1));
}

#[test]
fn the_page_knows_its_next_link_times_and_rows_wanting_more_messages() {
    let unit = unit();
    let page = decode_list_page(PAGE.as_bytes(), &unit, &all_columns(true), Some(20)).unwrap();
    assert!(page.next.as_deref().unwrap().ends_with("after=b"));
    assert_eq!(page.times.len(), 3);
    assert!(page.times[2].is_none());
    assert_eq!(
        page.times[1],
        crate::client::parse_graph_time("2021-07-22T09:28:50+0000")
    );
    // t_1 has 3 messages and a nested next: it wants more; with a limit of 3 it does not.
    assert!(page.more[0].as_deref().unwrap().ends_with("after=x"));
    assert!(page.more[1].is_none() && page.more[2].is_none());
    let page = decode_list_page(PAGE.as_bytes(), &unit, &all_columns(true), Some(3)).unwrap();
    assert!(page.more.iter().all(Option::is_none));
}

#[test]
fn bad_pages_are_refused_with_the_typed_paths_reasons() {
    let unit = unit();
    let cols = all_columns(true);
    let err = |body: &str| {
        decode_list_page(body.as_bytes(), &unit, &cols, Some(20))
            .unwrap_err()
            .to_string()
    };
    assert!(err(r#"{"data":[{"snippet":"no id"}]}"#).contains("without `id`"));
    assert!(err(r#"{"data":[{"id":"t","updated_time":"yesterday"}]}"#).contains("yesterday"));
    assert!(err(r#"{"data":[{"id":"t","message_count":"7"}]}"#).contains("invalid type"));
    assert!(
        err(r#"{"data":[{"id":"t","participants":[],"participants":[]}]}"#).contains("duplicate")
    );
    assert!(err(r#"{"data":[{"id":"t"}]"#).contains("EOF"));
    assert!(err(r#"{"data":[{"id":"t"}]} trailing"#).contains("trailing"));
}

#[test]
fn extra_messages_are_spliced_after_each_rows_own() {
    let unit = unit();
    let page = decode_list_page(PAGE.as_bytes(), &unit, &all_columns(true), Some(20)).unwrap();
    let more = |id: &str| Message {
        id: Some(id.into()),
        ..Default::default()
    };
    let batch = append_messages(
        page.batch,
        &[(0, vec![more("m_4"), more("m_5")]), (2, vec![more("m_6")])],
    )
    .unwrap();
    let lists = batch.column_by_name("messages").unwrap().as_list::<i32>();
    let ids = |row: usize| -> Vec<String> {
        let items = lists.value(row);
        let items = items.as_struct();
        let id = items.column(0).as_string::<i32>();
        (0..id.len()).map(|i| id.value(i).to_string()).collect()
    };
    assert_eq!(ids(0), ["m_1", "m_2", "m_3", "m_4", "m_5"]);
    assert!(lists.is_valid(1) && ids(1).is_empty());
    assert_eq!(ids(2), ["m_6"]);
    assert_eq!(batch.schema(), conversations_schema());
}
