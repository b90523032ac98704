//! `tributary`'s command line, built inside the test package (see Cargo.toml).

fn main() -> std::process::ExitCode {
    tributary::cli::main()
}
