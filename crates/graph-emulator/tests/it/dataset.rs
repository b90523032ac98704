//! The dataset: determinism, Graph's JSON escaping, hard text, field quirks, ground truth,
//! mutations and stats.

use graph_emulator::{EmulatorConfig, Folder, Mutation, Platform, ThreadCount};
use serde_json::Value;

use crate::common::*;

const ALL_FIELDS: &str = "fields=id,updated_time,link,snippet,message_count,unread_count,can_reply,is_subscribed,name,scoped_thread_key,wallpaper,folder,is_owner,participants,senders,former_participants,messages.limit(100){id,created_time,from,to,message,sticker,tags,attachments,is_unsupported}";

fn strip_port(s: &str, e: &graph_emulator::RunningEmulator) -> String {
    s.replace(&e.base_url().replace('/', "\\/"), "ORIGIN")
}

#[tokio::test]
async fn same_seed_serves_the_same_bytes_and_another_seed_does_not() {
    let body = |seed: u64| async move {
        let e = emu(EmulatorConfig {
            seed,
            ..EmulatorConfig::default()
        })
        .await;
        let r = get(&list_url(
            &e,
            &e.page_ids()[1],
            &format!("platform=instagram&folder=spam&limit=10&{ALL_FIELDS}"),
        ))
        .await;
        assert_eq!(r.status, 200);
        strip_port(&r.text, &e)
    };
    let a = body(11).await;
    assert_eq!(a, body(11).await);
    assert_ne!(a, body(12).await);
}

#[tokio::test]
async fn writes_json_like_graph_with_u_escapes_and_escaped_slashes() {
    let e = default_emu().await;
    let r = get(&list_url(
        &e,
        &e.page_ids()[0],
        "fields=snippet,link,participants&limit=5",
    ))
    .await;
    assert!(r.text.is_ascii(), "every non-ASCII character is escaped");
    assert!(
        r.text.contains("\\ud83d\\ude00"),
        "astral characters as surrogate pairs"
    );
    assert!(r.text.contains("\\u6771\\u4eac"), "CJK");
    assert!(r.text.contains("\\/slash\\/"), "slashes escaped");
    assert!(r.text.contains("\"link\":\"\\/104857600000001\\/inbox\\/"));
    assert!(
        r.text.contains("http:\\/\\/127.0.0.1:"),
        "next URL escaped too"
    );
    assert!(r.text.contains("\\u0001"), "control characters as \\u00XX");
}

#[tokio::test]
async fn hard_text_round_trips_through_the_api() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let v = get(&list_url(
        &e,
        page,
        "fields=snippet,messages.limit(1){message}&limit=2",
    ))
    .await
    .json();
    let gt = e.ground_truth();
    let mut unit = gt.unit(page, Platform::Messenger, Folder::Inbox);
    let (first, second) = (unit.next().unwrap(), unit.next().unwrap());
    let sink = v["data"][0]["snippet"].as_str().unwrap();
    assert_eq!(sink, first.snippet);
    assert_eq!(
        v["data"][0]["messages"]["data"][0]["message"],
        first.snippet.as_str()
    );
    for piece in [
        "😀",
        "👨\u{200D}👩\u{200D}👧\u{200D}👦",
        "🇯🇵",
        "𝄞",
        "東京",
        "مرحبا",
        "שלום",
        "e\u{301}",
        "\u{200B}",
        "\"quoted\"",
        "back\\slash",
        "line1\nline2\r\n\ttab",
        "\u{1}",
    ] {
        assert!(
            sink.contains(piece),
            "{piece:?} in the kitchen-sink snippet"
        );
    }
    let long = v["data"][1]["snippet"].as_str().unwrap();
    assert_eq!(long, second.snippet);
    assert!(long.chars().count() > 1500, "a very long snippet");
}

#[tokio::test]
async fn omits_zero_unread_count_and_serves_nulls_and_unknown_extra_fields() {
    let e = default_emu().await;
    let v = get(&list_url(
        &e,
        &e.page_ids()[0],
        "fields=unread_count,name,wallpaper&limit=40",
    ))
    .await
    .json();
    let data = v["data"].as_array().unwrap();
    assert!(
        data.iter().any(|t| t.get("unread_count").is_none()),
        "zero unread_count omitted"
    );
    assert!(data.iter().all(|t| {
        t.get("unread_count")
            .is_none_or(|u| u.as_u64().unwrap() > 0)
    }));
    assert!(data.iter().any(|t| t["name"].is_null()));
    assert!(data.iter().any(|t| t["name"].is_string()));
    assert!(
        data.iter()
            .all(|t| t.get("wallpaper").is_some_and(Value::is_null))
    );
    assert!(
        data.iter().any(|t| t.get("ad_id").is_some()),
        "an unrequested field nobody knows"
    );
}

