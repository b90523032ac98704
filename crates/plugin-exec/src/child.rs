//! One child process: started with an explicit environment, supervised, logged, always reaped.
//!
//! Three tasks per child, each owning one thing:
//! - the **supervisor** owns the `tokio::process::Child`. It waits for the exit and publishes the
//!   status; when the run is cancelled (Ctrl-C, SIGTERM, another component failed) it sends the
//!   child SIGTERM, then SIGKILL after [`GRACE`]; when the plugin is dropped or gives up on the
//!   child it kills it at once. Whatever happens, it reaps the child (no zombie).
//! - the **stderr logger** turns each line into a log event with the component id, secrets
//!   masked, and keeps the last lines for error messages.
//! - standard output belongs to the plugin (the transform decodes it; the sink logs it).
//!
//! Why the supervisor also takes standard input when the plugin is dropped: a child that sees
//! its input end at a message boundary cannot tell a finished stream from an abandoned one
//! (pyarrow treats both as the end), so on every abort the child is killed *before* its input
//! is closed: a sink child never mistakes an aborted run for a commit.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tributary_core::RunError;
use tributary_core::component::{ComponentId, Kind};
use tributary_core::plugin::RunContext;

use arrow::record_batch::RecordBatch;

use crate::config::ProcessSpec;
use crate::protocol::StreamError;

/// Children started and not yet reaped, in this process (see [`wait_for_children`]).
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Woken each time a child is reaped.
static REAPED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Waits until every child this process started has been reaped, for at most `limit` (a child
/// outlives its plugin by the supervisor's kill and wait; the process must not exit before, or
/// the child is left to `init` — as a zombie where `init` does not reap). The binary calls it
/// after every run, whatever the outcome. Returns whether none is left.
pub async fn wait_for_children(limit: Duration) -> bool {
    use std::sync::atomic::Ordering;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let notified = REAPED.notified();
        if LIVE.load(Ordering::Acquire) == 0 {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return LIVE.load(Ordering::Acquire) == 0;
        }
    }
}

/// How long a cancelled child has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);
/// Lines of standard error kept for error messages.
const TAIL_LINES: usize = 8;
/// Longest line logged (the rest is cut); also bounds the memory a line without `\n` takes.
const MAX_LINE: usize = 4096;

/// A started child: its pipes, its exit status once known, and the last lines it printed.
pub struct Child {
    /// Standard input (the stream tributary writes); `None` once closed.
    pub stdin: Option<ChildStdin>,
    /// Standard output, until the plugin takes it.
    pub stdout: Option<ChildStdout>,
    /// `python3 score.py`.
    pub label: String,
    /// `transforms.score`.
    pub component: String,
    /// Fires with the run (see [`RunContext::cancel`]).
    pub cancel: CancellationToken,
    /// How long to wait for progress.
    pub timeout: Duration,
    status: watch::Receiver<Option<Exit>>,
    kill: mpsc::UnboundedSender<Option<ChildStdin>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// How the child ended.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Status(ExitStatus),
    /// Waiting for it failed (the OS refused; it is gone either way).
    Unknown,
}

