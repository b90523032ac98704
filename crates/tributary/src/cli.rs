//! Command-line interface. Exit codes: 0 success, 1 runtime failure, 2 usage or config error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use tributary_core::component::ComponentId;
use tributary_core::config::{self, Pipeline, Severity};
use tributary_core::registry::Registry;
use tributary_core::runtime::{self, RunOptions};

use crate::exit::{EXIT_CONFIG, EXIT_RUNTIME, print_stdout};
use crate::progress::{Display, LogWriter, ProgressMode};
use crate::{plugins, render};

/// The help heading of the flags every subcommand accepts.
const GLOBAL: &str = "Global options";

/// tributary: declarative ETL pipelines from the Graph API into your data lake.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    // The global flags get their own heading, so a subcommand's `--help` does not mix them
    // into its own options.
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Less log output (-q: errors only, -qq: nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: u8,
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, help_heading = GLOBAL)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for schedulers and log shippers.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: read every source, transform, and commit every sink.
    Run(RunArgs),
    /// Check pipeline files without running them (no network, no files written).
    Validate {
        /// Pipeline files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify credentials and permissions of every source (one cheap call per page and
    /// platform); exit 0 only if every check passes.
    Check {
        /// Pipeline file (TOML).
        file: PathBuf,
    },
    /// Print the Arrow schema each component of a pipeline emits.
    Schema {
        /// Pipeline file (TOML).
        file: PathBuf,
    },
    /// List plugins with their config keys, types, defaults and docs.
    Plugins {
        /// Show only this plugin (its `type` name).
        name: Option<String>,
        /// Print the plugins' JSON Schemas instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the Graph API emulator standalone (for trying pipelines without credentials).
    Emulate(Box<graph_emulator::cli::EmulateArgs>),
    /// Print a JSON Schema for pipeline files (for editors with a TOML language server).
    ConfigSchema,
    /// Show or reset a pipeline's incremental state (`[pipeline] state`).
    #[command(subcommand)]
    State(StateCommand),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `tributary state`. FILE is the pipeline file: it names the state and owns it.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the watermarks per source and unit, the last runs, and a pending commit if any.
    Show {
        /// Pipeline file (TOML).
        file: PathBuf,
    },
    /// Forget watermarks (all of them, or some units or sources): they are read in full next run.
    Reset {
        /// Pipeline file (TOML).
        file: PathBuf,
        /// Only this unit (as `state show` lists it, e.g. `104857600000001/instagram/inbox`).
        #[arg(long = "unit", value_name = "KEY")]
        units: Vec<String>,
        /// Only the units of this source id.
        #[arg(long = "source", value_name = "ID")]
        sources: Vec<String>,
        /// Drop a commit a crashed run left pending, when it cannot be finished (its staged
        /// files are gone): its watermarks are not advanced, so the next run reads that data
        /// again. Watermarks are kept.
        #[arg(long, conflicts_with_all = ["units", "sources"])]
        discard_pending: bool,
    },
}

/// `tributary run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline file (TOML).
    pub file: PathBuf,
    /// Write a JSON report of the run (rows, files, bytes per sink) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Stop each source after N rows (threads), for trial runs. Sinks still commit.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Live progress bars on standard error: `auto` draws them only on a terminal.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Ignore the stored watermarks for this run: read everything (the state is still updated).
    #[arg(long)]
    pub full_refresh: bool,
    /// Read and transform, but write nothing: file sinks list the files and partitions they
    /// would write; the state is neither read nor written.
    #[arg(long)]
    pub dry_run: bool,
    /// Run shard K of N (0-based): a stable hash share of the pages, so N workers cover every
    /// page exactly once. Run ids, file names and the state file carry the shard.
    #[arg(
        long,
        value_name = "K/N",
        env = "TRIBUTARY_SHARD",
        conflicts_with = "shards"
    )]
    pub shard: Option<tributary_core::shard::Shard>,
    /// Run as one of N shards, K taken from `JOB_COMPLETION_INDEX` (Kubernetes Indexed Jobs).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
}

