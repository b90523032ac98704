//! Integration tests: real HTTP (reqwest) against the emulator on 127.0.0.1:0.

mod accounts;
mod common;
mod dataset;
mod errors;
mod faults;
mod paging;
mod ratelimit;
mod routes;
mod sdk;
