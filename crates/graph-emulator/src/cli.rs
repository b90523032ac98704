//! `tributary emulate`: run the emulator standalone.
//!
//! Prints exactly one line to stdout, `graph emulator listening on http://127.0.0.1:PORT`,
//! then a hint with the token and page ids to stderr, and serves until Ctrl-C or SIGTERM.
//! Unlike the library default, the standalone emulator enforces Meta's documented
//! 2 calls/second per page unless `--rate-limit 0`.
//!
//! `--demo` serves what `pipelines/demo.toml` reads, on a port fixed for the README's
//! walk-through: its 4 Pages, at the rate it asks for ([`DEMO_RATE_LIMIT`]), on [`DEMO_PORT`].
//! The embedded emulator (`base_url = "embedded"`) serves the same data.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::{
    DEFAULT_HEAVY_THRESHOLD, DEFAULT_MAX_LIMIT, DEFAULT_MESSAGES_PER_THREAD, DEFAULT_PAGES,
    DEFAULT_SEED, DEFAULT_THREADS_PER_UNIT, DEFAULT_VERSION, DEMO_TOKEN, EmulatorConfig, Faults,
    InjectedError, Latency, LimiterModel, MessageCount, ThreadCount, ThrottleCode, Trigger,
    TruncateMode,
};

/// Pages served by `--demo` (and by the embedded emulator): the 4 that `pipelines/demo.toml`
/// lists.
pub const DEMO_PAGES: usize = 4;
/// Calls per second per Page allowed by `--demo`: what `pipelines/demo.toml` asks for
/// (`requests_per_second_per_page = 20`), so the demo runs against it without a throttle.
pub const DEMO_RATE_LIMIT: f64 = 20.0;
/// Port of `--demo`, fixed so the README's walk-through can name the URL.
pub const DEMO_PORT: u16 = 8787;

