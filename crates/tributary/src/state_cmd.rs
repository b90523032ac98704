//! `tributary state show FILE` and `tributary state reset FILE [--unit KEY ...] [--source ID ...]`.
//!
//! FILE is the **pipeline** file, not the state file: the pipeline knows where its state lives
//! (`[pipeline] state`) and its name (a state file belongs to one pipeline), so the commands
//! cannot be pointed at another pipeline's state by mistake. Exit codes: 0 done, 1 the state
//! cannot be read or written (or is locked by a run), 2 bad usage or a pipeline without `state`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use tributary_core::config;
use tributary_core::registry::Registry;
use tributary_core::state::{State, StateStore};

use crate::exit::{EXIT_CONFIG, EXIT_RUNTIME, print_stdout};

fn open(file: &Path, registry: &Registry) -> Result<(String, StateStore), ExitCode> {
    let pipeline = match config::load_file(file, registry) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    let Some(state) = pipeline.settings.state.clone() else {
        eprintln!(
            "error: {} keeps no state\n  = help: add `state = \"state/{}.json\"` to its [pipeline] table",
            file.display(),
            pipeline.name
        );
        return Err(ExitCode::from(EXIT_CONFIG));
    };
    match StateStore::open_with(state.path(), state.store_options()) {
        Ok(store) => Ok((pipeline.name, store)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(EXIT_RUNTIME))
        }
    }
}

fn block_on<T>(f: impl Future<Output = T>) -> Result<T, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(f))
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        })
}

/// `tributary state show FILE`.
pub fn show(file: &Path, registry: &Registry) -> ExitCode {
    let (name, store) = match open(file, registry) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let loaded = match block_on(store.load_checked(&name, false)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match loaded {
        Ok((state, _)) => {
            let mut out = render(&state, store.display());
            if state.pipeline != name {
                let _ = writeln!(
                    out,
                    "\nwarning: this state belongs to pipeline `{}`, not `{name}`",
                    state.pipeline
                );
            }
            print_stdout(&out)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// The state as text: watermarks, last runs, pending commit.
pub fn render(state: &State, location: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "state {location} (pipeline {})", state.pipeline);
    let rows: Vec<(&str, &str, &str, usize)> = state
        .sources
        .iter()
        .flat_map(|(s, marks)| {
            marks.iter().map(move |(u, m)| {
                (
                    s.as_str(),
                    u.as_str(),
                    m.watermark.as_str(),
                    m.ids_at_watermark.len(),
                )
            })
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "\nno watermarks: the next run reads everything");
    } else {
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(4);
        let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(9);
        let _ = writeln!(
            out,
            "\n{:w0$}  {:w1$}  {:w2$}  ids at watermark",
            "source", "unit", "watermark"
        );
        for (s, u, m, n) in rows {
            let _ = writeln!(out, "{s:w0$}  {u:w1$}  {m:w2$}  {n}");
        }
    }
    if !state.runs.is_empty() {
        let _ = writeln!(out, "\nlast runs:");
        for r in state.runs.iter().rev().take(10) {
            let rows: Vec<String> = r.rows.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                out,
                "  {}  {} → {}  rows {}{}",
                r.run_id,
                r.started.format("%Y-%m-%d %H:%M:%SZ"),
                r.ended.format("%H:%M:%SZ"),
                if rows.is_empty() {
                    "-".into()
                } else {
                    rows.join(" ")
                },
                if r.full_refresh {
                    "  (full refresh)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(p) = &state.pending {
        let sinks: Vec<&str> = p.plans.iter().map(|p| p.sink.as_str()).collect();
        let _ = writeln!(
            out,
            "\npending: run {} was interrupted while committing (sinks: {}); the next run \
             finishes its commit first",
            p.run.run_id,
            sinks.join(", ")
        );
    }
    out
}

/// `tributary state reset FILE --discard-pending`: forgets a pending commit that cannot be
/// finished (watermarks untouched, so its data is read again).
pub fn discard_pending(file: &Path, registry: &Registry) -> ExitCode {
    let (name, store) = match open(file, registry) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let done = block_on(async {
        let lock = store.lock("state-reset").await?;
        let result = async {
            let (mut state, version) = store.load(&name).await?;
            let Some(p) = state.pending.take() else {
                return Ok::<_, tributary_core::RunError>(
                    "no commit is pending; nothing changed".to_owned(),
                );
            };
            store.store(&state, &version).await?;
            Ok(format!(
                "discarded the pending commit of run {}: none of its data is visible and its \
                 watermarks were not advanced, so the next run reads that data again (its \
                 leftover files are unreferenced: VACUUM removes them from a Delta table)",
                p.run.run_id
            ))
        }
        .await;
        lock.release().await;
        result
    });
    match done {
        Err(code) => code,
        Ok(Ok(msg)) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// `tributary state reset FILE [--unit KEY ...] [--source ID ...]`.
pub fn reset(file: &Path, registry: &Registry, units: &[String], sources: &[String]) -> ExitCode {
    let (name, store) = match open(file, registry) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let done = block_on(async {
        let lock = store.lock("state-reset").await?;
        let result = async {
            if units.is_empty() && sources.is_empty() {
                // Everything: also a damaged or foreign file (which cannot be parsed).
                let (old, version) = match store.load(&name).await {
                    Ok((old, v)) => (Some(old), v),
                    Err(_) => (None, Default::default()),
                };
                if let Some(p) = old.as_ref().and_then(|s| s.pending.as_ref()) {
                    return Err(tributary_core::RunError::msg(format!(
                        "run {} has a commit pending: run the pipeline once to finish it, then \
                         reset (or drop it with `--discard-pending` if it cannot be finished)",
                        p.run.run_id
                    )));
                }
                let mut fresh = State::new(&name);
                fresh.runs = old.map(|s| s.runs).unwrap_or_default();
                store.store(&fresh, &version).await?;
                return Ok("every watermark removed: the next run reads everything".to_owned());
            }
            let (mut state, version) = store.load(&name).await?;
            let mut removed = 0;
            for (source, marks) in state.sources.iter_mut() {
                if sources.contains(source) {
                    removed += marks.len();
                    marks.clear();
                    continue;
                }
                for u in units {
                    removed += usize::from(marks.remove(u).is_some());
                }
            }
            state.sources.retain(|_, m| !m.is_empty());
            if removed == 0 {
                return Err(tributary_core::RunError::msg(
                    "no watermark matched; `tributary state show` lists the units",
                ));
            }
            store.store(&state, &version).await?;
            Ok(format!(
                "{removed} watermark{} removed: those units are read in full next time",
                if removed == 1 { "" } else { "s" }
            ))
        }
        .await;
        lock.release().await;
        result
    });
    match done {
        Err(code) => code,
        Ok(Ok(msg)) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
