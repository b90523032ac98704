//! # tributary-core
//!
//! The core every tributary plugin plugs into: the plugin traits ([`plugin`]), the registry
//! ([`registry`]), the pipeline file loader with located diagnostics ([`config`]), the runtime
//! that moves Arrow `RecordBatch`es from sources through transforms into sinks ([`runtime`]),
//! and the canonical conversation schema ([`canonical`]). It holds no plugin code.
//!
//! The one design decision to know: **stages exchange Arrow `RecordBatch` streams, and sinks
//! commit only in a consuming `finish()`** — a failed or interrupted run drops its sinks and
//! commits nothing.
//!
//! ```no_run
//! # async fn demo(registry: tributary_core::registry::Registry) -> Result<(), Box<dyn std::error::Error>> {
//! use tributary_core::{config, runtime};
//! let pipeline = config::load_file("pipelines/demo.toml".as_ref(), &registry)?;
//! let report = runtime::run(pipeline, runtime::RunOptions::default()).await?;
//! println!("{} rows committed", report.sinks.iter().map(|s| s.report.rows).sum::<u64>());
//! # Ok(()) }
//! ```

pub mod canonical;
pub mod checkpoint;
pub mod component;
pub mod config;
pub mod error;
pub mod failpoint;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod shard;
pub mod state;
pub mod store;
mod suggest;
pub mod sync;
pub mod telemetry;

pub use error::{BuildError, Result, RunError};
pub use suggest::suggest;