/// The standalone emulator's command-line options.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulateArgs {
    /// Serve what `pipelines/demo.toml` reads: 4 Pages, 20 calls/second per Page, port 8787
    /// (each can still be set with its own option). Then, in another terminal:
    /// `GRAPH_BASE_URL=http://127.0.0.1:8787 tributary run pipelines/demo.toml`.
    #[arg(long)]
    pub demo: bool,
    /// Port on 127.0.0.1 (0 picks a free port) [default: 0; 8787 with --demo].
    #[arg(long)]
    pub port: Option<u16>,
    /// Seed of the synthetic data: the same seed serves the same bytes.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Number of pages (ids 104857600000001, 104857600000002, ...) [default: 2; 4 with --demo].
    #[arg(long)]
    pub pages: Option<usize>,
    /// Mean threads per (page, platform, folder); exact with --exact-threads.
    #[arg(long, default_value_t = DEFAULT_THREADS_PER_UNIT)]
    pub threads_per_unit: usize,
    /// Give every (page, platform, folder) exactly --threads-per-unit threads.
    #[arg(long)]
    pub exact_threads: bool,
    /// Maximum messages per thread; exact with --exact-messages.
    #[arg(long, default_value_t = DEFAULT_MESSAGES_PER_THREAD)]
    pub messages_per_thread: usize,
    /// Give every thread exactly --messages-per-thread messages.
    #[arg(long)]
    pub exact_messages: bool,
    /// Calls per second allowed per page (Meta documents 2); 0 disables the limit
    /// [default: 2; 20 with --demo].
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Error for calls beyond the rate limit: 613, 80006 or alternate.
    #[arg(long, default_value = "613")]
    pub rate_limit_code: String,
    /// How the per-page limit counts calls: token-bucket (burst of max(1, rate)),
    /// sliding-window (at most rate × window calls in any rolling window), fixed-window (per
    /// wall-clock-aligned window), or usage (the token bucket plus a business-use-case pool of
    /// --usage-budget calls per rolling --usage-window-secs, reported in the usage headers).
    #[arg(long, default_value = "token-bucket")]
    pub limiter: String,
    /// Window of the sliding-window and fixed-window limiters, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Rolling window of the usage limiter's pool, in seconds.
    #[arg(long, default_value_t = 60)]
    pub usage_window_secs: u64,
    /// Calls per page allowed in the usage limiter's window.
    #[arg(long, default_value_t = 100)]
    pub usage_budget: u32,
    /// Calls per second allowed across all pages together (code 4 beyond it); 0 = no app limit.
    #[arg(long, default_value_t = 0.0)]
    pub app_rate_limit: f64,
    /// Network jitter on the way in: each request reaches the limiters after a random delay
    /// of up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub arrival_jitter_ms: u64,
    /// Throttle every call (613) between FROM and TO seconds after start, e.g. `5-15`.
    #[arg(long, value_name = "FROM-TO")]
    pub throttle_storm: Option<String>,
    /// Latency added to every Graph response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// With this, latency is uniform between --latency-ms and --latency-max-ms.
    #[arg(long)]
    pub latency_max_ms: Option<u64>,
    /// Require appsecret_proof computed with this app secret.
    #[arg(long, env = "GRAPH_EMULATOR_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// Largest `limit` served (larger values are clamped).
    #[arg(long, default_value_t = DEFAULT_MAX_LIMIT)]
    pub max_limit: usize,
    /// `limit × messages.limit` above which a list request fails with code 1 "reduce the amount of data".
    #[arg(long, default_value_t = DEFAULT_HEAVY_THRESHOLD)]
    pub heavy_threshold: usize,
    /// Inject a fault, KIND=WHEN (repeatable). KIND: connection-reset, truncate-body,
    /// empty-page, repeat-across-boundary, move-to-top, transient, reduce-data, error-1,
    /// error-2, error-4, error-17, error-32, error-613, error-80006, error-10, error-200,
    /// error-230, error-368, error-190, http-503, error-in-200. WHEN: a rate like 0.05,
    /// `@N` (the Nth request of each page/platform/folder) or `every:N`.
    #[arg(long = "fault", value_name = "KIND=WHEN")]
    pub faults: Vec<String>,
    /// Answer uncompressed even when the client accepts gzip (by default bodies are gzipped for
    /// `Accept-Encoding: gzip`, as Graph does).
    #[arg(long)]
    pub no_gzip: bool,
    /// How truncate-body cuts: close-early (full Content-Length, then close) or short-body.
    #[arg(long, default_value = "close-early")]
    pub truncate_mode: String,
    /// Make threads k*N-1 and k*N of every unit share one updated_time.
    #[arg(long)]
    pub equal_times_every: Option<usize>,
    /// Origin to write into paging links instead of http://127.0.0.1:PORT.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Most Pages per `GET /me/accounts` response (its `limit` is clamped to it).
    #[arg(long, default_value_t = crate::DEFAULT_ACCOUNTS_PER_PAGE)]
    pub accounts_per_page: usize,
    /// A Page listed on `/me/accounts` without the MESSAGING task (its Page token cannot read
    /// conversations); repeatable.
    #[arg(long = "no-messaging-page", value_name = "PAGE_ID")]
    pub no_messaging_pages: Vec<String>,
}

fn parse_trigger(when: &str) -> anyhow::Result<Trigger> {
    if let Some(n) = when.strip_prefix('@') {
        return Ok(Trigger::Nth(n.parse().context("`@N` needs an integer N")?));
    }
    if let Some(n) = when.strip_prefix("every:") {
        return Ok(Trigger::EveryNth(
            n.parse().context("`every:N` needs an integer N")?,
        ));
    }
    let rate: f64 = when
        .parse()
        .with_context(|| format!("`{when}` is neither a rate (0.05), `@N` nor `every:N`"))?;
    if !(0.0..=1.0).contains(&rate) {
        bail!("fault rate {rate} must be between 0 and 1");
    }
    Ok(Trigger::Rate(rate))
}

