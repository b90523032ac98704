//! Incremental state: per-unit watermarks, the run history, the write-ahead record of a commit in
//! flight, and the run lock (README, *Incremental runs and crash safety*).
//!
//! `[pipeline] state = "path or object-store URL"` names one JSON document:
//!
//! ```json
//! { "format": "tributary-state/1", "pipeline": "daily",
//!   "sources": { "pages": { "104857600000001/instagram/inbox":
//!       { "watermark": "2026-11-25T10:00:00Z", "ids_at_watermark": ["t_1"] } } },
//!   "runs": [ { "run_id": "…", "started": "…", "ended": "…", "rows": { "lake": 120 } } ],
//!   "pending": null }
//! ```
//!
//! - **Watermarks** are per source and per unit key (for the Graph source
//!   `"<page_id>/<platform>/<folder>"`): the newest `updated_time` committed. Sources read them
//!   from [`Checkpoint::watermarks`] and record new ones with [`Checkpoint::advance`], only for
//!   units read to the end. *Departure from the first design:* a unit also remembers the ids whose
//!   `updated_time` equals its watermark. Incremental walks keep threads *at* the watermark (two
//!   threads can share a second, so stopping strictly after it could skip one); those ids let the
//!   next run drop the ones already committed, so output is exactly once per
//!   `(id, updated_time)`.
//! - **Exactly once across crashes**: the runtime writes the sinks' commit plans, the new
//!   watermarks and the run record into `pending` (a write-ahead record) *before* it renames any
//!   file; then commits; then writes the state again with the watermarks advanced and `pending`
//!   cleared. A run that finds `pending` rolls it forward first (commits are idempotent).
//! - **Atomic writes**: a local state file is written to a temp file, synced, renamed over the old
//!   one and its directory synced. On object storage a conditional put (`PutMode::Update` on the
//!   version read, `PutMode::Create` for a new file) refuses to overwrite a concurrent writer.
//! - **Never silently reset**: an unparsable file, an unknown `format` or another pipeline's state
//!   is an error that says how to inspect (`tributary state show`) or reset (`tributary state
//!   reset`) it.
//! - **Run lock**: `<state>.lock` (pid, host, run id, start). A second run on the same state is
//!   refused with the holder's identity. A lock left by a process that is dead on this host is
//!   taken over, locally and on object storage (there also one older than [`LOCK_TTL`], since
//!   another host's pid cannot be checked); on object storage the take-over is a conditional put
//!   on the stale lock's version, so of two runs taking it over at once only one wins.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

pub use crate::checkpoint::{Checkpoint, SourceMarks, UnitMark, boundary_ids};
use crate::error::RunError;
use crate::failpoint;
use crate::store::{StoreOptions, TargetSpec, describe_store_error};

/// The `format` of state documents this build reads and writes.
pub const FORMAT: &str = "tributary-state/1";
/// Runs kept in the history.
pub const MAX_RUNS: usize = 50;
/// A lock on object storage older than this is considered abandoned (no pid can be checked there).
pub const LOCK_TTL: Duration = Duration::from_secs(6 * 3600);

/// `[pipeline] state`: a path (`state = "..."`, the short form) or a `[pipeline.state]` table
/// with `path` and the object-store options the sinks take (`endpoint`, `allow_http`, `region`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
// Inline: the `config-schema` document embeds `[pipeline]`'s schema without its `$defs`.
#[schemars(inline)]
pub enum StateConfig {
    /// `state = "state/daily.json"` or `"s3://bucket/state/daily.json"`.
    Path(String),
    /// `[pipeline.state]` with `path` and store options.
    Table(StateTable),
}

/// The table form of `[pipeline] state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
// `deny_unknown_fields` cannot go with `flatten`; the loader checks the keys itself, and editors
// learn it from the schema.
#[schemars(inline, extend("additionalProperties" = false))]
pub struct StateTable {
    /// Where the state document is: a local path or an `s3://`, `gs://` or `az://` URL. Its run
    /// lock is `<path>.lock`.
    pub path: String,
    /// How to reach its store: the same keys, checks and meaning as in the sinks.
    #[serde(flatten)]
    pub store: StoreOptions,
}

