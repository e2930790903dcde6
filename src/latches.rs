//! Readiness and liveness as two latches: the daemon sets them (ready once its jobs are
//! scheduled and until it drains; alive while its scheduler runs and beats), the admin
//! server only reads them. Neither knows the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Latches {
    /// `/readyz`: config loaded and jobs scheduled, and not shutting down.
    ready: AtomicBool,
    /// `/healthz`: the scheduler was started and not stopped…
    alive: AtomicBool,
    /// …and its heartbeat job ran lately: milliseconds after `born`, and how old it
    /// may get (0: no heartbeat is watched).
    last_beat: AtomicU64,
    beat_stale_after_ms: AtomicU64,
    born: Instant,
}

impl Default for Latches {
    fn default() -> Self {
        Latches::new()
    }
}

impl Latches {
    /// Neither ready nor alive.
    pub fn new() -> Self {
        Latches {
            ready: AtomicBool::new(false),
            alive: AtomicBool::new(false),
            last_beat: AtomicU64::new(0),
            beat_stale_after_ms: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Watches the scheduler's heartbeat: not alive once none came for `stale`.
    pub fn watch_heartbeat(&self, stale: Duration) {
        self.beat();
        self.beat_stale_after_ms
            .store(stale.as_millis() as u64, Ordering::SeqCst);
    }

    /// The scheduler is alive now.
    pub fn beat(&self) {
        self.last_beat
            .store(self.born.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    /// Alive, and (when a heartbeat is watched) it beat lately.
    pub fn is_alive(&self) -> bool {
        let stale = self.beat_stale_after_ms.load(Ordering::SeqCst);
        let age = (self.born.elapsed().as_millis() as u64).saturating_sub(self.last_beat.load(Ordering::SeqCst));
        self.alive.load(Ordering::SeqCst) && (stale == 0 || age <= stale)
    }
}
