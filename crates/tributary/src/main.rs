//! The `tributary` command line. Everything lives in the library (`tributary::cli`) so tests
//! can drive it in-process too.

fn main() -> std::process::ExitCode {
    tributary::cli::main()
}
