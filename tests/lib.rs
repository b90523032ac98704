//! Workspace-level end-to-end tests live in `it/` (one test binary); `bin/tributary-cli.rs` is
//! the command line under test.
