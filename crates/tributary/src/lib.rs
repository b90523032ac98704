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