impl RunArgs {
    /// `--shard K/N`, or `--shards N` with K from `JOB_COMPLETION_INDEX`.
    fn shard(&self) -> Result<Option<tributary_core::shard::Shard>, String> {
        match (self.shard, self.shards) {
            (Some(shard), _) => Ok(Some(shard)),
            (None, Some(count)) => {
                let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                    "--shards needs JOB_COMPLETION_INDEX (set by Kubernetes Indexed Jobs); or use --shard K/N".to_owned()
                })?;
                let index = index
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| format!("JOB_COMPLETION_INDEX `{index}` is not a number"))?;
                tributary_core::shard::Shard::new(index, count).map(Some)
            }
            (None, None) => Ok(None),
        }
    }
}

/// How the end-of-run summary is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Summary {
    None,
    Text,
    Log,
}

/// Parses arguments, runs the command, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with code 0 and usage errors with code 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CONFIG } else { 0 });
        }
    };
    init_logging(&cli);
    let registry = plugins::registry();
    // The human summary goes to stderr unless quiet; with JSON logs it is a log event instead,
    // so stderr stays one JSON object per line for log shippers.
    let summary = match (cli.quiet > 0, cli.log_format) {
        (true, _) => Summary::None,
        (false, LogFormat::Text) => Summary::Text,
        (false, LogFormat::Json) => Summary::Log,
    };
    match cli.command {
        Command::Validate { files } => validate(&files, &registry),
        Command::Schema { file } => schema(&file, &registry),
        Command::Check { file } => check(&file, &registry),
        Command::Plugins { name, json } => list_plugins(&registry, name.as_deref(), json),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut cmd, "tributary", &mut out);
            ExitCode::SUCCESS
        }
        Command::Run(args) => run(args, &registry, summary),
        Command::Emulate(args) => emulate(*args),
        Command::State(StateCommand::Show { file }) => crate::state_cmd::show(&file, &registry),
        Command::State(StateCommand::Reset {
            file,
            discard_pending: true,
            ..
        }) => crate::state_cmd::discard_pending(&file, &registry),
        Command::State(StateCommand::Reset {
            file,
            units,
            sources,
            discard_pending: false,
        }) => crate::state_cmd::reset(&file, &registry, &units, &sources),
        Command::ConfigSchema => {
            let schema = config::pipeline_schema(&registry);
            print_stdout(&(serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"))
        }
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.verbose, cli.quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "error",
        _ => "off",
    };
    // delta-rs reports every log replay and scan at INFO: noise in a pipeline run, so it only
    // speaks below WARN at -vv. Its kernel's ERROR for a table that does not exist yet is how the
    // delta sink learns it must create one: never shown.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let deps = if cli.verbose >= 2 {
            ""
        } else {
            ",buoyant_kernel=warn,deltalake_core=warn,deltalake_aws=warn"
        };
        EnvFilter::new(format!(
            "{level}{deps},buoyant_kernel::snapshot::builder=off"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Loads a pipeline, printing diagnostics; `Err` carries the exit code.
fn load(file: &std::path::Path, registry: &Registry) -> Result<Pipeline, ExitCode> {
    match config::load_file(file, registry) {
        Ok(pipeline) => {
            for w in &pipeline.warnings {
                eprint!("{w}");
            }
            Ok(pipeline)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn validate(files: &[PathBuf], registry: &Registry) -> ExitCode {
    let mut ok = true;
    for file in files {
        match load(file, registry) {
            Ok(p) => {
                let warnings = p
                    .warnings
                    .iter()
                    .filter(|d| d.severity == Severity::Warning)
                    .count();
                // The verdict is the command's output (stdout); diagnostics go to stderr.
                let line = format!(
                    "{}: ok ({} source{}, {} transform{}, {} sink{}{})\n",
                    file.display(),
                    p.sources.len(),
                    plural(p.sources.len()),
                    p.transforms.len(),
                    plural(p.transforms.len()),
                    p.sinks.len(),
                    plural(p.sinks.len()),
                    if warnings > 0 {
                        format!(", {warnings} warning{}", plural(warnings))
                    } else {
                        String::new()
                    }
                );
                if print_stdout(&line) != ExitCode::SUCCESS {
                    return ExitCode::from(EXIT_RUNTIME);
                }
            }
            Err(_) => ok = false,
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CONFIG)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn schema(file: &std::path::Path, registry: &Registry) -> ExitCode {
    let pipeline = match load(file, registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let text = render::schemas(&pipeline);
    print_stdout(&text)
}

fn check(file: &std::path::Path, registry: &Registry) -> ExitCode {
    let pipeline = match load(file, registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runtime = match async_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let results = runtime.block_on(async {
        let mut all = Vec::new();
        for node in &pipeline.sources {
            let mut ctx = tributary_core::plugin::RunContext::for_test(&node.id);
            ctx.pipeline = pipeline.name.clone();
            ctx.services = plugins::services();
            let results = node.source.check(&ctx).await;
            all.push((ComponentId::source(&node.id).to_string(), results));
        }
        all
    });
    let text = render::checks(&results);
    let failed = results.iter().flat_map(|(_, r)| r).any(|r| !r.ok);
    let code = print_stdout(&text);
    if failed {
        ExitCode::from(EXIT_RUNTIME)
    } else {
        code
    }
}

fn list_plugins(registry: &Registry, name: Option<&str>, json: bool) -> ExitCode {
    let selected: Vec<_> = registry
        .plugins()
        .filter(|p| name.is_none_or(|n| n == p.name))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = registry.plugins().map(|p| p.name).collect();
        let hint = name
            .and_then(|n| config::did_you_mean(n, names.iter().copied()))
            .unwrap_or_else(|| format!("plugins: {}", names.join(", ")));
        eprintln!(
            "error: no plugin named `{}`\n  = help: {hint}",
            name.unwrap_or_default()
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let text = if json {
        let all: serde_json::Map<String, serde_json::Value> = selected
            .iter()
            .map(|p| {
                (
                    format!("{}.{}", p.kind.section(), p.name),
                    p.schema.clone().to_value(),
                )
            })
            .collect();
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        render::plugins(&selected)
    };
    print_stdout(&text)
}

fn run(args: RunArgs, registry: &Registry, summary: Summary) -> ExitCode {
    let shard = match args.shard() {
        Ok(shard) => shard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let pipeline = match load(&args.file, registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runtime = match async_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let options = RunOptions {
            services: plugins::services(),
            limit: args.limit,
            full_refresh: args.full_refresh,
            dry_run: args.dry_run,
            shard,
            ..RunOptions::default()
        };
        let display = Display::start(options.telemetry.clone(), args.progress);
        let interrupt = options.interrupt.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::warn!("interrupted: stopping sources; nothing from this run will be committed (press Ctrl-C again to exit at once)");
            interrupt.cancel();
            wait_for_signal().await;
            std::process::exit(130);
        });
        let outcome = runtime::run(pipeline, options).await;
        // `exec` children are killed (on failure or interrupt) and reaped by their supervisors
        // as the run's plugins are dropped: let that finish before the process exits, or a
        // child is left to `init`. Bounded by the children's SIGTERM grace.
        if !plugin_exec::wait_for_children(plugin_exec::child::GRACE * 3).await {
            tracing::warn!("an exec child did not exit in time; it is left to the system");
        }
        if let Some(display) = display {
            display.stop().await;
        }
        match outcome {
            Ok(report) => {
                match summary {
                    Summary::Text => eprint!("{}", render::summary(&report)),
                    Summary::Log => tracing::info!(
                        report = %serde_json::to_string(&report).unwrap_or_default(),
                        "run finished"
                    ),
                    Summary::None => {}
                }
                if let Some(path) = &args.report {
                    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                    if let Err(e) = std::fs::write(path, json + "\n") {
                        eprintln!("error: the run succeeded but the report could not be written to {}: {e}", path.display());
                        return ExitCode::from(EXIT_RUNTIME);
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}", render::error_chain(&e));
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    })
}

fn emulate(args: graph_emulator::cli::EmulateArgs) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(graph_emulator::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
