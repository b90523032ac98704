//! One lock idiom for the workspace.
//!
//! A mutex is poisoned when a thread panicked while holding it. Every lock in tributary guards
//! data that one call updates whole (counters, a list, a map entry), so the data is still
//! consistent after such a panic; skipping the work instead — `if let Ok(..) = m.lock()` —
//! would silently turn off dedupe, pacing or watermarks for the rest of the run. So a poisoned
//! lock hands out its data like any other.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the data of a poisoned mutex (see the module docs).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
