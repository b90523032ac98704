//! Transform tests: build through the plugin as a pipeline does, apply, inspect every field.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, ListBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tributary_core::canonical::{self, conversations_schema};
use tributary_core::plugin::{BuildContext, BuildInput, Transform, TransformPlugin};
use tributary_testkit::batches;

use super::*;

const KEY: &str = "test-key-0123456789abcdef0123456789abcdef";

fn config(key: &str, fields: &[(&str, Action)], normalize_emails: bool) -> PseudonymizeConfig {
    let text = format!("key = \"{key}\"\nnormalize_emails = {normalize_emails}");
    let mut config: PseudonymizeConfig = toml::from_str(&text).expect("config");
    config.fields = fields
        .iter()
        .map(|(p, a)| ((*p).to_owned(), *a))
        .collect::<BTreeMap<_, _>>();
    config
}

fn build_with(
    config: PseudonymizeConfig,
    schema: SchemaRef,
) -> Result<Box<dyn Transform>, BuildError> {
    let input = BuildInput {
        schema,
        domains: vec![],
    };
    Pseudonymize::build(config, &input, &BuildContext::transform("t", "p"))
}

fn build(fields: &[(&str, Action)]) -> Box<dyn Transform> {
    build_with(config(KEY, fields, false), conversations_schema()).expect("builds")
}

fn apply(t: &dyn Transform, batch: RecordBatch) -> RecordBatch {
    let out = t.apply(batch).expect("applies").expect("rows");
    assert_eq!(out.schema(), t.output_schema(), "the promised schema");
    out
}

/// An HMAC computed here, independently of the crate's memo and hex code.
fn expected(value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("key");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The values at `path` (struct steps; lists flattened over their valid rows), `None` where
/// the value or any struct above it is null.
fn values_at(array: &ArrayRef, path: &[&str]) -> Vec<Option<String>> {
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let inner = values_at(list.values(), path);
            let offsets = list.value_offsets();
            (0..list.len())
                .filter(|i| list.is_valid(*i))
                .flat_map(|i| inner[offsets[i] as usize..offsets[i + 1] as usize].to_vec())
                .collect()
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            let child = s.column_by_name(path[0]).expect("field");
            let mut inner = values_at(child, &path[1..]);
            for (i, v) in inner.iter_mut().enumerate() {
                if s.is_null(i) {
                    *v = None;
                }
            }
            inner
        }
        _ => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
    }
}

fn column(batch: &RecordBatch, dotted: &str) -> Vec<Option<String>> {
    let mut steps = dotted.split('.');
    let first = steps.next().expect("path");
    let rest: Vec<&str> = steps.collect();
    values_at(batch.column_by_name(first).expect("column"), &rest)
}

const PARTICIPANT_STRUCTS: [&str; 5] = [
    "participants",
    "senders",
    "former_participants",
    "messages.from",
    "messages.to",
];