/// Parses one `--fault KIND=WHEN` into `faults`.
pub fn apply_fault(faults: &mut Faults, spec: &str) -> anyhow::Result<()> {
    let (kind, when) = spec
        .split_once('=')
        .with_context(|| format!("fault `{spec}` must look like KIND=WHEN, e.g. transient=0.05"))?;
    let trigger = parse_trigger(when)?;
    match kind {
        "connection-reset" | "reset" => faults.connection_reset = trigger,
        "truncate-body" | "truncate" => faults.truncate_body = trigger,
        "empty-page" => faults.empty_page = trigger,
        "repeat-across-boundary" | "repeat" => faults.repeat_across_boundary = trigger,
        "move-to-top" => faults.move_to_top = trigger,
        "transient" => faults.errors.push(crate::ErrorFault {
            error: InjectedError::Transient2,
            trigger,
        }),
        other => {
            let Some(error) = InjectedError::ALL.into_iter().find(|e| e.name() == other) else {
                bail!("unknown fault kind `{other}` (see `--help` for the list)");
            };
            faults.errors.push(crate::ErrorFault { error, trigger });
        }
    }
    Ok(())
}

impl EmulateArgs {
    /// The port to listen on (`--port`, else 8787 with `--demo`, else 0: any free port).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.demo { DEMO_PORT } else { 0 })
    }

    /// The number of Pages served (`--pages`, else 4 with `--demo`, else 2).
    pub fn pages(&self) -> usize {
        self.pages
            .unwrap_or(if self.demo { DEMO_PAGES } else { DEFAULT_PAGES })
    }

    /// Calls per second per Page (`--rate-limit`, else 20 with `--demo`, else 2; 0 = off).
    pub fn rate_limit(&self) -> f64 {
        self.rate_limit
            .unwrap_or(if self.demo { DEMO_RATE_LIMIT } else { 2.0 })
    }

    /// The configuration these options describe.
    pub fn to_config(&self) -> anyhow::Result<EmulatorConfig> {
        let rate_limit = self.rate_limit();
        let mut faults = Faults::none();
        for f in &self.faults {
            apply_fault(&mut faults, f)?;
        }
        faults.truncate_mode = match self.truncate_mode.as_str() {
            "close-early" => TruncateMode::CloseEarly,
            "short-body" => TruncateMode::ShortBody,
            other => bail!("--truncate-mode must be close-early or short-body, not `{other}`"),
        };
        faults.equal_times_every = self.equal_times_every;
        if let Some(storm) = &self.throttle_storm {
            let parsed = storm
                .split_once('-')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
                })
                .filter(|(a, b)| a.is_finite() && b.is_finite() && *a >= 0.0 && b > a);
            let Some((from, to)) = parsed else {
                bail!(
                    "--throttle-storm must look like FROM-TO in seconds, e.g. 5-15, not `{storm}`"
                );
            };
            faults.throttle_storm =
                Some((Duration::from_secs_f64(from), Duration::from_secs_f64(to)));
        }
        if self.window_ms == 0 || self.usage_window_secs == 0 || self.usage_budget == 0 {
            bail!("--window-ms, --usage-window-secs and --usage-budget must be at least 1");
        }
        let limiter = match self.limiter.as_str() {
            "token-bucket" => LimiterModel::TokenBucket,
            "sliding-window" => LimiterModel::SlidingWindow {
                window: Duration::from_millis(self.window_ms),
            },
            "fixed-window" => LimiterModel::FixedWindow {
                window: Duration::from_millis(self.window_ms),
            },
            "usage" => LimiterModel::Usage {
                window: Duration::from_secs(self.usage_window_secs),
                budget: self.usage_budget,
            },
            other => bail!(
                "--limiter must be token-bucket, sliding-window, fixed-window or usage, not `{other}`"
            ),
        };
        if !self.app_rate_limit.is_finite() || self.app_rate_limit < 0.0 {
            bail!("--app-rate-limit must be 0 (off) or a positive number of calls per second");
        }
        let rate_limit_code = match self.rate_limit_code.as_str() {
            "613" => ThrottleCode::Code613,
            "80006" => ThrottleCode::Code80006,
            "alternate" => ThrottleCode::Alternate,
            other => bail!("--rate-limit-code must be 613, 80006 or alternate, not `{other}`"),
        };
        if !rate_limit.is_finite() || rate_limit < 0.0 {
            bail!("--rate-limit must be 0 (off) or a positive number of calls per second");
        }
        let latency = match (self.latency_ms, self.latency_max_ms) {
            (0, None) => Latency::None,
            (ms, None) => Latency::Fixed(Duration::from_millis(ms)),
            (min, Some(max)) if max >= min => Latency::Uniform {
                min: Duration::from_millis(min),
                max: Duration::from_millis(max),
            },
            _ => bail!("--latency-max-ms must be at least --latency-ms"),
        };
        Ok(EmulatorConfig {
            seed: self.seed,
            port: self.port(),
            public_url: self.public_url.clone(),
            pages: self.pages(),
            threads_per_unit: if self.exact_threads {
                ThreadCount::Exact(self.threads_per_unit)
            } else {
                ThreadCount::Around(self.threads_per_unit)
            },
            messages_per_thread: if self.exact_messages {
                MessageCount::Exact(self.messages_per_thread)
            } else {
                MessageCount::UpTo(self.messages_per_thread)
            },
            app_secret: self.app_secret.clone(),
            max_limit: self.max_limit.max(1),
            heavy_threshold: self.heavy_threshold,
            rate_limit_per_page: (rate_limit > 0.0).then_some(rate_limit),
            rate_limit_code,
            limiter,
            app_rate_limit: (self.app_rate_limit > 0.0).then_some(self.app_rate_limit),
            arrival_jitter: Duration::from_millis(self.arrival_jitter_ms),
            latency,
            faults,
            accounts: crate::Accounts {
                per_page: self.accounts_per_page.max(1),
                without_messaging: self.no_messaging_pages.iter().cloned().collect(),
                ..crate::Accounts::default()
            },
            gzip: !self.no_gzip,
            ..EmulatorConfig::default()
        })
    }
}