impl StateConfig {
    /// The keys `[pipeline.state]` accepts.
    pub fn keys() -> Vec<&'static str> {
        let mut keys = vec!["path"];
        keys.extend(StoreOptions::KEYS);
        keys
    }

    /// The state document's location.
    pub fn path(&self) -> &str {
        match self {
            Self::Path(p) => p,
            Self::Table(t) => &t.path,
        }
    }

    /// The store options (default for the short form).
    pub fn store_options(&self) -> StoreOptions {
        match self {
            Self::Path(_) => StoreOptions::default(),
            Self::Table(t) => t.store.clone(),
        }
    }

    /// Checks the location and options as the sinks' are checked (no I/O).
    ///
    /// # Errors
    /// The key at fault and what to do.
    pub fn validate(&self) -> Result<(), crate::error::BuildError> {
        TargetSpec::parse(self.path(), self.store_options()).map(|_| ())
    }
}

/// One finished run in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub run_id: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When its state was written.
    pub ended: DateTime<Utc>,
    /// Rows committed per sink.
    pub rows: BTreeMap<String, u64>,
    /// Whether it ignored the stored watermarks.
    #[serde(default)]
    pub full_refresh: bool,
}

/// One sink's commit plan in the write-ahead record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPlan {
    /// The sink id.
    pub sink: String,
    /// The sink's self-contained plan (see the committer of its plan `kind`).
    pub plan: serde_json::Value,
}

/// The write-ahead record of a run whose files are being committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCommit {
    /// The run being committed, as it will appear in the history.
    pub run: RunRecord,
    /// What to rename into place.
    pub plans: Vec<PendingPlan>,
    /// The watermarks to store once the plans are committed, per source.
    pub watermarks: BTreeMap<String, SourceMarks>,
}

/// The state document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`FORMAT`].
    pub format: String,
    /// The pipeline owning this state.
    pub pipeline: String,
    /// Watermarks per source id.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceMarks>,
    /// The last runs, oldest first (at most [`MAX_RUNS`]).
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    /// A commit in flight (a crash left it: the next run rolls it forward).
    #[serde(default)]
    pub pending: Option<PendingCommit>,
}

impl State {
    /// An empty state for `pipeline`.
    pub fn new(pipeline: &str) -> Self {
        Self {
            format: FORMAT.into(),
            pipeline: pipeline.into(),
            sources: BTreeMap::new(),
            runs: Vec::new(),
            pending: None,
        }
    }

    /// Applies a committed run: watermarks advanced per unit, the run appended, `pending` cleared.
    pub fn apply(&mut self, pending: PendingCommit) {
        for (source, marks) in pending.watermarks {
            self.sources.entry(source).or_default().extend(marks);
        }
        self.runs.push(pending.run);
        if self.runs.len() > MAX_RUNS {
            let extra = self.runs.len() - MAX_RUNS;
            self.runs.drain(..extra);
        }
        self.pending = None;
    }

    /// Parses a state document, refusing foreign or unknown ones.
    pub fn parse(bytes: &[u8], display: &str, pipeline: Option<&str>) -> Result<Self, RunError> {
        let what_to_do = format!(
            "inspect it with `tributary state show PIPELINE_FILE`; if it is not needed, move it \
             away or run `tributary state reset PIPELINE_FILE` (the next run then reads \
             everything again); state file: {display}"
        );
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            RunError::msg(format!(
                "the state file {display} is not valid JSON ({e}); it was not modified. \
                 {what_to_do}"
            ))
        })?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(RunError::msg(format!(
                "the state file {display} has format `{format}`, not `{FORMAT}`: it was written \
                 by another program or another version of tributary, and was not modified. \
                 {what_to_do}"
            )));
        }
        let state: State = serde_json::from_value(value).map_err(|e| {
            RunError::msg(format!(
                "the state file {display} is damaged ({e}); it was not modified. {what_to_do}"
            ))
        })?;
        if let Some(p) = pipeline
            && state.pipeline != p
        {
            return Err(RunError::msg(format!(
                "the state file {display} belongs to pipeline `{}`, not `{p}`: two pipelines must \
                 not share a state file. Give this pipeline its own `[pipeline] state`, or, if it \
                 was renamed, run `tributary state reset` on it",
                state.pipeline
            )));
        }
        Ok(state)
    }
}

