//! The `graph_conversations` plugin: TOML in, canonical RecordBatches out.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::future::BoxFuture;
use source_graph_conversations::{GraphConversations, GraphConversationsConfig};
use tributary_core::RunError;
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::{
    BuildContext, EmbeddedHandle, EmbeddedService, RunContext, SourcePlugin,
};

use graph_emulator::EmulatorConfig;

use crate::common::*;

fn config(toml_text: &str) -> GraphConversationsConfig {
    toml::from_str(toml_text).expect("valid config")
}

fn fast(base: &str, extra: &str) -> String {
    format!(
        r#"base_url = "{base}"
pages = ["104857600000001", "104857600000002"]
access_token = "demo-token"
page_size = 10
requests_per_second_per_page = 0
min_backoff_ms = 1
max_backoff_secs = 0.02
{extra}"#
    )
}

async fn run(
    cfg: GraphConversationsConfig,
    ctx: &RunContext,
) -> Result<Vec<RecordBatch>, RunError> {
    let source = GraphConversations::build(cfg, &BuildContext::source("test", "pages"))
        .map_err(|e| RunError::msg(e.to_string()))?;
    let mut stream = source.open(ctx);
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        out.push(b?);
    }
    Ok(out)
}

#[tokio::test]
async fn emits_canonical_batches_with_every_thread_and_exact_text() {
    let emu = start(small()).await;
    let cfg = config(&fast(
        emu.base_url(),
        r#"messages = { max = 3, fields = ["id", "created_time", "from", "to", "message"] }"#,
    ));
    let batches = run(cfg, &RunContext::for_test("pages")).await.unwrap();
    let truth = emu.ground_truth();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, truth.threads.len());
    assert!(
        batches
            .iter()
            .all(|b| b.num_rows() > 0 && b.num_rows() <= 10),
        "one batch per API page"
    );
    let mut with_extra = 0;
    for b in &batches {
        assert_eq!(b.schema(), conversations_schema());
        let ids = b.column_by_name("id").unwrap().as_string::<i32>();
        let snippets = b.column_by_name("snippet").unwrap().as_string::<i32>();
        let platforms = b.column_by_name("platform").unwrap().as_string::<i32>();
        let folders = b.column_by_name("folder").unwrap().as_string::<i32>();
        let pages = b.column_by_name("page_id").unwrap().as_string::<i32>();
        let messages = b.column_by_name("messages").unwrap().as_list::<i32>();
        let extra = b.column_by_name("extra_json").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            let want = truth.get(ids.value(i)).expect("thread in the truth");
            assert_eq!(snippets.value(i), want.snippet);
            assert_eq!(platforms.value(i), want.platform.as_str());
            assert_eq!(folders.value(i), want.folder.as_str());
            assert_eq!(pages.value(i), want.page_id);
            let msgs = messages.value(i);
            let texts = msgs
                .as_struct()
                .column_by_name("message")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let want_texts = truth_messages(want, 3);
            assert_eq!(texts.len(), want_texts.len());
            for (j, (_, text)) in want_texts.iter().enumerate() {
                assert_eq!(texts.is_valid(j).then(|| texts.value(j).to_string()), *text);
            }
            if extra.is_valid(i) {
                with_extra += 1;
                assert!(
                    serde_json::from_str::<serde_json::Value>(extra.value(i))
                        .unwrap()
                        .is_object()
                );
            }
        }
        // `subject` is not requested by default: always null.
        assert_eq!(
            b.column_by_name("subject").unwrap().null_count(),
            b.num_rows()
        );
    }
    assert!(with_extra > 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn domains_follow_the_configured_platforms_and_folders() {
    let cfg = config(&fast(
        "https://graph.facebook.com",
        r#"platforms = ["instagram"]
folders = ["inbox", "spam"]"#,
    ));
    let source = GraphConversations::build(cfg, &BuildContext::source("test", "pages")).unwrap();
    let domains = source.domains();
    assert_eq!(domains[0].column, "platform");
    assert_eq!(domains[0].values, ["instagram"]);
    assert_eq!(domains[0].configured_by, "sources.pages.platforms");
    assert_eq!(domains[1].values, ["inbox", "spam"]);
    assert_eq!(domains[1].configured_by, "sources.pages.folders");
}

#[tokio::test]
async fn fatal_errors_surface_as_run_errors_naming_the_component_and_page() {
    let emu = start(small()).await;
    let cfg =
        config(&fast(emu.base_url(), "").replace("demo-token", graph_emulator::EXPIRED_TOKEN));
    let err = run(cfg, &RunContext::for_test("pages"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("sources.pages: page 10485760000000"),
        "{err}"
    );
    assert!(err.contains("access token expired (code 190/463)"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn cancellation_ends_the_stream_early_and_cleanly() {
    let mut cfg_emu = small();
    cfg_emu.latency = graph_emulator::Latency::Fixed(std::time::Duration::from_millis(30));
    let emu = start(cfg_emu).await;
    let cfg = config(&fast(emu.base_url(), "concurrency = 1"));
    let ctx = RunContext::for_test("pages");
    let source = GraphConversations::build(cfg, &BuildContext::source("test", "pages")).unwrap();
    let mut stream = source.open(&ctx);
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    ctx.cancel.cancel();
    let rest = tokio::time::timeout(std::time::Duration::from_secs(2), stream.next())
        .await
        .unwrap();
    assert!(rest.is_none(), "the stream ends once cancelled");
    emu.shutdown().await;
}

struct EmbeddedEmulator;

impl EmbeddedService for EmbeddedEmulator {
    fn start(&self) -> BoxFuture<'static, Result<EmbeddedHandle, RunError>> {
        Box::pin(async {
            let emu = graph_emulator::start(EmulatorConfig {
                pages: 2,
                ..Default::default()
            })
            .await
            .map_err(|e| RunError::msg(e.to_string()))?;
            Ok(EmbeddedHandle {
                url: emu.base_url().to_string(),
                guard: Box::new(emu),
            })
        })
    }
}

#[tokio::test]
async fn embedded_base_url_starts_the_emulator_through_services() {
    // No access_token: the embedded emulator's demo token is used.
    let cfg = config(
        r#"base_url = "embedded"
pages = ["104857600000001"]
platforms = ["messenger"]
folders = ["inbox"]
requests_per_second_per_page = 0"#,
    );
    let mut ctx = RunContext::for_test("pages");
    ctx.services
        .register("graph-emulator", Arc::new(EmbeddedEmulator));
    let batches = run(cfg, &ctx).await.unwrap();
    assert!(batches.iter().map(RecordBatch::num_rows).sum::<usize>() > 0);
    // Without the service, the error says so.
    let cfg = config("base_url = \"embedded\"\npages = [\"104857600000001\"]");
    let err = run(cfg, &RunContext::for_test("pages"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no embedded service `graph-emulator`"),
        "{err}"
    );
}

#[tokio::test]
async fn telemetry_counts_rows_calls_and_finished_units() {
    let emu = start(EmulatorConfig {
        faults: graph_emulator::Faults::transient_rate(0.1),
        ..small()
    })
    .await;
    let ctx = RunContext::for_test("pages");
    let batches = run(config(&fast(emu.base_url(), "")), &ctx).await.unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let units = ctx.telemetry.snapshot();
    assert_eq!(units.len(), 16);
    assert!(units.iter().all(|u| u.component == "sources.pages"));
    assert!(
        units
            .iter()
            .any(|u| u.unit == "104857600000002 instagram page_done"),
        "{units:?}"
    );
    assert_eq!(units.iter().map(|u| u.rows).sum::<u64>(), rows as u64);
    let stats = emu.stats();
    assert_eq!(
        units.iter().map(|u| u.api_calls).sum::<u64>(),
        stats.requests_by_route["conversations"]
    );
    assert_eq!(
        units.iter().map(|u| u.retries).sum::<u64>(),
        stats.faults_injected["error-2"]
    );
    assert!(
        ctx.telemetry
            .units()
            .iter()
            .all(|c| c.done.load(std::sync::atomic::Ordering::Relaxed))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn check_reports_each_page_and_platform_with_a_fix() {
    let emu = start(small()).await;
    let ctx = RunContext::for_test("pages");
    let source = GraphConversations::build(
        config(&fast(emu.base_url(), "")),
        &BuildContext::source("t", "pages"),
    )
    .unwrap();
    let results = source.check(&ctx).await;
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    assert_eq!(results[0].target, "page 104857600000001 messenger");
    let cfg = config(
        &fast(emu.base_url(), "").replace("demo-token", graph_emulator::MESSENGER_ONLY_TOKEN),
    );
    let source = GraphConversations::build(cfg, &BuildContext::source("t", "pages")).unwrap();
    let results = source.check(&ctx).await;
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    assert_eq!(failed.len(), 2, "{results:?}");
    assert!(failed.iter().all(|r| r.target.ends_with("instagram")));
    assert!(
        failed[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("instagram_manage_messages"),
        "{failed:?}"
    );
    // A check reads no data: one request per page and platform.
    assert_eq!(emu.stats().requests_by_route["conversations"], 8);
    emu.shutdown().await;
}
