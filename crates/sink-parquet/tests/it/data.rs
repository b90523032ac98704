//! Test and benchmark data in the canonical conversation schema, defined as JSON rows (the
//! expected values) and turned into Arrow batches by `arrow_json`'s reader, a code path
//! independent of the writers under test. Shared by the `parquet` and `ndjson` tests and the
//! benchmark (`#[path]`-included).

#![allow(dead_code)]

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value, json};
use tributary_core::canonical::conversations_schema;

/// Strings that break naive writers and readers.
pub fn hard_strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "plain ascii",
        "emoji 😀 astral 𝄞 and 🇯🇵 flag",
        "ZWJ family 👩‍👩‍👧‍👦 and skin tone 👍🏽",
        "CJK 日本語のテキスト 中文 한국어",
        "Arabic RTL \u{200f}مرحبا بالعالم\u{200f} mixed עברית",
        "combining e\u{301} A\u{30a} vs precomposed é Å",
        "quotes \" ' ` and backslash \\ and \\u00e9 literal",
        "newline\nline two\r\ntab\tend",
        "line separators \u{2028}\u{2029} and BOM \u{feff} and bell \u{7}",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // A 10 KB string of mixed widths (1- to 4-byte UTF-8).
    let mut long = String::new();
    while long.len() < 10 * 1024 {
        long.push_str("aé日😀");
    }
    v.push(long);
    v
}

fn participant(id: &str, name: Option<&str>, username: Option<&str>) -> Value {
    json!({
        "id": id,
        "name": name,
        "email": name.map(|_| format!("{id}@facebook.com")),
        "username": username,
    })
}

/// A small set of rows covering every column, hard Unicode, nulls, empty lists, lists of
/// structs, a timestamp before 1970 and a null `updated_time` (partition `__HIVE_DEFAULT_…`).
pub fn hard_rows() -> Vec<Value> {
    let s = hard_strings();
    let mut rows = Vec::new();
    for (i, text) in s.iter().enumerate() {
        let platform = if i % 2 == 0 { "instagram" } else { "messenger" };
        let folder = ["inbox", "other", "page_done", "spam"][i % 4];
        let updated = match i {
            3 => Value::Null,
            4 => json!("1969-12-31T23:59:59.999Z"),
            _ => json!(format!(
                "2026-11-{:02}T{:02}:28:50.{:03}Z",
                20 + i % 6,
                i,
                i * 7
            )),
        };
        let me = participant("104857600000001", Some("Page Ünïcödé"), None);
        let them = if platform == "instagram" {
            participant(
                &format!("17841400000{i:04}"),
                None,
                Some(&format!("user_{i}_😀")),
            )
        } else {
            participant(&format!("5100000{i:04}"), Some(text), None)
        };
        let messages: Value = if i == 5 {
            json!([])
        } else if i == 6 {
            Value::Null
        } else {
            json!([
                {
                    "id": format!("m_{i}_1"),
                    "created_time": "2026-11-20T09:28:50.001Z",
                    "from": them,
                    "to": [me],
                    "message": text,
                    "sticker": null,
                    "tags": ["inbox", "source:mobile"],
                    "attachments_json": if i == 2 { json!("{\"data\":[{\"name\":\"ファイル.pdf\"}]}") } else { Value::Null },
                },
                {
                    "id": format!("m_{i}_2"),
                    "created_time": "2026-11-19T23:59:59.999Z",
                    "from": me,
                    "to": [them, me],
                    "message": format!("re: {text}"),
                    "sticker": "https://example.com/sticker.png",
                    "tags": [],
                    "attachments_json": null,
                },
            ])
        };
        rows.push(json!({
            "page_id": "104857600000001",
            "platform": platform,
            "folder": folder,
            "id": format!("t_{i:03}"),
            "updated_time": updated,
            "link": format!("/104857600000001/inbox/t_{i}"),
            "snippet": text,
            "name": if i % 3 == 0 { Value::Null } else { json!(text) },
            "subject": null,
            "scoped_thread_key": format!("t_{i}_key"),
            "wallpaper": null,
            "message_count": if i == 7 { Value::Null } else { json!(i as i64 * 1_000_000_007) },
            "unread_count": if i % 2 == 0 { Value::Null } else { json!(0) },
            "can_reply": if i == 8 { Value::Null } else { json!(i % 2 == 0) },
            "is_subscribed": true,
            "participants": [me, them],
            "senders": if i == 1 { json!([]) } else { json!([them]) },
            "former_participants": null,
            "messages": messages,
            "extra_json": if i == 0 { json!("{\"folder_ext\":\"ä\",\"n\":1}") } else { Value::Null },
            "extracted_at": "2026-11-25T10:15:00.000Z",
        }));
    }
    rows
}

