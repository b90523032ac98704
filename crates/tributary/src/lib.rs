//! # tributary
//!
//! The `tributary` binary: the command line over `tributary-core`, and **the one list that
//! registers the built-in plugins** ([`plugins::registry`]). Adding a plugin is one crate plus
//! one line there.
//!
//! ```text
//! tributary validate pipelines/demo.toml     # check a pipeline file, no I/O
//! tributary run pipelines/demo.toml          # run it
//! tributary plugins                          # every plugin, its keys, types, defaults and docs
//! ```

pub mod cli;
pub mod exit;
pub mod plugins;
pub mod progress;
pub mod render;
pub mod state_cmd;

// jemalloc returns freed memory to the system steadily, so peak memory tracks what a run holds
// rather than how long it ran (glibc's malloc grew 2× from 100k to 1M threads; BENCHMARKS.md S3).
// It is also the C `malloc` on Linux (zstd's contexts), and its options are built in by
// `.cargo/config.toml` (`JEMALLOC_SYS_WITH_MALLOC_CONF`); `MALLOC_CONF` overrides them. Set here,
// in the library, so every binary that runs the CLI (the tests' too) has the same allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