#[tokio::test]
async fn participants_and_messages_have_each_platforms_shape() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let q = "fields=participants,messages.limit(3){from,to,message}&limit=5";
    let m = get(&list_url(&e, page, q)).await.json();
    for t in m["data"].as_array().unwrap() {
        for p in t["participants"]["data"].as_array().unwrap() {
            let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["name", "email", "id"]);
            assert_eq!(
                p["email"].as_str().unwrap(),
                format!("{}@facebook.com", p["id"].as_str().unwrap())
            );
        }
        let msg = &t["messages"]["data"][0];
        assert!(msg["from"]["name"].is_string());
        assert!(msg["to"]["data"][0]["email"].is_string());
        assert!(msg["id"].as_str().unwrap().starts_with("m_"));
    }
    assert!(m["data"][0]["id"].as_str().unwrap().starts_with("t_"));
    let ig = get(&list_url(&e, page, &format!("platform=instagram&{q}")))
        .await
        .json();
    for t in ig["data"].as_array().unwrap() {
        for p in t["participants"]["data"].as_array().unwrap() {
            let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["username", "id"]);
        }
        assert!(t["messages"]["data"][0]["from"]["username"].is_string());
        assert!(t["messages"]["data"][0]["to"]["data"][0]["username"].is_string());
    }
}

#[tokio::test]
async fn dataset_covers_both_platforms_all_folders_and_fixed_page_ids() {
    let e = emu(EmulatorConfig {
        pages: 3,
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(
        e.page_ids(),
        ["104857600000001", "104857600000002", "104857600000003"]
    );
    let gt = e.ground_truth();
    for page in e.page_ids() {
        for platform in Platform::ALL {
            for folder in Folder::ALL {
                assert!(gt.unit(&page, platform, folder).count() >= 15);
            }
        }
    }
    let mut ids = gt.ids();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids are unique");
}

#[tokio::test]
async fn ground_truth_endpoint_streams_the_same_ndjson() {
    let e = default_emu().await;
    let r = get(&format!("{}/__emulator/ground_truth", e.base_url())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let gt = e.ground_truth();
    assert_eq!(r.text.as_bytes(), gt.to_ndjson());
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), gt.threads.len());
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["page_id"], "104857600000001");
    assert_eq!(first["platform"], "messenger");
    assert_eq!(first["folder"], "inbox");
    assert_eq!(first["id"], gt.threads[0].id.as_str());
    let filtered = get(&format!(
        "{}/__emulator/ground_truth?page_id=104857600000002&platform=instagram&folder=spam",
        e.base_url()
    ))
    .await;
    assert_eq!(
        filtered.text.lines().count(),
        gt.unit("104857600000002", Platform::Instagram, Folder::Spam)
            .count()
    );
}

fn without_paging(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("paging");
            o.values_mut().for_each(without_paging);
        }
        Value::Array(a) => a.iter_mut().for_each(without_paging),
        _ => {}
    }
}

#[tokio::test]
async fn ground_truth_is_exactly_what_the_api_serves_with_all_fields() {
    let e = default_emu().await;
    let page = &e.page_ids()[1];
    for platform in Platform::ALL {
        let q = format!(
            "platform={}&folder=page_done&limit=25&{ALL_FIELDS}",
            platform.as_str()
        );
        let pages = walk(&list_url(&e, page, &q)).await;
        let truth: Vec<_> = e
            .ground_truth()
            .unit(page, platform, Folder::PageDone)
            .cloned()
            .collect();
        let served: Vec<Value> = pages
            .iter()
            .flat_map(|p| p["data"].as_array().cloned().unwrap())
            .collect();
        assert_eq!(served.len(), truth.len());
        for (mut s, t) in served.into_iter().zip(truth) {
            without_paging(&mut s);
            let want: Value = serde_json::from_str(&t.json).unwrap();
            assert_eq!(s, want);
        }
    }
}

