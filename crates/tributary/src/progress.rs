//! Live progress bars on a terminal (indicatif), fed by the run's telemetry.
//!
//! A first line with the whole run's progress (units done of the units the sources announced,
//! time elapsed), then one line per component (its totals) plus one line per unit in progress
//! (for the Graph source:
//! a page × platform × folder), showing threads read, API calls, retries, throttles and a
//! countdown while a unit waits out a throttle or a backoff. Finished units disappear, so a run
//! over thousands of Pages shows at most [`MAX_UNIT_BARS`] unit lines. Nothing is drawn when
//! standard error is not a terminal (unless `--progress always`).
//!
//! Logs go through [`LogWriter`], which hides the bars while a log line is printed so the two
//! never garble each other.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::ValueEnum;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tributary_core::telemetry::{Counters, Telemetry};

/// At most this many per-unit lines at once.
pub const MAX_UNIT_BARS: usize = 10;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars when standard error is a terminal.
    Auto,
    /// Always draw bars.
    Always,
    /// Never draw bars.
    Never,
}

impl ProgressMode {
    /// Whether bars are drawn.
    pub fn enabled(self) -> bool {
        match self {
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::Always => true,
            ProgressMode::Never => false,
        }
    }
}

/// The bars, when shown: logs are printed around them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// A `tracing` writer for standard error that keeps progress bars intact.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Draws bars until dropped.
pub struct Display {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Display {
    /// Starts drawing `telemetry` if `mode` says so. Must be called inside a tokio runtime.
    pub fn start(telemetry: Arc<Telemetry>, mode: ProgressMode) -> Option<Self> {
        if !mode.enabled() {
            return None;
        }
        let bars = BARS
            .get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)))
            .clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut lines: HashMap<(String, String), ProgressBar> = HashMap::new();
            let started = std::time::Instant::now();
            let overall = bars.add(ProgressBar::new_spinner().with_style(style()));
            overall.set_prefix("run");
            loop {
                overall.set_message(overall_message(
                    telemetry.units_done(),
                    telemetry.planned(),
                    started.elapsed(),
                ));
                overall.tick();
                draw(&bars, &telemetry, &mut lines);
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            for bar in lines.values() {
                bar.finish_and_clear();
            }
            overall.finish_and_clear();
            let _ = bars.clear();
        });
        Some(Self { stop, task })
    }

    /// Stops and clears the bars.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn draw(
    bars: &MultiProgress,
    telemetry: &Telemetry,
    lines: &mut HashMap<(String, String), ProgressBar>,
) {
    let units = telemetry.units();
    // Totals per component, from its units (sources report per unit; the runtime per component).
    let mut active_units = 0;
    for c in &units {
        let key = (c.component.clone(), c.unit.clone());
        let done = c.done.load(Ordering::Relaxed);
        let is_unit = !c.unit.is_empty();
        if is_unit && (done || active_units >= MAX_UNIT_BARS) {
            if let Some(bar) = lines.remove(&key) {
                bar.finish_and_clear();
            }
            continue;
        }
        if is_unit {
            active_units += 1;
        }
        let bar = lines.entry(key).or_insert_with(|| {
            let bar = bars.add(ProgressBar::new_spinner().with_style(style()));
            let prefix = if is_unit {
                format!("  {}", c.unit)
            } else {
                c.component.clone()
            };
            bar.set_prefix(prefix);
            bar
        });
        let message = if c.component.starts_with("sources.") {
            let own = summed(&units, &c.component, c.unit.as_str());
            source_message(&own, c)
        } else {
            sink_message(c)
        };
        bar.set_message(message);
        bar.tick();
        if !is_unit && done {
            bar.finish();
        }
    }
}

/// A component's totals are its own counters plus those of its units.
fn summed(units: &[Arc<Counters>], component: &str, unit: &str) -> Counters {
    let total = Counters::default();
    for c in units
        .iter()
        .filter(|c| c.component == component && (unit.is_empty() || c.unit == unit))
    {
        if unit.is_empty() && !c.unit.is_empty() {
            // Rows are counted by the runtime at the component level; units add calls etc.
            Counters::add(&total.api_calls, c.api_calls.load(Ordering::Relaxed));
            Counters::add(&total.retries, c.retries.load(Ordering::Relaxed));
            Counters::add(&total.throttles, c.throttles.load(Ordering::Relaxed));
            continue;
        }
        Counters::add(&total.rows, c.rows.load(Ordering::Relaxed));
        Counters::add(&total.api_calls, c.api_calls.load(Ordering::Relaxed));
        Counters::add(&total.retries, c.retries.load(Ordering::Relaxed));
        Counters::add(&total.throttles, c.throttles.load(Ordering::Relaxed));
    }
    total
}

fn source_message(total: &Counters, own: &Counters) -> String {
    let mut msg = format!(
        "{} threads · {} API calls · {} retries · {} throttled",
        total.rows.load(Ordering::Relaxed),
        total.api_calls.load(Ordering::Relaxed),
        total.retries.load(Ordering::Relaxed),
        total.throttles.load(Ordering::Relaxed)
    );
    if let Some(left) = own.wait_left_secs() {
        msg.push_str(&format!(" · waiting {left:.1}s"));
    }
    msg
}

/// The run's line: `12 of 32 units done · 0:41 elapsed` (without a total when no source
/// announced one).
fn overall_message(done: u64, planned: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let clock = if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    };
    let units = if planned > 0 {
        // A unit counted twice (a retried page) must not show more than the total.
        format!("{} of {planned} units done", done.min(planned))
    } else {
        format!("{done} units done")
    };
    format!("{units} · {clock} elapsed")
}

fn sink_message(c: &Counters) -> String {
    format!(
        "{} rows · {} files · {}",
        c.rows.load(Ordering::Relaxed),
        c.files.load(Ordering::Relaxed),
        human_bytes(c.bytes.load(Ordering::Relaxed))
    )
}

/// `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human_sized() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn the_run_line_shows_units_done_of_the_total_and_the_time_elapsed() {
        assert_eq!(
            overall_message(12, 32, Duration::from_secs(41)),
            "12 of 32 units done · 0:41 elapsed"
        );
        assert_eq!(
            overall_message(3, 0, Duration::from_secs(3723)),
            "3 units done · 1:02:03 elapsed"
        );
    }

    #[test]
    fn a_unit_message_counts_down_its_wait() {
        let c = Counters::default();
        Counters::add(&c.rows, 7);
        c.wait_for(Duration::from_secs(3));
        let msg = source_message(&c, &c);
        assert!(msg.starts_with("7 threads"), "{msg}");
        assert!(
            msg.contains("waiting 3.0s") || msg.contains("waiting 2.9s"),
            "{msg}"
        );
    }
}
