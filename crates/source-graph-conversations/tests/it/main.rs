//! Integration tests: the client and the plugin against `graph-emulator` over real HTTP on
//! 127.0.0.1 (and a tiny axum fixture for what the emulator cannot do). Backoffs are configured
//! in milliseconds: paused tokio time does not work with real sockets.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod discovery;
mod errors;
mod faults;
mod fixture;
mod pacing;
mod paging;
mod plugin;