#[tokio::test]
async fn mutations_add_update_and_delete_threads() {
    let e = emu(EmulatorConfig {
        threads_per_unit: ThreadCount::Exact(20),
        ..EmulatorConfig::default()
    })
    .await;
    let page = e.page_ids()[0].clone();
    let ids_now = || truth_ids(&e, &page, Platform::Instagram, Folder::Other);
    let original = ids_now();

    let new = e.mutate(Mutation::NewThreads {
        page_id: page.clone(),
        platform: Platform::Instagram,
        folder: Folder::Other,
        count: 2,
    });
    assert_eq!(new.len(), 2);
    assert_eq!(
        ids_now()[..2],
        [new[1].clone(), new[0].clone()],
        "newest first"
    );
    let listed = ids(&[get(&list_url(
        &e,
        &page,
        "platform=instagram&folder=other&limit=3",
    ))
    .await
    .json()]);
    assert_eq!(listed[..2], [new[1].clone(), new[0].clone()]);
    assert_eq!(get(&node_url(&e, &new[0], "")).await.status, 200);

    let target = original[7].clone();
    let count_before = e.ground_truth().get(&target).unwrap().message_count;
    assert_eq!(
        e.mutate(Mutation::Update {
            thread_id: target.clone()
        }),
        [target.as_str()]
    );
    let gt = e.ground_truth();
    let t = gt.get(&target).unwrap();
    assert_eq!(ids_now()[0], target);
    assert_eq!(t.message_count, count_before + 1);
    let node = get(&node_url(&e, &target, "fields=message_count,updated_time"))
        .await
        .json();
    assert_eq!(node["updated_time"], t.updated_time.as_str());

    let gone = original[3].clone();
    assert_eq!(
        e.mutate(Mutation::Delete {
            thread_id: gone.clone()
        }),
        [gone.as_str()]
    );
    assert!(!ids_now().contains(&gone));
    assert_eq!(get(&node_url(&e, &gone, "")).await.status, 400);
    assert_eq!(ids_now().len(), 21);
    assert!(
        e.mutate(Mutation::Delete { thread_id: gone }).is_empty(),
        "already gone"
    );
}

#[tokio::test]
async fn mutate_endpoint_accepts_json() {
    let e = default_emu().await;
    let page = e.page_ids()[0].clone();
    let body = serde_json::json!({"new_threads": {"page_id": page, "platform": "messenger", "folder": "spam", "count": 1}});
    let r = client()
        .post(format!("{}/__emulator/mutate", e.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["ids"][0].as_str().unwrap().to_string();
    assert_eq!(
        truth_ids(&e, &page, Platform::Messenger, Folder::Spam)[0],
        id
    );
}

#[tokio::test]
async fn stats_count_requests_per_route_and_page() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let t = e.ground_truth().threads[0].clone();
    get(&list_url(&e, page, "limit=3")).await;
    get(&list_url(&e, page, "limit=3")).await;
    get(&node_url(&e, &t.id, "")).await;
    get(&node_url(&e, &format!("{}/messages", t.id), "")).await;
    get(&format!("{}/{V}/{page}/conversations", e.base_url())).await;
    let s = e.stats();
    assert_eq!(s.requests_by_route["conversations"], 2);
    assert_eq!(s.requests_by_route["conversation"], 1);
    assert_eq!(s.requests_by_route["messages"], 1);
    assert_eq!(s.errors_by_code[&104], 1);
    assert_eq!(s.per_page[page].requests, 4);
    assert_eq!(s.per_page[page].threads_served, 7);
    assert_eq!(s.threads_served, 7);
    let http: Value = get(&format!("{}/__emulator/stats", e.base_url()))
        .await
        .json();
    assert_eq!(http["requests_by_route"]["conversations"], 2);
}

#[tokio::test]
async fn ground_truth_file_export_matches_the_endpoint() {
    let e = default_emu().await;
    let path = std::env::temp_dir().join(format!(
        "graph-emulator-truth-{}.ndjson",
        std::process::id()
    ));
    e.ground_truth().write_ndjson(&path).unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let http = get(&format!("{}/__emulator/ground_truth", e.base_url()))
        .await
        .text;
    assert_eq!(file, http);
}