#[test]
fn pseudonym_matches_the_rfc_4231_test_vector() {
    // RFC 4231, test case 2: key "Jefe".
    let mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("key");
    let got = pseudonym(&mac, b"what do ya want for nothing?");
    assert_eq!(
        std::str::from_utf8(&got).expect("ascii"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn hashes_every_participant_id_email_and_username_with_the_keyed_hmac() {
    let input = batches::canonical(16, 4);
    let out = apply(build(&[]).as_ref(), input.clone());
    let mut checked = 0;
    for parent in PARTICIPANT_STRUCTS {
        for field in ["id", "email", "username"] {
            let path = format!("{parent}.{field}");
            let before = column(&input, &path);
            let after = column(&out, &path);
            assert_eq!(before.len(), after.len(), "{path}");
            for (b, a) in before.iter().zip(&after) {
                assert_eq!(
                    a.as_deref(),
                    b.as_deref().map(expected).as_deref(),
                    "{path}"
                );
                checked += usize::from(b.is_some());
            }
        }
    }
    assert!(checked > 300, "only {checked} values were checked");
}

#[test]
fn drops_names_and_the_text_people_wrote_by_default() {
    let input = batches::canonical(8, 3);
    let out = apply(build(&[]).as_ref(), input.clone());
    for path in [
        "participants.name",
        "senders.name",
        "messages.from.name",
        "messages.to.name",
        "snippet",
        "name",
        "messages.message",
        "messages.attachments_json",
        "extra_json",
        "wallpaper",
        "subject",
    ] {
        assert!(
            column(&out, path).iter().all(Option::is_none),
            "{path} is not dropped"
        );
    }
    assert!(
        column(&input, "participants.name")
            .iter()
            .any(Option::is_some),
        "the input has names to drop"
    );
    for path in ["page_id", "platform", "folder", "id", "link", "messages.id"] {
        assert_eq!(column(&out, path), column(&input, path), "{path} is kept");
    }
    for name in ["updated_time", "message_count", "extracted_at", "can_reply"] {
        assert_eq!(
            out.column_by_name(name),
            input.column_by_name(name),
            "{name}"
        );
    }
    let tags = |b: &RecordBatch| {
        let m = b
            .column_by_name("messages")
            .expect("messages")
            .as_list::<i32>();
        m.values()
            .as_struct()
            .column_by_name("tags")
            .expect("tags")
            .clone()
    };
    assert_eq!(
        tags(&out).to_data(),
        tags(&input).to_data(),
        "tags are kept"
    );
}

#[test]
fn the_same_input_gives_the_same_output_and_another_key_another_one() {
    let input = batches::canonical(8, 3);
    let a = apply(build(&[]).as_ref(), input.clone());
    let b = apply(build(&[]).as_ref(), input.clone());
    assert_eq!(a, b);
    let other = build_with(
        config("another-key-that-is-also-32-bytes-long", &[], false),
        conversations_schema(),
    )
    .expect("builds");
    let c = apply(other.as_ref(), input);
    assert_ne!(
        column(&a, "participants.id"),
        column(&c, "participants.id"),
        "the key matters"
    );
}

#[test]
fn a_person_gets_one_pseudonym_across_participants_senders_and_messages() {
    let out = apply(build(&[]).as_ref(), batches::canonical(8, 6));
    let participants: BTreeSet<_> = column(&out, "participants.id").into_iter().collect();
    for path in ["senders.id", "messages.from.id", "messages.to.id"] {
        let ids: BTreeSet<_> = column(&out, path).into_iter().collect();
        assert!(ids.is_subset(&participants), "{path}");
        assert!(!ids.is_empty(), "{path}");
    }
}

/// `participants` of three threads: two people (one with a null email), a null list, and a
/// list holding a null participant whose slots still hold a raw value.
fn participants_with_nulls() -> ArrayRef {
    let item = StructBuilder::from_fields(canonical::participant_fields(), 0);
    let mut list = ListBuilder::new(item).with_field(Arc::new(Field::new_list_field(
        canonical::participant_type(),
        true,
    )));
    let person =
        |list: &mut ListBuilder<StructBuilder>, id: &str, email: Option<&str>, valid: bool| {
            let s = list.values();
            s.field_builder::<StringBuilder>(0)
                .expect("id")
                .append_value(id);
            s.field_builder::<StringBuilder>(1)
                .expect("name")
                .append_value("Ana Lima");
            s.field_builder::<StringBuilder>(2)
                .expect("email")
                .append_option(email);
            s.field_builder::<StringBuilder>(3)
                .expect("username")
                .append_null();
            s.append(valid);
        };
    person(&mut list, "p1", Some(" Ana@Example.COM "), true);
    person(&mut list, "p2", None, true);
    list.append(true);
    list.append_null();
    person(&mut list, "ghost", Some("ghost@example.com"), false);
    list.append(true);
    Arc::new(list.finish())
}

fn with_participants(participants: ArrayRef) -> RecordBatch {
    let base = batches::canonical(participants.len(), 1);
    let index = base.schema().index_of("participants").expect("index");
    let mut columns = base.columns().to_vec();
    columns[index] = participants;
    RecordBatch::try_new(base.schema(), columns).expect("batch")
}

#[test]
fn nulls_stay_null_and_lists_keep_their_shape() {
    let input = with_participants(participants_with_nulls());
    let out = apply(build(&[]).as_ref(), input.clone());
    let before = input
        .column_by_name("participants")
        .expect("p")
        .as_list::<i32>();
    let after = out
        .column_by_name("participants")
        .expect("p")
        .as_list::<i32>();
    assert_eq!(before.offsets(), after.offsets());
    assert_eq!(before.nulls(), after.nulls());
    assert_eq!(before.values().nulls(), after.values().nulls());
    let emails = column(&out, "participants.email");
    assert_eq!(
        emails,
        vec![Some(expected(" Ana@Example.COM ")), None, None],
        "a null email stays null; a null participant stays null"
    );
    // Even the raw value under the null participant is not left behind.
    let raw_slots = after.values().as_struct().column_by_name("id").expect("id");
    let raw: Vec<_> = raw_slots.as_string::<i32>().iter().flatten().collect();
    assert!(!raw.contains(&"ghost"), "{raw:?}");
}

#[test]
fn normalize_emails_trims_and_lowercases_before_hashing() {
    let input = with_participants(participants_with_nulls());
    let t = build_with(config(KEY, &[], true), conversations_schema()).expect("builds");
    let out = apply(t.as_ref(), input);
    assert_eq!(
        column(&out, "participants.email")[0],
        Some(expected("ana@example.com"))
    );
    // Ids are never normalised.
    assert_eq!(column(&out, "participants.id")[0], Some(expected("p1")));
    assert_eq!(normalize_email("ana@example.com"), None);
    assert_eq!(
        normalize_email("\tÉLODIE@Exemple.fr\n").as_deref(),
        Some("élodie@exemple.fr")
    );
}

#[test]
fn mask_keeps_only_the_length_class() {
    assert_eq!(mask_of(0), "");
    assert_eq!(mask_of(1), "****");
    assert_eq!(mask_of(4), "****");
    assert_eq!(mask_of(5).len(), 8);
    assert_eq!(mask_of(16).len(), 16);
    assert_eq!(mask_of(17).len(), 32);
    assert_eq!(mask_of(33).len(), 64);
    assert_eq!(mask_of(10_000).len(), 64);
    let input = batches::canonical(4, 1);
    let t = build(&[
        ("participants.name", Action::Mask),
        ("snippet", Action::Keep),
    ]);
    let out = apply(t.as_ref(), input.clone());
    for (before, after) in column(&input, "participants.name")
        .iter()
        .zip(column(&out, "participants.name"))
    {
        assert_eq!(
            after.as_deref(),
            before.as_deref().map(|n| mask_of(n.chars().count())),
        );
    }
    assert_eq!(column(&out, "snippet"), column(&input, "snippet"));
}

#[test]
fn the_most_specific_entry_wins() {
    let input = batches::canonical(4, 2);
    let t = build(&[
        ("messages", Action::Keep),
        ("messages.from.id", Action::Hash),
        ("id", Action::Hash),
    ]);
    let out = apply(t.as_ref(), input.clone());
    assert_eq!(
        column(&out, "messages.message"),
        column(&input, "messages.message")
    );
    assert_eq!(
        column(&out, "messages.to.id"),
        column(&input, "messages.to.id")
    );
    let from: Vec<_> = column(&input, "messages.from.id")
        .iter()
        .map(|v| v.as_deref().map(expected))
        .collect();
    assert_eq!(column(&out, "messages.from.id"), from);
    assert_eq!(
        column(&out, "id")[0],
        column(&input, "id")[0].as_deref().map(expected)
    );
    // Defaults still apply outside `messages`.
    assert!(
        column(&out, "participants.name")
            .iter()
            .all(Option::is_none)
    );
}

#[test]
fn a_dropped_list_is_null_and_stays_nullable() {
    let input = batches::canonical(4, 2);
    let out = apply(build(&[("messages", Action::Drop)]).as_ref(), input);
    let messages = out.column_by_name("messages").expect("messages");
    assert_eq!(messages.null_count(), 4);
}

#[test]
fn respects_the_offset_of_a_sliced_batch() {
    let input = batches::canonical(10, 3);
    let t = build(&[]);
    let whole = apply(t.as_ref(), input.clone());
    let part = apply(t.as_ref(), input.slice(3, 4));
    for path in [
        "participants.id",
        "messages.from.id",
        "messages.to.email",
        "id",
    ] {
        let all = column(&whole.slice(3, 4), path);
        assert_eq!(column(&part, path), all, "{path}");
    }
    // Only the slice's own child rows are carried (2 participants, 3 messages a thread), so
    // the rows outside it are neither rewritten nor passed on.
    let list = |name: &str| {
        let array = part.column_by_name(name).expect("column");
        array.as_list::<i32>().values().len()
    };
    assert_eq!(list("participants"), 4 * 2);
    assert_eq!(list("messages"), 4 * 3);
}

#[test]
fn an_empty_batch_is_dropped() {
    let input = batches::canonical(4, 1);
    assert!(
        build(&[])
            .apply(input.slice(0, 0))
            .expect("applies")
            .is_none()
    );
}

fn explode(batch: RecordBatch) -> RecordBatch {
    use transform_explode_messages::{ExplodeMessages, ExplodeMessagesConfig};
    let input = BuildInput {
        schema: batch.schema(),
        domains: vec![],
    };
    let t = ExplodeMessages::build(
        ExplodeMessagesConfig {},
        &input,
        &BuildContext::transform("t", "m"),
    )
    .expect("explode builds");
    t.apply(batch).expect("explodes").expect("rows")
}

#[test]
fn message_rows_are_pseudonymized_like_the_threads_they_come_from() {
    let threads = batches::canonical(8, 5);
    // Pseudonymize, then explode ...
    let after = explode(apply(build(&[]).as_ref(), threads.clone()));
    // ... equals explode, then pseudonymize (the message rows' own defaults).
    let rows = explode(threads);
    let t = build_with(config(KEY, &[], false), rows.schema()).expect("builds on message rows");
    let before = apply(t.as_ref(), rows.clone());
    for path in [
        "from_id",
        "from_username",
        "to.id",
        "to.email",
        "to.username",
        "id",
    ] {
        assert_eq!(column(&after, path), column(&before, path), "{path}");
    }
    for path in ["from_name", "message", "attachments_json", "to.name"] {
        assert!(column(&before, path).iter().all(Option::is_none), "{path}");
        assert!(column(&after, path).iter().all(Option::is_none), "{path}");
    }
    let from: Vec<_> = column(&rows, "from_id")
        .iter()
        .map(|v| v.as_deref().map(expected))
        .collect();
    assert_eq!(column(&before, "from_id"), from);
    assert_eq!(
        column(&before, "conversation_id"),
        column(&rows, "conversation_id")
    );
}

fn build_error(fields: &[(&str, Action)]) -> BuildError {
    match build_with(config(KEY, fields, false), conversations_schema()) {
        Ok(_) => panic!("{fields:?} should not build"),
        Err(e) => {
            assert!(!e.to_string().contains(KEY), "the key leaked: {e}");
            e
        }
    }
}

#[test]
fn an_unknown_path_is_refused_with_a_suggestion() {
    let e = build_error(&[("participants.emial", Action::Hash)]);
    assert_eq!(e.key.as_deref(), Some("fields.participants.emial"));
    assert!(
        e.help
            .as_deref()
            .unwrap_or("")
            .contains("`participants.email`"),
        "{e}"
    );
    let e = build_error(&[("email", Action::Keep)]);
    let help = e.help.unwrap_or_default();
    assert!(
        help.contains("`participants.email`") && help.contains("`messages.to.email`"),
        "{help}"
    );
}

#[test]
fn hash_and_mask_apply_to_strings_only() {
    let e = build_error(&[("participants", Action::Hash)]);
    assert!(e.message.contains("applies to strings only"), "{e}");
    assert!(e.help.unwrap_or_default().contains("participants.id"));
    let e = build_error(&[("updated_time", Action::Mask)]);
    assert!(e.message.contains("`updated_time`"), "{e}");
}

#[test]
fn a_key_column_cannot_be_dropped() {
    let e = build_error(&[("id", Action::Drop)]);
    assert!(e.message.contains("not nullable"), "{e}");
    assert!(e.help.unwrap_or_default().contains("hash"));
}

#[test]
fn an_entry_inside_a_dropped_field_is_refused() {
    let e = build_error(&[
        ("messages", Action::Drop),
        ("messages.from.id", Action::Hash),
    ]);
    assert!(e.message.contains("inside `messages`"), "{e}");
}

#[test]
fn a_short_key_is_refused_at_build_time_without_showing_it() {
    let short = "too-short-a-secret";
    let Err(e) = build_with(config(short, &[], false), conversations_schema()) else {
        panic!("a short key must be refused");
    };
    assert_eq!(e.key.as_deref(), Some("key"));
    assert!(!e.to_string().contains(short), "{e}");
}

#[test]
fn debug_output_of_the_transform_never_shows_the_key() {
    let plan = plan::plan(
        &conversations_schema(),
        &BTreeMap::new(),
        false,
        &BuildContext::transform("t", "p"),
    )
    .expect("plan");
    let mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("key");
    let t = PseudonymizeTransform::new(conversations_schema(), plan.columns, mac);
    let debug = format!("{t:?}");
    assert!(
        !debug.contains(KEY) && !debug.contains("test-key"),
        "{debug}"
    );
    assert!(debug.contains("REDACTED"), "{debug}");
}

#[test]
fn an_unknown_column_is_kept_with_a_warning() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("customer_note", DataType::Utf8, true),
    ]));
    let ctx = BuildContext::transform("t", "p");
    let input = BuildInput {
        schema: schema.clone(),
        domains: vec![],
    };
    let t = Pseudonymize::build(config(KEY, &[], false), &input, &ctx).expect("builds");
    let warnings = ctx.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("`customer_note`"));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["t1"])),
            Arc::new(StringArray::from(vec!["note"])),
        ],
    )
    .expect("batch");
    let out = apply(t.as_ref(), batch.clone());
    assert_eq!(out, batch);
}

