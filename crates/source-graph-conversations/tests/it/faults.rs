//! Every fault the emulator can inject that a client should survive: the run still delivers
//! every ground-truth thread exactly once, and the fault was really injected and retried.

use graph_emulator::{DEMO_TOKEN, EmulatorConfig, Faults, InjectedError, Trigger, TruncateMode};
use source_graph_conversations::client::{GraphClient, MessagesRequest, Platform};

use crate::common::*;

/// Runs the small dataset with `faults` and checks the result against the ground truth.
/// Returns (client metrics, emulator stats).
async fn survive(
    faults: Faults,
) -> (
    source_graph_conversations::client::MetricsSnapshot,
    graph_emulator::Stats,
) {
    survive_with(EmulatorConfig { faults, ..small() }).await
}

async fn survive_with(
    cfg: EmulatorConfig,
) -> (
    source_graph_conversations::client::MetricsSnapshot,
    graph_emulator::Stats,
) {
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let threads = read_all(&client, request(&emu, DEMO_TOKEN)).await.unwrap();
    assert_matches_truth(&threads, &emu.ground_truth());
    let stats = emu.stats();
    emu.shutdown().await;
    (client.metrics().snapshot(), stats)
}

#[tokio::test]
async fn retryable_graph_errors_are_retried_until_every_thread_arrives() {
    let retryable = [
        InjectedError::Unknown1,
        InjectedError::Transient2,
        InjectedError::AppLimit4,
        InjectedError::UserLimit17,
        InjectedError::PageLimit32,
        InjectedError::RateLimit613,
        InjectedError::MessengerBuc80006,
        InjectedError::Http503,
        InjectedError::ErrorInHttp200,
    ];
    for error in retryable {
        let (m, stats) = survive(Faults::none().with_error(error, Trigger::EveryNth(3))).await;
        let injected = stats
            .faults_injected
            .get(error.name())
            .copied()
            .unwrap_or(0);
        assert!(injected > 0, "{}: nothing injected", error.name());
        assert_eq!(
            m.retries,
            injected,
            "{}: every injected error is retried once",
            error.name()
        );
        let throttle = matches!(
            error,
            InjectedError::AppLimit4
                | InjectedError::UserLimit17
                | InjectedError::PageLimit32
                | InjectedError::RateLimit613
                | InjectedError::MessengerBuc80006
        );
        assert_eq!(
            m.throttles,
            if throttle { injected } else { 0 },
            "{}",
            error.name()
        );
    }
}

#[tokio::test]
async fn reduce_the_amount_of_data_halves_the_page_size() {
    let (m, stats) =
        survive(Faults::none().with_error(InjectedError::ReduceData1, Trigger::EveryNth(3))).await;
    assert!(
        stats
            .faults_injected
            .get("reduce-data")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(m.page_size_reductions > 0, "{m:?}");
}

#[tokio::test]
async fn heavy_expansions_shrink_until_graph_accepts_them() {
    let mut cfg = small();
    cfg.pages = 1;
    // limit x messages.limit above 500 fails with code 1 "reduce the amount of data".
    cfg.heavy_threshold = 500;
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.page_size = 100;
    req.platforms = vec![Platform::Messenger];
    req.messages = Some(MessagesRequest {
        max: 20,
        fields: vec!["id".into()],
    });
    let threads = read_all(&client, req).await.unwrap();
    let mut truth = emu.ground_truth();
    truth.threads.retain(|t| t.platform.as_str() == "messenger");
    assert_matches_truth(&threads, &truth);
    // 100 -> 50 -> 25 (25 x 20 = 500 passes), in each of the 4 units.
    assert_eq!(client.metrics().snapshot().page_size_reductions, 8);
    emu.shutdown().await;
}

#[tokio::test]
async fn cut_bodies_and_reset_connections_are_retried() {
    // Cut plain bodies and cut gzip streams alike.
    for gzip in [true, false] {
        for mode in [TruncateMode::CloseEarly, TruncateMode::ShortBody] {
            let faults = Faults {
                truncate_body: Trigger::EveryNth(3),
                truncate_mode: mode,
                ..Faults::none()
            };
            let (m, stats) = survive_with(EmulatorConfig {
                faults,
                gzip,
                ..small()
            })
            .await;
            let injected = stats
                .faults_injected
                .get("truncate-body")
                .copied()
                .unwrap_or(0);
            assert!(
                injected > 0 && m.retries >= injected,
                "{mode:?} gzip {gzip}: {m:?} {injected}"
            );
            assert_eq!(stats.gzipped_responses > 0, gzip);
        }
    }
    let (m, stats) = survive(Faults {
        connection_reset: Trigger::EveryNth(4),
        ..Faults::none()
    })
    .await;
    let injected = stats
        .faults_injected
        .get("connection-reset")
        .copied()
        .unwrap_or(0);
    assert!(injected > 0 && m.retries >= injected, "{m:?} {injected}");
}

#[tokio::test]
async fn random_mix_of_faults_is_survived() {
    let faults = Faults {
        truncate_body: Trigger::Rate(0.05),
        connection_reset: Trigger::Rate(0.05),
        empty_page: Trigger::Rate(0.1),
        ..Faults::transient_rate(0.1).with_error(InjectedError::RateLimit613, Trigger::Rate(0.05))
    };
    let (m, _) = survive(faults).await;
    assert!(m.retries > 0);
}

#[tokio::test]
async fn empty_pages_with_a_next_link_do_not_end_the_walk() {
    let (_, stats) = survive(Faults {
        empty_page: Trigger::EveryNth(2),
        ..Faults::none()
    })
    .await;
    assert!(
        stats
            .faults_injected
            .get("empty-page")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

#[tokio::test]
async fn a_thread_repeated_across_pages_is_emitted_once() {
    let (m, stats) = survive(Faults {
        repeat_across_boundary: Trigger::EveryNth(2),
        ..Faults::none()
    })
    .await;
    assert!(
        stats
            .faults_injected
            .get("repeat-across-boundary")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(m.duplicates > 0, "{m:?}");
}

#[tokio::test]
async fn a_thread_that_jumps_to_the_top_mid_walk_is_not_missed() {
    // The emulator really moves the thread (the ground truth changes): a plain walk would miss
    // it and see a duplicate instead. `survive` compares against the truth after the moves.
    let (m, stats) = survive(Faults {
        move_to_top: Trigger::Nth(2),
        ..Faults::none()
    })
    .await;
    assert!(
        stats
            .faults_injected
            .get("move-to-top")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(m.rewalks > 0, "{m:?}");
}