/// Runs the emulator until Ctrl-C or SIGTERM.
pub async fn run(args: EmulateArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let port = args.port();
    let emu = crate::start(config).await.with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{port} (is another emulator running there? stop it, or \
             pick another port with --port, 0 for any free one)"
        )
    })?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "graph emulator listening on {}", emu.base_url())?;
        out.flush()?;
    }
    let pages = emu.page_ids();
    let shown: Vec<&str> = pages.iter().take(5).map(String::as_str).collect();
    // The hint's URL uses the version the pipelines default to (`api_version`), so it can be
    // pasted as is.
    eprintln!(
        "token: {DEMO_TOKEN}  pages: {}{}  (try {}/{DEFAULT_VERSION}/{}/conversations?access_token={DEMO_TOKEN}; ground truth at {}/__emulator/ground_truth)",
        shown.join(","),
        if pages.len() > shown.len() {
            ",..."
        } else {
            ""
        },
        emu.base_url(),
        shown.first().copied().unwrap_or("PAGE_ID"),
        emu.base_url(),
    );
    if args.demo {
        eprintln!(
            "run the demo against it: GRAPH_BASE_URL={} tributary run pipelines/demo.toml",
            emu.base_url()
        );
    }
    wait_for_signal().await?;
    emu.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulateArgs,
    }

    #[test]
    fn parses_limiter_models_app_limit_jitter_and_storms() {
        let cfg = |args: &[&str]| {
            let mut all = vec!["emulate"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().args.to_config()
        };
        assert_eq!(cfg(&[]).unwrap().limiter, LimiterModel::TokenBucket);
        assert_eq!(
            cfg(&["--limiter", "sliding-window", "--window-ms", "1500"])
                .unwrap()
                .limiter,
            LimiterModel::SlidingWindow {
                window: Duration::from_millis(1500)
            }
        );
        assert_eq!(
            cfg(&[
                "--limiter",
                "usage",
                "--usage-window-secs",
                "30",
                "--usage-budget",
                "50"
            ])
            .unwrap()
            .limiter,
            LimiterModel::Usage {
                window: Duration::from_secs(30),
                budget: 50
            }
        );
        let c = cfg(&[
            "--limiter",
            "fixed-window",
            "--app-rate-limit",
            "6",
            "--arrival-jitter-ms",
            "40",
            "--throttle-storm",
            "5-15",
        ])
        .unwrap();
        assert!(matches!(c.limiter, LimiterModel::FixedWindow { .. }));
        assert_eq!(c.app_rate_limit, Some(6.0));
        assert_eq!(c.arrival_jitter, Duration::from_millis(40));
        assert_eq!(
            c.faults.throttle_storm,
            Some((Duration::from_secs(5), Duration::from_secs(15)))
        );
        for bad in [
            &["--limiter", "leaky"][..],
            &["--throttle-storm", "15-5"],
            &["--throttle-storm", "soon"],
            &["--usage-budget", "0"],
            &["--app-rate-limit=-1"],
        ] {
            assert!(cfg(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_faults_and_defaults_to_two_calls_per_second() {
        let cli = Cli::try_parse_from([
            "emulate",
            "--fault",
            "transient=0.05",
            "--fault",
            "empty-page=@3",
            "--fault",
            "error-613=every:4",
        ])
        .unwrap();
        let cfg = cli.args.to_config().unwrap();
        assert_eq!(cfg.rate_limit_per_page, Some(2.0));
        assert_eq!(cfg.faults.empty_page, Trigger::Nth(3));
        assert_eq!(cfg.faults.errors.len(), 2);
        assert_eq!(cfg.faults.errors[1].error, InjectedError::RateLimit613);
        assert!(
            Cli::try_parse_from(["emulate", "--fault", "nope=1"])
                .unwrap()
                .args
                .to_config()
                .is_err()
        );
    }

    fn config(args: &[&str]) -> EmulatorConfig {
        let cli =
            Cli::try_parse_from(std::iter::once("emulate").chain(args.iter().copied())).unwrap();
        cli.args.to_config().unwrap()
    }

    #[test]
    fn demo_serves_the_demo_pipelines_pages_at_its_rate_on_a_fixed_port() {
        let plain = config(&[]);
        assert_eq!(
            (plain.pages, plain.port, plain.rate_limit_per_page),
            (DEFAULT_PAGES, 0, Some(2.0))
        );
        let demo = config(&["--demo"]);
        assert_eq!(
            (demo.pages, demo.port, demo.rate_limit_per_page),
            (DEMO_PAGES, DEMO_PORT, Some(DEMO_RATE_LIMIT))
        );
        // The same data as the default dataset otherwise (what `base_url = "embedded"` serves).
        assert_eq!(demo.seed, DEFAULT_SEED);
        // Each preset yields to its own option.
        let own = config(&["--demo", "--port", "0", "--pages", "3", "--rate-limit", "0"]);
        assert_eq!((own.pages, own.port, own.rate_limit_per_page), (3, 0, None));
    }

    #[test]
    fn demo_matches_the_demo_pipeline_file() {
        let demo = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/demo.toml"),
        )
        .unwrap();
        let pages = (1..=DEMO_PAGES)
            .map(|i| format!("\"{}\"", 104_857_600_000_000u64 + i as u64))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            demo.contains(&format!("pages        = [{pages}]")),
            "{demo}"
        );
        assert!(
            demo.contains(&format!("requests_per_second_per_page = {DEMO_RATE_LIMIT}")),
            "{demo}"
        );
    }
}