/// The version of a state document that was read (for conditional writes).
#[derive(Debug, Clone, Default)]
pub struct Version(Option<UpdateVersion>);

enum Backend {
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        path: Path,
    },
}

/// Where a state document lives.
pub struct StateStore {
    backend: Backend,
    display: String,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens `location`: a local path (relative to the working directory), `file://`, or an
    /// `s3://`/`gs://`/`az://` object URL (credentials from the provider's environment).
    pub fn open(location: &str) -> Result<Self, RunError> {
        Self::open_with(location, StoreOptions::default())
    }

    /// [`StateStore::open`] with the store options of `[pipeline.state]`.
    pub fn open_with(location: &str, options: StoreOptions) -> Result<Self, RunError> {
        let display = location.to_owned();
        if location.contains("://") && !location.starts_with("file://") {
            let spec = TargetSpec::parse(location, options).map_err(|e| {
                RunError::msg(format!(
                    "`[pipeline] state = \"{location}\"`: {}",
                    e.message
                ))
            })?;
            let target = spec.open()?;
            return Ok(Self {
                backend: Backend::Remote {
                    store: target.store,
                    path: target.base,
                },
                display,
            });
        }
        let path = match location.strip_prefix("file://") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(location),
        };
        Ok(Self {
            backend: Backend::Local(path),
            display,
        })
    }

    /// The location as configured.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Reads the state; a missing file is an empty state for `pipeline`.
    pub async fn load(&self, pipeline: &str) -> Result<(State, Version), RunError> {
        self.load_checked(pipeline, true).await
    }

    /// [`StateStore::load`], optionally accepting another pipeline's state (for `state show`).
    pub async fn load_checked(
        &self,
        pipeline: &str,
        check_pipeline: bool,
    ) -> Result<(State, Version), RunError> {
        let expect = check_pipeline.then_some(pipeline);
        match &self.backend {
            Backend::Local(path) => match std::fs::read(path) {
                Ok(bytes) => Ok((State::parse(&bytes, &self.display, expect)?, Version(None))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok((State::new(pipeline), Version(None)))
                }
                Err(e) => Err(RunError::msg(format!(
                    "cannot read the state file {}: {e}",
                    self.display
                ))),
            },
            Backend::Remote { store, path } => match store.get(path).await {
                Ok(got) => {
                    let version = UpdateVersion {
                        e_tag: got.meta.e_tag.clone(),
                        version: got.meta.version.clone(),
                    };
                    let bytes = got.bytes().await.map_err(|e| {
                        RunError::msg(format!(
                            "cannot read the state {}: {}",
                            self.display,
                            describe_store_error(&e)
                        ))
                    })?;
                    Ok((
                        State::parse(&bytes, &self.display, expect)?,
                        Version(Some(version)),
                    ))
                }
                Err(object_store::Error::NotFound { .. }) => {
                    Ok((State::new(pipeline), Version(None)))
                }
                Err(e) => Err(RunError::msg(format!(
                    "cannot read the state {}: {}",
                    self.display,
                    describe_store_error(&e)
                ))),
            },
        }
    }

    /// Writes `state` atomically; returns the new version (for the next conditional write).
    pub async fn store(&self, state: &State, version: &Version) -> Result<Version, RunError> {
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| RunError::msg(format!("cannot serialize the state: {e}")))?;
        match &self.backend {
            Backend::Local(path) => {
                write_atomic(path, &json).map_err(|e| {
                    RunError::msg(format!(
                        "cannot write the state file {}: {e} (it was left as it was)",
                        self.display
                    ))
                })?;
                failpoint::hit("state.stored");
                Ok(Version(None))
            }
            Backend::Remote { store, path } => {
                let mode = match &version.0 {
                    Some(v) => PutMode::Update(v.clone()),
                    None => PutMode::Create,
                };
                let put = |mode| {
                    store.put_opts(
                        path,
                        PutPayload::from(json.clone()),
                        PutOptions {
                            mode,
                            ..Default::default()
                        },
                    )
                };
                let result = match put(mode).await {
                    Err(object_store::Error::NotImplemented { .. }) => {
                        tracing::warn!(state = %self.display, "this object store has no conditional put: the state is overwritten unconditionally (the run lock still guards it)");
                        put(PutMode::Overwrite).await
                    }
                    other => other,
                };
                let done = result.map_err(|e| match e {
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. } => RunError::msg(format!(
                        "the state {} was changed by someone else during this run; it was not \
                         overwritten (is another run on the same state going on?)",
                        self.display
                    )),
                    e => RunError::msg(format!(
                        "cannot write the state {}: {}",
                        self.display,
                        describe_store_error(&e)
                    )),
                })?;
                failpoint::hit("state.stored");
                Ok(Version(Some(UpdateVersion {
                    e_tag: done.e_tag,
                    version: done.version,
                })))
            }
        }
    }

    /// Takes the run lock for `run_id`.
    pub async fn lock(&self, run_id: &str) -> Result<RunLock, RunError> {
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            run_id: run_id.into(),
            started: Utc::now(),
        };
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|e| RunError::msg(format!("cannot serialize the lock: {e}")))?;
        match &self.backend {
            Backend::Local(path) => self.lock_local(path, &info, &body),
            Backend::Remote { store, path } => self.lock_remote(store, path, &info, &body).await,
        }
    }

    /// The lock on a local disk: a file created exclusively; a lock whose process is gone from
    /// this host is taken over.
    fn lock_local(&self, path: &FsPath, info: &LockInfo, body: &[u8]) -> Result<RunLock, RunError> {
        let lock = lock_path(path);
        if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                RunError::msg(format!(
                    "cannot create the state directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        for _ in 0..2 {
            match create_new(&lock, body) {
                Ok(()) => {
                    failpoint::hit("lock.acquired");
                    return Ok(RunLock {
                        backend: LockBackend::Local(lock),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = std::fs::read(&lock).unwrap_or_default();
                    let holder: Option<LockInfo> = serde_json::from_slice(&held).ok();
                    match &holder {
                        Some(h) if h.host == info.host && !pid_alive(h.pid) => {
                            tracing::warn!(lock = %lock.display(), pid = h.pid, run_id = %h.run_id, "taking over a stale run lock: its process is gone");
                            take_over(&lock, &held)?;
                        }
                        _ => return Err(self.locked_error(holder.as_ref(), &lock)),
                    }
                }
                Err(e) => {
                    return Err(RunError::msg(format!(
                        "cannot create the run lock {}: {e}",
                        lock.display()
                    )));
                }
            }
        }
        Err(self.locked_error(None, &lock))
    }

    /// The lock on object storage: a create-if-absent put; a stale lock (its process gone from
    /// this host, or older than the TTL) is taken over.
    async fn lock_remote(
        &self,
        store: &Arc<dyn ObjectStore>,
        path: &Path,
        info: &LockInfo,
        body: &[u8],
    ) -> Result<RunLock, RunError> {
        let lock = Path::from(format!("{path}.lock"));
        for _ in 0..2 {
            let put = store
                .put_opts(
                    &lock,
                    PutPayload::from(body.to_vec()),
                    PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    },
                )
                .await;
            match put {
                Ok(_) => {
                    failpoint::hit("lock.acquired");
                    return Ok(RunLock {
                        backend: LockBackend::Remote {
                            store: store.clone(),
                            path: lock,
                        },
                    });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    if let Some(held) = self.take_over_remote(store, &lock, info, body).await? {
                        return Ok(held);
                    }
                }
                Err(e) => {
                    return Err(RunError::msg(format!(
                        "cannot create the run lock {}.lock: {}",
                        self.display,
                        describe_store_error(&e)
                    )));
                }
            }
        }
        Err(self.locked_error(None, FsPath::new("")))
    }

    /// Judges the lock another run holds and takes it over if it is stale: `Some` when this run
    /// holds it now, `None` when the store could only delete it (the next create arbitrates).
    async fn take_over_remote(
        &self,
        store: &Arc<dyn ObjectStore>,
        lock: &Path,
        info: &LockInfo,
        body: &[u8],
    ) -> Result<Option<RunLock>, RunError> {
        let (holder, held_version) = match store.get(lock).await {
            Ok(g) => {
                let version = UpdateVersion {
                    e_tag: g.meta.e_tag.clone(),
                    version: g.meta.version.clone(),
                };
                let holder: Option<LockInfo> = g
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                (holder, Some(version))
            }
            Err(_) => (None, None),
        };
        // Stale: its process is gone from this very host (a killed run, rerun where it ran), or
        // it is older than the TTL (another host's pid cannot be checked).
        let dead_here = holder
            .as_ref()
            .is_some_and(|h| h.host == info.host && !pid_alive(h.pid));
        let expired = holder
            .as_ref()
            .is_some_and(|h| (Utc::now() - h.started).to_std().unwrap_or_default() > LOCK_TTL);
        if !dead_here && !expired {
            return Err(self.locked_error(holder.as_ref(), FsPath::new("")));
        }
        if dead_here {
            tracing::warn!(lock = %lock, pid = holder.as_ref().map_or(0, |h| h.pid), "taking over a stale run lock: its process is gone");
        } else {
            tracing::warn!(lock = %lock, "taking over a run lock older than the lock TTL");
        }
        // Replace exactly the lock judged stale (conditional on its version): of two runs taking
        // it over at once, one wins, the other is refused.
        let Some(version) = held_version else {
            return Err(self.locked_error(holder.as_ref(), FsPath::new("")));
        };
        let replaced = store
            .put_opts(
                lock,
                PutPayload::from(body.to_vec()),
                PutOptions {
                    mode: PutMode::Update(version),
                    ..Default::default()
                },
            )
            .await;
        match replaced {
            Ok(_) => {
                failpoint::hit("lock.acquired");
                Ok(Some(RunLock {
                    backend: LockBackend::Remote {
                        store: store.clone(),
                        path: lock.clone(),
                    },
                }))
            }
            Err(object_store::Error::NotImplemented { .. }) => {
                // No conditional update on this store: delete, and let the create-if-absent of
                // the next round arbitrate.
                let _ = store.delete(lock).await;
                Ok(None)
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(self.locked_error(None, FsPath::new(""))),
            Err(e) => Err(RunError::msg(format!(
                "cannot take over the run lock {}.lock: {}",
                self.display,
                describe_store_error(&e)
            ))),
        }
    }

    fn locked_error(&self, holder: Option<&LockInfo>, lock: &FsPath) -> RunError {
        let who = match holder {
            Some(h) => format!(
                "run {} (pid {} on {}, started {})",
                h.run_id,
                h.pid,
                h.host,
                h.started.format("%Y-%m-%d %H:%M:%SZ")
            ),
            None => "another run".into(),
        };
        let lock = if lock.as_os_str().is_empty() {
            format!("{}.lock", self.display)
        } else {
            lock.display().to_string()
        };
        RunError::msg(format!(
            "another run holds the state {}: {who}. Wait for it to finish; if that process is \
             gone for good (another host), delete the lock file {lock}",
            self.display
        ))
    }
}

/// The lock file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the holder.
    pub host: String,
    /// The holder's run id.
    pub run_id: String,
    /// When it took the lock.
    pub started: DateTime<Utc>,
}

enum LockBackend {
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        path: Path,
    },
    Released,
}

