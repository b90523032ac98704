//! Integration tests: real HTTP (reqwest) against the emulator on 127.0.0.1:0.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod common;
mod dataset;
mod errors;
mod faults;
mod paging;
mod ratelimit;
mod routes;
mod sdk;
