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
pub mod plugins;
pub mod progress;
pub mod render;
pub mod state_cmd;

/// mimalloc instead of glibc malloc: a run allocates and frees millions of small strings and
/// buffers (decoded JSON, Arrow builders), where glibc spent ~31% of the CPU of a throughput
/// run and fragmented its arenas (BENCHMARKS.md). Set here, in the library behind both the
/// binary and the test harness's copy of it, so they run the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