/// A held run lock. [`RunLock::release`] removes it; dropping it removes a local lock too.
pub struct RunLock {
    backend: LockBackend,
}

impl std::fmt::Debug for RunLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLock").finish_non_exhaustive()
    }
}

impl RunLock {
    /// Removes the lock.
    pub async fn release(mut self) {
        match std::mem::replace(&mut self.backend, LockBackend::Released) {
            LockBackend::Local(path) => {
                let _ = std::fs::remove_file(path);
            }
            LockBackend::Remote { store, path } => {
                if let Err(e) = store.delete(&path).await {
                    tracing::warn!(lock = %path, error = %e, "cannot remove the run lock");
                }
            }
            LockBackend::Released => {}
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let LockBackend::Local(path) = &self.backend {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn lock_path(state: &FsPath) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn create_new(path: &FsPath, body: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

/// Moves a stale lock away, making sure it is still the one that was judged stale (another
/// process may have taken it over in between: then its lock is put back).
fn take_over(lock: &FsPath, stale: &[u8]) -> Result<(), RunError> {
    let aside = lock.with_extension(format!("stale-{}", std::process::id()));
    match std::fs::rename(lock, &aside) {
        Ok(()) => {
            let moved = std::fs::read(&aside).unwrap_or_default();
            if moved != stale {
                // Someone else's fresh lock: restore it (create_new below will then fail).
                let _ = std::fs::rename(&aside, lock);
            } else {
                let _ = std::fs::remove_file(&aside);
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunError::msg(format!(
            "cannot take over the stale run lock {}: {e}",
            lock.display()
        ))),
    }
}

/// Temp file in the same directory, synced, renamed over `path`, directory synced.
fn write_atomic(path: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(FsPath::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        failpoint::hit("state.tmp_written");
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `pid` is a live process on this host. Without `/proc` (not Linux) every holder is
/// assumed alive: a stale lock must then be removed by hand, which is safe.
fn pid_alive(pid: u32) -> bool {
    let proc = FsPath::new("/proc");
    if !proc.is_dir() {
        return true;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // A zombie (`Z`) has exited; only its parent has not reaped it yet.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(run: &str, unit: &str, at: &str) -> PendingCommit {
        PendingCommit {
            run: RunRecord {
                run_id: run.into(),
                started: Utc::now(),
                ended: Utc::now(),
                rows: BTreeMap::from([("lake".into(), 3)]),
                full_refresh: false,
            },
            plans: vec![],
            watermarks: BTreeMap::from([(
                "pages".into(),
                BTreeMap::from([(
                    unit.into(),
                    UnitMark {
                        watermark: at.into(),
                        ids_at_watermark: vec!["t1".into()],
                    },
                )]),
            )]),
        }
    }

    #[tokio::test]
    async fn round_trips_atomically_and_refuses_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.json");
        let store = StateStore::open(path.to_str().unwrap()).unwrap();
        let (mut state, v) = store.load("p").await.unwrap();
        assert_eq!(state, State::new("p"));
        state.apply(pending("r1", "1/instagram/inbox", "2026-01-01T00:00:00Z"));
        store.store(&state, &v).await.unwrap();
        let (back, _) = store.load("p").await.unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.sources["pages"]["1/instagram/inbox"].ids_at_watermark,
            ["t1"]
        );
        // No temp file left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        let e = store.load("other").await.unwrap_err().to_string();
        assert!(e.contains("belongs to pipeline `p`"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        let e = store.load("p").await.unwrap_err().to_string();
        assert!(
            e.contains("not valid JSON") && e.contains("state show"),
            "{e}"
        );
        std::fs::write(&path, br#"{"format":"airbyte/2"}"#).unwrap();
        let e = store.load("p").await.unwrap_err().to_string();
        assert!(e.contains("airbyte/2") && e.contains("state reset"), "{e}");
    }

    #[test]
    fn history_is_bounded() {
        let mut s = State::new("p");
        for i in 0..(MAX_RUNS + 5) {
            s.apply(pending(&format!("r{i}"), "u", "2026-01-01T00:00:00Z"));
        }
        assert_eq!(s.runs.len(), MAX_RUNS);
        assert_eq!(s.runs[0].run_id, "r5");
    }

    #[tokio::test]
    async fn a_second_lock_is_refused_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = StateStore::open(path.to_str().unwrap()).unwrap();
        let held = store.lock("r1").await.unwrap();
        let e = store.lock("r2").await.unwrap_err().to_string();
        assert!(e.contains("run r1") && e.contains("pid"), "{e}");
        held.release().await;
        let again = store.lock("r3").await.unwrap();
        drop(again);
        // A lock of a dead process on this host (pid far above pid_max) is taken over.
        let stale = LockInfo {
            pid: 4_000_000_000,
            host: hostname(),
            run_id: "dead".into(),
            started: Utc::now(),
        };
        std::fs::write(lock_path(&path), serde_json::to_vec(&stale).unwrap()).unwrap();
        let taken = store.lock("r4").await.unwrap();
        let info: LockInfo =
            serde_json::from_slice(&std::fs::read(lock_path(&path)).unwrap()).unwrap();
        assert_eq!(info.run_id, "r4");
        taken.release().await;
        assert!(!lock_path(&path).exists());
    }
}