/// `n` realistic rows (two participants, `messages` messages each), deterministic in `seed`.
pub fn synthetic_rows(n: usize, messages: usize, seed: u64) -> Vec<Value> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let words = [
        "hello",
        "merci",
        "こんにちは",
        "شكرا",
        "😀",
        "order",
        "#1234",
        "refund",
        "ok",
        "🇯🇵",
    ];
    let base_ms: i64 = 1_795_000_000_000;
    (0..n)
        .map(|i| {
            let instagram = next() % 2 == 0;
            let folder = ["inbox", "other", "page_done", "spam"][(next() % 4) as usize];
            let page = format!("1048576000000{:02}", next() % 40);
            let updated = base_ms + (next() % (86_400_000 * 7)) as i64;
            let them = if instagram {
                participant(
                    &format!("1784140{:08}", next() % 100_000_000),
                    None,
                    Some(&format!("user{}", next() % 100_000)),
                )
            } else {
                participant(
                    &format!("51{:011}", next() % 100_000_000_000),
                    Some(&format!("Customer {}", next() % 100_000)),
                    None,
                )
            };
            let me = participant(&page, Some("Acme Support"), None);
            let msgs: Vec<Value> = (0..messages)
                .map(|m| {
                    let words_n = 3 + (next() % 20) as usize;
                    let text: Vec<&str> = (0..words_n)
                        .map(|_| words[(next() % words.len() as u64) as usize])
                        .collect();
                    let from_them = m % 2 == 0;
                    json!({
                        "id": format!("m_{i}_{m}_{}", next()),
                        "created_time": ms_to_rfc3339(updated - (m as i64) * 60_000),
                        "from": if from_them { &them } else { &me },
                        "to": [if from_them { &me } else { &them }],
                        "message": text.join(" "),
                        "sticker": null,
                        "tags": ["inbox", "source:chat"],
                        "attachments_json": null,
                    })
                })
                .collect();
            json!({
                "page_id": page,
                "platform": if instagram { "instagram" } else { "messenger" },
                "folder": folder,
                "id": format!("t_{i}_{}", next()),
                "updated_time": ms_to_rfc3339(updated),
                "link": format!("/{page}/inbox/{i}"),
                "snippet": msgs.first().map(|m| m["message"].clone()).unwrap_or(Value::Null),
                "name": null,
                "subject": null,
                "scoped_thread_key": format!("t_{i}"),
                "wallpaper": null,
                "message_count": messages as i64 + (next() % 100) as i64,
                "unread_count": if next() % 3 == 0 { json!(1) } else { Value::Null },
                "can_reply": true,
                "is_subscribed": next() % 2 == 0,
                "participants": [&me, &them],
                "senders": [&them],
                "former_participants": [],
                "messages": msgs,
                "extra_json": null,
                "extracted_at": "2026-11-25T10:15:00.000Z",
            })
        })
        .collect()
}

/// `2026-11-20T09:28:50.123Z` for epoch milliseconds.
pub fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// JSON rows → one batch of the canonical schema.
pub fn batch(rows: &[Value]) -> RecordBatch {
    batch_of(conversations_schema(), rows)
}

