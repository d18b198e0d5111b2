//! Progress and cancellation of long work, passed in by the caller.
//!
//! The library reports stages and steps through [`Progress`] and asks it
//! whether to stop; it never draws anything itself. The CLI implements it
//! with an `indicatif` bar and a Ctrl-C flag, a server or a test with
//! nothing at all ([`NoProgress`]).

use std::sync::atomic::{AtomicBool, Ordering};

/// What long-running library calls report to, and ask whether to stop.
///
/// Called from worker threads, hence `Sync`. Every method has a default
/// that does nothing, so an implementation picks what it needs.
pub trait Progress: Sync {
    /// A stage named `name` starts, with `total` steps when known.
    fn stage(&self, name: &str, total: Option<u64>) {
        let _ = (name, total);
    }

    /// `n` more steps of the current stage are done.
    fn advance(&self, n: u64) {
        let _ = n;
    }

    /// True once the caller wants the work to stop (finished work is kept
    /// wherever the operation says so).
    fn cancelled(&self) -> bool {
        false
    }
}

/// Reports nowhere and never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Reports nowhere and cancels when the flag is set (a Ctrl-C handler's).
impl Progress for AtomicBool {
    fn cancelled(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}
