//! Helpers shared by the integration tests.

use graph_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::header::HeaderMap;

pub const TOKEN: &str = graph_emulator::DEMO_TOKEN;
pub const V: &str = "v19.0";

pub async fn emu(cfg: EmulatorConfig) -> RunningEmulator {
    graph_emulator::start(cfg).await.expect("emulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
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