impl Child {
    /// Starts `spec` for component `section.ID` of the run in `ctx`.
    pub fn spawn(spec: &ProcessSpec, kind: Kind, ctx: &RunContext) -> Result<Self, RunError> {
        let component = ComponentId::new(kind, &ctx.id).to_string();
        let label = spec.label();
        let mut cmd = Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..])
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(&spec.env)
            .env("TRIBUTARY_COMPONENT", &component)
            .env("TRIBUTARY_PIPELINE", &ctx.pipeline)
            .env("TRIBUTARY_RUN_ID", &ctx.run_id)
            .env(
                "TRIBUTARY_SHARD",
                ctx.shard.map(|s| s.to_string()).unwrap_or_default(),
            )
            .env("TRIBUTARY_DRY_RUN", if ctx.dry_run { "1" } else { "0" })
            .env("TRIBUTARY_PID", std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The last line of defence: if the supervisor task itself is dropped (the runtime
            // shuts down), tokio still kills the child.
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            RunError::msg(format!(
                "cannot start `{label}` in {}: {e}; check `command` (is `{}` installed and on PATH?) and `cwd`",
                spec.cwd.display(),
                spec.command[0]
            ))
        })?;
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_lines(
                stderr,
                component.clone(),
                spec.secrets.clone(),
                Some(tail.clone()),
            ));
        }
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        #[cfg(target_os = "linux")]
        {
            if let Some(p) = &stdin {
                widen_pipe(p);
            }
            if let Some(p) = &stdout {
                widen_pipe(p);
            }
        }
        let (status_tx, status) = watch::channel(None);
        let (kill, kill_rx) = mpsc::unbounded_channel();
        LIVE.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(supervise(child, ctx.cancel.clone(), kill_rx, status_tx));
        tracing::debug!(component = %component, command = %label, "exec child started");
        Ok(Self {
            stdin,
            stdout,
            label,
            component,
            cancel: ctx.cancel.clone(),
            timeout: spec.timeout,
            status,
            kill,
            tail,
        })
    }

    /// Logs the child's standard output line by line (for a sink, whose output is not data).
    pub fn log_stdout(&mut self, secrets: Arc<Vec<String>>) {
        if let Some(stdout) = self.stdout.take() {
            tokio::spawn(log_lines(stdout, self.component.clone(), secrets, None));
        }
    }

    /// Kills the child now (it is reaped by the supervisor).
    pub fn kill(&mut self) {
        let _ = self.kill.send(self.stdin.take());
    }

    /// Closes standard input: the end of the stream, after the end-of-stream marker.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `wait` for the child to exit; `None` if it did not.
    pub async fn exit_within(&mut self, wait: Duration) -> Option<Result<(), String>> {
        let status = tokio::time::timeout(wait, self.status.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()
            .and_then(|s| *s);
        Some(match status {
            Some(Exit::Status(s)) if s.success() => Ok(()),
            Some(Exit::Status(s)) => Err(describe(s)),
            Some(Exit::Unknown) | None => Err("ended in an unknown way".to_owned()),
        })
    }

    /// An error about the child: `what` happened; the exit status (waiting up to a second for
    /// it) and the last lines of its standard error follow. The child is killed.
    pub async fn failure(&mut self, what: &str) -> RunError {
        let exit = match self.exit_within(Duration::from_secs(1)).await {
            Some(Ok(())) => "; it exited with status 0".to_owned(),
            Some(Err(how)) => format!("; it {how}"),
            None => String::new(),
        };
        self.kill();
        // The logger may still be reading the last lines of a child that just died.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tail: Vec<String> = tributary_core::sync::lock(&self.tail)
            .iter()
            .cloned()
            .collect();
        let tail = if tail.is_empty() {
            " (nothing on its standard error)".to_owned()
        } else {
            format!(
                "; the last lines of its standard error:\n    {}",
                tail.join("\n    ")
            )
        };
        RunError::msg(format!("`{}` {what}{exit}{tail}", self.label))
    }
}

/// Why a write to the child did not complete.
#[derive(Debug)]
pub enum WriteError {
    /// The pipe broke or was already closed (the child exited or closed its input).
    Pipe(std::io::Error),
    /// Neither input was read nor output written for the whole timeout.
    Stalled,
    /// The child's output stream failed while we were writing.
    Output(StreamError),
}

/// The child's decoded output, as the transform's reader task hands it over.
pub type Output = mpsc::Receiver<Result<RecordBatch, StreamError>>;

/// Bytes a pipe to or from a child holds: Linux's default is 64 KiB, so a batch of a few MB
/// crossed in dozens of write/wake-up/read rounds; 1 MiB is the most an unprivileged process
/// may ask for (`/proc/sys/fs/pipe-max-size`).
#[cfg(target_os = "linux")]
const PIPE_BYTES: usize = 1 << 20;

/// Asks for a [`PIPE_BYTES`] pipe buffer; where the system refuses, the default stays.
#[cfg(target_os = "linux")]
fn widen_pipe(pipe: &impl std::os::fd::AsFd) {
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_BYTES) {
        tracing::debug!(error = %e, "could not enlarge an exec pipe; keeping the default size");
    }
}

