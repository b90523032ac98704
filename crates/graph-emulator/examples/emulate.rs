//! The standalone emulator without the `tributary` binary:
//! `cargo run -p graph-emulator --example emulate -- --pages 3 --seed 7`
//! (the same options as `tributary emulate`).

use clap::Parser;

#[derive(Parser)]
#[command(about = "Run the Graph API conversations emulator on 127.0.0.1")]
struct Cli {
    #[command(flatten)]
    args: graph_emulator::cli::EmulateArgs,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    graph_emulator::cli::run(Cli::parse().args).await
}
