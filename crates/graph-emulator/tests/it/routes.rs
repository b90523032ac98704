//! Every route answers in Graph's shape.

use graph_emulator::{EmulatorConfig, Folder, MessageCount, Platform, ThreadCount};
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn lists_default_fields_id_and_updated_time() {
    let e = default_emu().await;
    let r = get(&list_url(&e, &e.page_ids()[0], "")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    let data = v["data"].as_array().unwrap();
    let unit = truth_ids(&e, &e.page_ids()[0], Platform::Messenger, Folder::Inbox);
    assert_eq!(data.len(), 25.min(unit.len()));
    for t in data {
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..2], ["id", "updated_time"], "{t}");
        assert!(
            keys[2..].iter().all(|k| *k == "ad_id"),
            "only the known extra field: {t}"
        );
    }
}

#[tokio::test]
async fn appends_id_last_when_not_requested() {
    let e = default_emu().await;
    let v = get(&list_url(
        &e,
        &e.page_ids()[0],
        "fields=snippet,updated_time&limit=3",
    ))
    .await
    .json();
    for t in v["data"].as_array().unwrap() {
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[0], "snippet");
        assert_eq!(keys[1], "updated_time");
        assert_eq!(*keys.last().unwrap(), "id");
    }
}

#[tokio::test]
async fn serves_a_conversation_node_with_expanded_messages() {
    let e = default_emu().await;
    let gt = e.ground_truth();
    let t = &gt.threads[3];
    let r = get(&node_url(
        &e,
        &t.id,
        "fields=id,message_count,messages.limit(3){id,message}",
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["id"], t.id.as_str());
    assert_eq!(v["message_count"], t.message_count);
    let msgs = v["messages"]["data"].as_array().unwrap();
    assert_eq!(msgs.len(), 3.min(t.message_count as usize));
    assert_eq!(msgs[0]["id"], t.message_ids[0].as_str());
    if t.message_count > 3 {
        let next = v["messages"]["paging"]["next"].as_str().unwrap();
        assert!(
            next.starts_with(&format!("{}/{V}/{}/messages?", e.base_url(), t.id)),
            "{next}"
        );
        assert!(next.contains("fields=id%2Cmessage"), "{next}");
        let more = get(next).await.json();
        assert_eq!(more["data"][0]["id"], t.message_ids[3].as_str());
        assert!(more["data"][0]["message"].is_string());
    }
}

fn thread_with_more_than_20(e: &graph_emulator::RunningEmulator) -> graph_emulator::TruthThread {
    e.ground_truth()
        .threads
        .into_iter()
        .find(|t| t.message_count > 20)
        .expect("default dataset has a thread with more than 20 messages")
}

#[tokio::test]
async fn messages_edge_pages_to_the_end_with_details_only_for_the_newest_20() {
    let e = default_emu().await;
    let t = thread_with_more_than_20(&e);
    let pages = walk(&node_url(
        &e,
        &format!("{}/messages", t.id),
        "fields=id,created_time,message,from&limit=7",
    ))
    .await;
    let msgs: Vec<Value> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().cloned().unwrap())
        .collect();
    let got: Vec<&str> = msgs.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        t.message_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for (i, m) in msgs.iter().enumerate() {
        assert!(m["created_time"].is_string());
        assert_eq!(m.get("message").is_some(), i < 20, "message {i}: {m}");
        assert_eq!(m.get("from").is_some(), i < 20, "message {i}: {m}");
    }
    let times: Vec<&str> = msgs
        .iter()
        .map(|m| m["created_time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
}

#[tokio::test]
async fn messages_edge_defaults_to_id_and_created_time() {
    let e = default_emu().await;
    let t = &e.ground_truth().threads[0];
    let v = get(&node_url(&e, &format!("{}/messages", t.id), ""))
        .await
        .json();
    let keys: Vec<&str> = v["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "created_time"]);
}

#[tokio::test]
async fn serves_a_message_node_for_the_newest_twenty() {
    let e = default_emu().await;
    let t = &e.ground_truth().threads[0];
    let r = get(&node_url(
        &e,
        &t.message_ids[0],
        "fields=id,message,from,to,created_time",
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["id"], t.message_ids[0].as_str());
    assert_eq!(v["message"], t.snippet.as_str());
    assert!(v["from"]["id"].is_string());
    assert!(v["to"]["data"][0]["id"].is_string());
}

#[tokio::test]
async fn rejects_messages_older_than_twenty_with_code_100_subcode_33() {
    let e = default_emu().await;
    let t = thread_with_more_than_20(&e);
    let old = &t.message_ids[20];
    let r = get(&node_url(&e, old, "fields=id,message")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        serde_json::json!({
            "message": format!("Unsupported get request. Object with ID '{old}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33
        })
    );
    let newest20 = &t.message_ids[19];
    assert_eq!(get(&node_url(&e, newest20, "")).await.status, 200);
}

#[tokio::test]
async fn unknown_object_answers_code_100_subcode_33() {
    let e = default_emu().await;
    for id in ["t_12345", "999999", "m_notanid"] {
        let r = get(&node_url(&e, id, "")).await;
        assert_eq!(r.status, 400);
        let err = r.error();
        assert_eq!(err["code"], 100);
        assert_eq!(err["error_subcode"], 33);
        assert_eq!(err["type"], "GraphMethodException");
    }
}

#[tokio::test]
async fn unknown_path_components_answer_code_2500() {
    let e = default_emu().await;
    let r = get(&node_url(
        &e,
        &format!("{}/conversations/extra", e.page_ids()[0]),
        "",
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        serde_json::json!({"message": "Unknown path components: /conversations/extra", "type": "OAuthException", "code": 2500})
    );
}

#[tokio::test]
async fn serves_the_page_node() {
    let e = default_emu().await;
    let v = get(&node_url(&e, &e.page_ids()[1], "")).await.json();
    assert_eq!(v["id"], "104857600000002");
    assert!(v["name"].as_str().unwrap().contains('2'));
}

#[tokio::test]
async fn accepts_bearer_token_and_does_not_echo_it_into_next() {
    let e = default_emu().await;
    let url = format!(
        "{}/{V}/{}/conversations?limit=2",
        e.base_url(),
        e.page_ids()[0]
    );
    let r = client().get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let next = v["paging"]["next"].as_str().unwrap();
    assert!(!next.contains("access_token"), "{next}");
    assert!(next.contains("pretty=0&limit=2&after="), "{next}");
}

#[tokio::test]
async fn serves_unversioned_paths_with_the_default_version() {
    let e = default_emu().await;
    let url = format!(
        "{}/{}/conversations?access_token={TOKEN}&limit=1",
        e.base_url(),
        e.page_ids()[0]
    );
    let r = get(&url).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("facebook-api-version"),
        Some(graph_emulator::DEFAULT_VERSION)
    );
    assert!(
        r.json()["paging"]["next"]
            .as_str()
            .unwrap()
            .contains("/v25.0/")
    );
}

#[tokio::test]
async fn user_id_filters_to_that_persons_thread() {
    let e = emu(EmulatorConfig {
        threads_per_unit: ThreadCount::Exact(10),
        messages_per_thread: MessageCount::Exact(2),
        ..EmulatorConfig::default()
    })
    .await;
    let page = &e.page_ids()[0];
    for (platform, folder) in [
        (Platform::Messenger, Folder::Other),
        (Platform::Instagram, Folder::Inbox),
    ] {
        let t = e
            .ground_truth()
            .unit(page, platform, folder)
            .nth(4)
            .unwrap()
            .clone();
        let json: Value = serde_json::from_str(&t.json).unwrap();
        let user = json["participants"]["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let q = format!(
            "platform={}&folder={}&user_id={user}",
            platform.as_str(),
            folder.as_str()
        );
        let v = get(&list_url(&e, page, &q)).await.json();
        assert_eq!(ids(&[v]), vec![t.id.clone()]);
        let v = get(&list_url(
            &e,
            page,
            &format!("platform={}&user_id=1234", platform.as_str()),
        ))
        .await
        .json();
        assert!(v["data"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn platform_is_case_insensitive_and_defaults_to_messenger() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let upper = ids(&[get(&list_url(&e, page, "platform=INSTAGRAM&limit=5"))
        .await
        .json()]);
    let lower = ids(&[get(&list_url(&e, page, "platform=instagram&limit=5"))
        .await
        .json()]);
    assert_eq!(upper, lower);
    assert_eq!(
        upper,
        truth_ids(&e, page, Platform::Instagram, Folder::Inbox)[..5]
    );
    let default = ids(&[get(&list_url(&e, page, "limit=5")).await.json()]);
    assert_eq!(
        default,
        truth_ids(&e, page, Platform::Messenger, Folder::Inbox)[..5]
    );
}

#[tokio::test]
async fn ignores_summary_and_pretty() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let a = get(&list_url(&e, page, "limit=3")).await.json();
    let b = get(&list_url(&e, page, "limit=3&summary=true&pretty=1"))
        .await
        .json();
    assert_eq!(a["data"], b["data"]);
}

#[tokio::test]
async fn bodies_are_gzipped_when_asked_and_only_then() {
    use std::io::Read as _;
    let e = default_emu().await;
    let url = list_url(&e, &e.page_ids()[0], "fields=id,snippet,messages{message}");
    let plain = get(&url).await;
    assert_eq!(plain.header("content-encoding"), None);
    let r = client()
        .get(&url)
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    let wire = r.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&wire[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain.text, "the same bytes, compressed");
    assert!(
        wire.len() * 3 < text.len(),
        "{} -> {}",
        text.len(),
        wire.len()
    );
    let refused = client()
        .get(&url)
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers().get("content-encoding"), None);
    let stats = e.stats();
    assert_eq!(stats.gzipped_responses, 1);
    assert_eq!(stats.gzipped_bytes, wire.len() as u64);

    // A server that ignores the header.
    let e = emu(EmulatorConfig {
        gzip: false,
        ..EmulatorConfig::default()
    })
    .await;
    let r = client()
        .get(list_url(&e, &e.page_ids()[0], ""))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-encoding"), None);
}