#[test]
fn the_default_plan_covers_every_canonical_field() {
    // Every leaf of the canonical schema has a deliberate default (no warning), and every
    // participant id/email/username is hashed.
    let ctx = BuildContext::transform("t", "p");
    let plan = plan::plan(&conversations_schema(), &BTreeMap::new(), false, &ctx).expect("plan");
    assert!(ctx.warnings().is_empty(), "{:?}", ctx.warnings());
    let actions: BTreeMap<_, _> = plan.leaves.iter().cloned().collect();
    for parent in PARTICIPANT_STRUCTS {
        for (field, action) in [
            ("id", Action::Hash),
            ("email", Action::Hash),
            ("username", Action::Hash),
            ("name", Action::Drop),
        ] {
            assert_eq!(actions.get(&format!("{parent}.{field}")), Some(&action));
        }
    }
    assert_eq!(
        actions.len(),
        plan::all_paths(&conversations_schema()).len() - 6
    );
}

#[test]
fn the_public_demo_key_builds_with_a_warning() {
    let ctx = BuildContext::transform("t", "p");
    let input = BuildInput {
        schema: conversations_schema(),
        domains: vec![],
    };
    Pseudonymize::build(config(KEY, &[], false), &input, &ctx).expect("builds");
    assert!(ctx.warnings().is_empty(), "{:?}", ctx.warnings());
    Pseudonymize::build(config(DEMO_KEY, &[], false), &input, &ctx).expect("builds");
    let warnings = ctx.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].key.as_deref(), Some("key"));
    assert!(warnings[0].message.contains("public demo key"));
    assert!(!warnings[0].message.contains(DEMO_KEY));
}