impl Child {
    /// Writes `bytes` to standard input. While the pipe is full, output batches are taken from
    /// `output` into `collected` (the child may need to write before it reads on: taking its
    /// output is what keeps both sides moving). `Ok(false)`: the run was cancelled meanwhile.
    pub async fn write(
        &mut self,
        bytes: &[u8],
        mut output: Option<&mut Output>,
        collected: &mut Vec<RecordBatch>,
    ) -> Result<bool, WriteError> {
        use tokio::io::AsyncWriteExt;
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(WriteError::Pipe(std::io::ErrorKind::BrokenPipe.into()));
        };
        let mut written = 0;
        let mut deadline = tokio::time::Instant::now() + self.timeout;
        while written < bytes.len() {
            let next_output = async {
                match output.as_deref_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Cancellation first: once the run is cancelled nothing more may reach the
                // child, least of all the end-of-stream marker a sink child commits on.
                biased;
                () = self.cancel.cancelled() => return Ok(false),
                // `write` is cancel safe: when another branch wins, nothing was written.
                n = stdin.write(&bytes[written..]) => match n {
                    Ok(0) => return Err(WriteError::Pipe(std::io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        written += n;
                        deadline = tokio::time::Instant::now() + self.timeout;
                    }
                    Err(e) => return Err(WriteError::Pipe(e)),
                },
                item = next_output => match item {
                    Some(Ok(batch)) => {
                        collected.push(batch);
                        deadline = tokio::time::Instant::now() + self.timeout;
                    }
                    Some(Err(e)) => return Err(WriteError::Output(e)),
                    // The child ended its output stream and reads on: allowed.
                    None => output = None,
                },
                () = tokio::time::sleep_until(deadline) => return Err(WriteError::Stalled),
            }
        }
        Ok(true)
    }

    /// The error for a write that failed.
    pub async fn write_failure(&mut self, e: WriteError) -> RunError {
        match e {
            WriteError::Pipe(e) => {
                self.failure(&format!("stopped reading its input before the end of the stream ({e})"))
                    .await
            }
            WriteError::Stalled => {
                self.failure(&format!(
                    "neither read input nor wrote output for {} s (`timeout_secs`), so it was killed; a child that needs longer for a batch of `batch_rows` rows needs a larger `timeout_secs` or a smaller `batch_rows`",
                    self.timeout.as_secs()
                ))
                .await
            }
            WriteError::Output(e) => self.failure(&e.to_string()).await,
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // After a clean end the child has exited and this is a no-op; otherwise it is killed
        // before its input closes (see the module docs).
        self.kill();
    }
}

async fn supervise(
    mut child: tokio::process::Child,
    cancel: CancellationToken,
    mut kill: mpsc::UnboundedReceiver<Option<ChildStdin>>,
    status: watch::Sender<Option<Exit>>,
) {
    let mut held = None;
    let waited = tokio::select! {
        waited = child.wait() => waited,
        () = cancel.cancelled() => {
            terminate(&child);
            tokio::select! {
                waited = child.wait() => waited,
                () = tokio::time::sleep(GRACE) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            }
        }
        stdin = kill.recv() => {
            held = stdin.flatten();
            let _ = child.start_kill();
            child.wait().await
        }
    };
    let _ = status.send(Some(match waited {
        Ok(s) => Exit::Status(s),
        Err(_) => Exit::Unknown,
    }));
    drop(held);
    LIVE.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    REAPED.notify_waiters();
}

/// Sends SIGTERM, so the child can clean up (Python runs `finally` blocks for SIGINT only, but
/// a handler can catch SIGTERM). Through `kill(1)`: the workspace forbids `unsafe`, and no
/// signal crate is in the dependency set for this one call.
fn terminate(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-s", "TERM", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `exited with status 1`, `was killed by signal 9 (SIGKILL)`.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => {
            let name = match sig {
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("was killed by signal {sig}{name}")
        }
        (None, None) => format!("ended ({status})"),
    }
}

/// Masks every secret in `line`.
pub fn redact(line: &str, secrets: &[String]) -> String {
    let mut line = line.to_owned();
    for s in secrets {
        if line.contains(s.as_str()) {
            line = line.replace(s.as_str(), "***");
        }
    }
    line
}

async fn log_lines<R: AsyncRead + Unpin>(
    pipe: R,
    component: String,
    secrets: Arc<Vec<String>>,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = redact(text.trim_end_matches(['\n', '\r']), &secrets);
        tracing::info!(target: "exec", component = %component, "{text}");
        if let Some(tail) = &tail {
            let mut tail = tributary_core::sync::lock(tail);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
}

/// Reads one line into `line`, keeping at most [`MAX_LINE`] bytes of it (the rest is skipped).
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        total += used;
        reader.consume(used);
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            redact("token=abcd1234 ok", &["abcd1234".to_owned()]),
            "token=*** ok"
        );
    }

    #[tokio::test]
    async fn long_lines_are_cut_not_buffered() {
        let text = format!("{}\nshort\n", "x".repeat(MAX_LINE * 3));
        let mut reader = BufReader::new(std::io::Cursor::new(text.into_bytes()));
        let mut line = Vec::new();
        read_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line.len(), MAX_LINE);
        line.clear();
        read_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line, b"short\n");
    }
}
