//! `json2parquet PIPELINE.toml`: runs a tributary pipeline whose source is `saved_pages`, a
//! directory of Graph API list responses saved as files named
//! `{page_id}__{platform}__{folder}__{n}.json` (what `benches/alt/save_pages.py` writes).
//!
//! The source decodes each file with the Graph source's own decoder, straight into the
//! canonical batch ([`source_graph_conversations::columns::decode_list_page`], what the plugin
//! runs on every list page); the batches then go through tributary's runtime into the
//! registered `parquet` sink. So this measures "transform and sink alone": everything
//! `tributary run` does except HTTP.
//! Files are decoded on blocking threads, as many at once as there are cores.

use std::path::PathBuf;
use std::process::ExitCode;

use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use source_graph_conversations::client::{Folder, MAX_DETAILED_MESSAGES, Platform, UnitKey};
use source_graph_conversations::columns::{Columns, decode_list_page};
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::{BatchStream, BuildContext, RunContext, Source, SourcePlugin};
use tributary_core::runtime::{self, RunOptions};
use tributary_core::{BuildError, RunError};

/// `type = "saved_pages"`.
struct SavedPages;

/// Configuration of `saved_pages`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SavedPagesConfig {
    /// Directory of `{page_id}__{platform}__{folder}__{n}.json` files.
    dir: String,
    /// The conversation fields the pages were requested with (the rest become null).
    fields: Vec<String>,
    /// Whether the pages carry messages.
    #[serde(default)]
    messages: bool,
}

struct SavedPagesSource {
    dir: PathBuf,
    columns: Columns,
}

impl SourcePlugin for SavedPages {
    const NAME: &'static str = "saved_pages";
    const DESCRIPTION: &'static str = "Saved Graph list pages (benchmark only)";
    type Config = SavedPagesConfig;

    fn build(config: Self::Config, _: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        Ok(Box::new(SavedPagesSource {
            dir: PathBuf::from(config.dir),
            columns: Columns::new(&config.fields, config.messages),
        }))
    }
}

fn unit_of(path: &std::path::Path) -> Result<UnitKey, RunError> {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let parts: Vec<&str> = name.split("__").collect();
    match parts.as_slice() {
        [page, platform, folder, _] => Ok(UnitKey {
            page_id: (*page).to_string(),
            platform: Platform::parse(platform)
                .ok_or_else(|| RunError::msg(format!("bad platform in {name}")))?,
            folder: Folder::parse(folder)
                .ok_or_else(|| RunError::msg(format!("bad folder in {name}")))?,
        }),
        _ => Err(RunError::msg(format!("unexpected file name {name}"))),
    }
}

impl Source for SavedPagesSource {
    fn schema(&self) -> SchemaRef {
        conversations_schema()
    }

    fn open(self: Box<Self>, _: &RunContext) -> BatchStream {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) => {
                let msg = format!("cannot read {}: {e}", self.dir.display());
                return futures::stream::once(async move { Err(RunError::msg(msg)) }).boxed();
            }
        };
        files.sort();
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let columns = self.columns;
        futures::stream::iter(files)
            .map(move |path| {
                let columns = columns.clone();
                tokio::task::spawn_blocking(move || {
                    let unit = unit_of(&path)?;
                    let body = std::fs::read(&path)
                        .map_err(|e| RunError::msg(format!("{}: {e}", path.display())))?;
                    // The pages were saved with up to 20 messages a thread, as the plugin asks.
                    let page = decode_list_page(&body, &unit, &columns, Some(MAX_DETAILED_MESSAGES))
                        .map_err(|e| RunError::msg(format!("{}: {e}", path.display())))?;
                    Ok(page.batch)
                })
            })
            .buffered(parallel)
            .map(|joined| joined.map_err(|e| RunError::msg(e.to_string()))?)
            .boxed()
    }
}

fn main() -> ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: json2parquet PIPELINE.toml");
        return ExitCode::from(2);
    };
    let mut registry = tributary::plugins::registry();
    registry.source::<SavedPages>();
    let pipeline = match tributary_core::config::load_file(file.as_ref(), &registry) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let options = RunOptions {
            services: tributary::plugins::services(),
            ..RunOptions::default()
        };
        match runtime::run(pipeline, options).await {
            Ok(report) => {
                let rows: u64 = report.sinks.iter().map(|s| s.report.rows).sum();
                println!(
                    "{{\"rows\": {rows}, \"seconds\": {:.3}}}",
                    report.elapsed.as_secs_f64()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
