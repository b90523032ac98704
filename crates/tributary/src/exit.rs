//! Exit codes and standard output, shared by every subcommand (kept out of `cli.rs` so the
//! subcommand modules it calls do not import it back).

use std::io::Write;
use std::process::ExitCode;

/// Exit code: the run failed.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code: bad usage or an invalid pipeline file.
pub const EXIT_CONFIG: u8 = 2;

/// Prints to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