/// JSON rows → one batch of `schema`.
pub fn batch_of(schema: SchemaRef, rows: &[Value]) -> RecordBatch {
    // arrow_json parses named zones ("UTC") only with chrono-tz, which the workspace does not
    // build: decode with the equivalent offset "+00:00", then cast (same values) to `schema`.
    let offset_schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(utc_as_offset(f.data_type()))
            })
            .collect::<Vec<_>>(),
    ));
    let mut decoder = arrow::json::ReaderBuilder::new(offset_schema)
        .with_batch_size(rows.len().max(1))
        .with_strict_mode(true)
        .build_decoder()
        .expect("decoder");
    decoder.serialize(rows).expect("rows match the schema");
    let decoded = decoder.flush().expect("flush").expect("at least one row");
    let columns = decoded
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()).expect("cast to the UTC schema"))
        .collect();
    RecordBatch::try_new(schema, columns).expect("batch")
}

fn utc_as_offset(ty: &DataType) -> DataType {
    use std::sync::Arc;
    match ty {
        DataType::Timestamp(unit, Some(tz)) if tz.as_ref() == "UTC" => {
            DataType::Timestamp(*unit, Some("+00:00".into()))
        }
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| {
                    Arc::new(
                        f.as_ref()
                            .clone()
                            .with_data_type(utc_as_offset(f.data_type())),
                    )
                })
                .collect(),
        ),
        DataType::List(item) => DataType::List(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(utc_as_offset(item.data_type())),
        )),
        other => other.clone(),
    }
}

/// The row with every field of `schema` present (absent ones as null), recursively: what a
/// reader returns for it.
pub fn complete(row: &Value, schema: &SchemaRef) -> Value {
    let mut out = Map::new();
    for f in schema.fields() {
        out.insert(
            f.name().clone(),
            complete_value(row.get(f.name()).unwrap_or(&Value::Null), f.data_type()),
        );
    }
    Value::Object(out)
}

fn complete_value(v: &Value, ty: &DataType) -> Value {
    match (v, ty) {
        (Value::Null, _) => Value::Null,
        (Value::Object(o), DataType::Struct(fields)) => {
            let mut out = Map::new();
            for f in fields {
                out.insert(
                    f.name().clone(),
                    complete_value(o.get(f.name()).unwrap_or(&Value::Null), f.data_type()),
                );
            }
            Value::Object(out)
        }
        (Value::Array(a), DataType::List(item)) => Value::Array(
            a.iter()
                .map(|x| complete_value(x, item.data_type()))
                .collect(),
        ),
        (other, _) => other.clone(),
    }
}

/// The UTC date of an RFC 3339 `updated_time`, as the `updated_date` partition reads back.
pub fn date_of(updated_time: &Value) -> Value {
    match updated_time.as_str() {
        Some(s) => json!(&s[..10]),
        None => Value::Null,
    }
}

/// Sorts rows by `id` and compares them one by one, naming the first difference.
pub fn assert_same_rows(reader: &str, mut got: Vec<Value>, mut want: Vec<Value>) {
    let key = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got.len(), want.len(), "{reader}: row count");
    for (g, w) in got.iter().zip(&want) {
        if g != w {
            let (go, wo) = (g.as_object().unwrap(), w.as_object().unwrap());
            for (k, wv) in wo {
                assert_eq!(
                    go.get(k),
                    Some(wv),
                    "{reader}: row {} column `{k}` differs",
                    w["id"]
                );
            }
            assert_eq!(g, w, "{reader}: row {} has extra columns", w["id"]);
        }
    }
}

/// Python helpers prepended to reader scripts: `norm(value)` turns what a reader returns into
/// the JSON the rows were written from (tz-aware timestamps → `…%.3fZ` in UTC; dates → ISO),
/// and refuses naive timestamps (a lost UTC zone is a failure, not a formatting detail).
pub const PY_PRELUDE: &str = r#"
import sys, json, datetime
def norm(v):
    if isinstance(v, datetime.datetime):
        assert v.tzinfo is not None and v.utcoffset() is not None, f"naive timestamp {v!r}: the UTC zone was lost"
        v = v.astimezone(datetime.timezone.utc)
        assert v.microsecond % 1000 == 0, f"sub-millisecond part in {v!r}"
        return v.strftime('%Y-%m-%dT%H:%M:%S.') + f'{v.microsecond // 1000:03d}Z'
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v
def emit(obj):
    # ensure_ascii: every non-ASCII character travels as \u escapes, so the pipe cannot alter it.
    sys.stdout.write(json.dumps(obj, ensure_ascii=True))
    sys.stdout.flush()
"#;
