//! No access token or `appsecret_proof` appears anywhere: not in logs captured at TRACE level
//! (this crate's, reqwest's and hyper's, `log` records included), not in errors (Display and
//! Debug), not in the output batches. Its own test binary: it installs a global subscriber.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use graph_emulator::{
    Accounts, EmulatorConfig, Faults, InjectedError, TokenGrant, TokenStatus, Trigger, UserGrant,
    page_token,
};
use source_graph_conversations::client::secure::appsecret_proof;
use source_graph_conversations::{GraphConversations, GraphConversationsConfig, build_source};
use tributary_core::plugin::{BuildContext, RunContext, Source, SourcePlugin};

const TOKEN: &str = "EAAG-LEAK-CANARY-7f3a9c2e1d";
const EXPIRED: &str = "EAAG-EXPIRED-CANARY-5b8e4d";
const SECRET: &str = "app-secret-CANARY-31337";
/// A user token for `pages = "all"`; the Page tokens it lists are secrets too.
const USER: &str = "EAAG-USER-CANARY-0c4b7a";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pipeline_config(base: &str, token: &str) -> GraphConversationsConfig {
    toml::from_str(&format!(
        r#"base_url = "{base}"
pages = ["104857600000001", {{ id = "104857600000002", access_token = "{token}" }}]
access_token = "{token}"
app_secret = "{SECRET}"
page_size = 7
messages = {{ max = 4 }}
requests_per_second_per_page = 0
max_retries = 12
min_backoff_ms = 1
max_backoff_secs = 0.02"#
    ))
    .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_proof_in_logs_errors_or_output() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut tokens = graph_emulator::default_tokens();
    tokens.insert(TOKEN.into(), TokenGrant::full());
    tokens.insert(
        EXPIRED.into(),
        TokenGrant {
            status: TokenStatus::Expired,
            ..TokenGrant::full()
        },
    );
    let faults = Faults {
        truncate_body: Trigger::EveryNth(5),
        connection_reset: Trigger::EveryNth(7),
        empty_page: Trigger::EveryNth(4),
        ..Faults::none()
            .with_error(InjectedError::RateLimit613, Trigger::EveryNth(3))
            .with_error(InjectedError::Http503, Trigger::Nth(2))
            .with_error(InjectedError::ReduceData1, Trigger::Nth(4))
            .with_error(InjectedError::ErrorInHttp200, Trigger::Nth(8))
    };
    let emu = graph_emulator::start(EmulatorConfig {
        seed: 5,
        tokens,
        app_secret: Some(SECRET.into()),
        faults,
        accounts: Accounts {
            // One Page per response: the listing's `next` links (holding the user token) are
            // followed and logged.
            per_page: 1,
            users: [(
                USER.to_string(),
                UserGrant {
                    pages: None,
                    status: TokenStatus::Valid,
                },
            )]
            .into_iter()
            .collect(),
            ..Accounts::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();

    // A run through every retryable fault: it succeeds.
    let ctx = RunContext::for_test("pages");
    let config = pipeline_config(emu.base_url(), TOKEN);
    let mut debug_of_source = format!("{config:?}");
    let source = build_source(config, &BuildContext::source("t", "pages")).unwrap();
    debug_of_source.push_str(&format!("{source:?} {:?}", source.metrics()));
    let source: Box<dyn Source> = Box::new(source);
    let mut stream = source.open(&ctx);
    let mut batches = Vec::new();
    while let Some(b) = stream.next().await {
        batches.push(b.expect("the faults are all retryable"));
    }
    assert!(!batches.is_empty());
    let output = {
        let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
        for b in &batches {
            w.write(&retag_utc(b)).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(w.into_inner()).unwrap()
    };
    assert!(output.contains("\"snippet\""), "the output was rendered");

    // `pages = "all"`: the Pages and their tokens come from /me/accounts, through the faults.
    let discovered = build_source(
        toml::from_str(&format!(
            r#"base_url = "{}"
pages = "all"
access_token = "{USER}"
app_secret = "{SECRET}"
page_size = 7
requests_per_second_per_page = 0
max_retries = 12
min_backoff_ms = 1
max_backoff_secs = 0.02"#,
            emu.base_url()
        ))
        .expect("config"),
        &BuildContext::source("t", "all"),
    )
    .unwrap();
    debug_of_source.push_str(&format!("{discovered:?}"));
    let discovered: Box<dyn Source> = Box::new(discovered);
    let checks = discovered.check(&RunContext::for_test("all")).await;
    let check_text = format!("{checks:?}");
    assert!(!checks.is_empty(), "{check_text}");
    let mut stream = discovered.open(&RunContext::for_test("all"));
    let mut discovered_rows = 0;
    while let Some(b) = stream.next().await {
        discovered_rows += b.expect("the faults are all retryable").num_rows();
    }
    assert!(discovered_rows > 0);

    // A run that ends with a fatal auth error.
    let source = GraphConversations::build(
        pipeline_config(emu.base_url(), EXPIRED),
        &BuildContext::source("t", "pages"),
    )
    .unwrap();
    let mut stream = source.open(&RunContext::for_test("pages"));
    let mut error = None;
    while let Some(b) = stream.next().await {
        if let Err(e) = b {
            error = Some(e);
        }
    }
    let error = error.expect("the expired token fails the run");
    let error_text = format!("{error}\n{error:?}");
    assert!(error_text.contains("code 190/463"), "{error_text}");
    let stats = emu.stats();
    let emu_pages = emu.page_ids();
    emu.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // The capture really saw the retries and URLs (so this test can fail).
    assert!(logs.contains("retrying"), "no retry logged");
    assert!(logs.contains("after="), "no paging URL logged");
    assert!(
        stats.faults_injected.len() >= 6,
        "{:?}",
        stats.faults_injected
    );
    assert!(logs.contains("/me/accounts"), "the listing was logged");
    assert!(
        stats
            .requests_by_route
            .get("accounts")
            .copied()
            .unwrap_or(0)
            >= 4,
        "the listing was paged, twice (check and run): {:?}",
        stats.requests_by_route
    );
    let mut secrets = vec![
        TOKEN.to_string(),
        EXPIRED.to_string(),
        SECRET.to_string(),
        USER.to_string(),
        appsecret_proof(SECRET, TOKEN, None),
        appsecret_proof(SECRET, EXPIRED, None),
        appsecret_proof(SECRET, USER, None),
    ];
    for page in emu_pages {
        let token = page_token(&page);
        secrets.push(appsecret_proof(SECRET, &token, None));
        secrets.push(token);
    }
    for secret in secrets {
        for (what, text) in [
            ("check", &check_text),
            ("logs", &logs),
            ("error", &error_text),
            ("output", &output),
            ("source Debug", &debug_of_source),
        ] {
            assert!(!text.contains(&secret), "`{secret}` leaked into {what}");
        }
    }
}

/// Arrow's JSON writer cannot resolve the named zone "UTC" without chrono-tz: re-tag every
/// timestamp `+00:00` (same instants) before rendering.
fn retag_utc(batch: &arrow::record_batch::RecordBatch) -> arrow::record_batch::RecordBatch {
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    fn retag(t: &DataType) -> DataType {
        match t {
            DataType::Timestamp(u, Some(_)) => DataType::Timestamp(*u, Some("+00:00".into())),
            DataType::List(f) => DataType::List(Arc::new(
                f.as_ref().clone().with_data_type(retag(f.data_type())),
            )),
            DataType::Struct(fs) => DataType::Struct(Fields::from(
                fs.iter()
                    .map(|f| f.as_ref().clone().with_data_type(retag(f.data_type())))
                    .collect::<Vec<Field>>(),
            )),
            other => other.clone(),
        }
    }
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(retag(f.data_type())))
        .collect();
    let columns = batch
        .columns()
        .iter()
        .zip(&fields)
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()).unwrap())
        .collect();
    arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}
