//! Helpers shared by the integration tests.

use graph_emulator::{EmulatorConfig, Folder, Platform, RunningEmulator};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const TOKEN: &str = graph_emulator::DEMO_TOKEN;
pub const V: &str = "v19.0";

pub async fn emu(cfg: EmulatorConfig) -> RunningEmulator {
    graph_emulator::start(cfg).await.expect("emulator starts")
}

pub async fn default_emu() -> RunningEmulator {
    emu(EmulatorConfig::default()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error object with `fbtrace_id` checked and removed, for exact comparisons.
    pub fn error(&self) -> Value {
        let mut v = self.json();
        let err = v
            .get_mut("error")
            .unwrap_or_else(|| panic!("no error object: {}", self.text));
        let trace = err
            .as_object_mut()
            .and_then(|o| o.remove("fbtrace_id"))
            .expect("fbtrace_id present");
        assert!(
            trace.as_str().is_some_and(|t| t.len() == 11),
            "fbtrace_id looks like Graph's: {trace}"
        );
        err.clone()
    }
}

pub async fn get(url: &str) -> Resp {
    let r = client().get(url).send().await.expect("request");
    Resp {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.expect("body"),
    }
}

/// `{base}/v19.0/{page}/conversations?access_token=demo-token&{query}`
pub fn list_url(emu: &RunningEmulator, page: &str, query: &str) -> String {
    format!(
        "{}/{V}/{page}/conversations?access_token={TOKEN}&{query}",
        emu.base_url()
    )
}

/// `{base}/v19.0/{path}?access_token=demo-token&{query}`
pub fn node_url(emu: &RunningEmulator, path: &str, query: &str) -> String {
    format!("{}/{V}/{path}?access_token={TOKEN}&{query}", emu.base_url())
}

/// Follows `paging.next` verbatim from `first_url` until it is absent; returns every page.
pub async fn walk(first_url: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut url = first_url.to_string();
    for _ in 0..10_000 {
        let r = get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        let v = r.json();
        let next = v["paging"]["next"].as_str().map(str::to_string);
        pages.push(v);
        match next {
            Some(n) => url = n,
            None => return pages,
        }
    }
    panic!("paging did not end");
}

/// Thread ids of every page of a walk, in order.
pub fn ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p["data"].as_array().cloned().unwrap_or_default())
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

pub fn truth_ids(
    emu: &RunningEmulator,
    page: &str,
    platform: Platform,
    folder: Folder,
) -> Vec<String> {
    emu.ground_truth()
        .unit(page, platform, folder)
        .map(|t| t.id.clone())
        .collect()
}
