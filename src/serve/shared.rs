//! Single flight: reading smaps makes the kernel walk the target's page tables under its mmap
//! lock, so the requests share one analysis. At most one read starts per interval whatever the
//! request rate; the requests that arrive during a read wait for that read instead of starting
//! their own. A failure is shared the same way, so a target that has exited is not probed by
//! every request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::handler::{ReportSource, Snapshot};
use crate::error::Error;
use crate::report::Report;

type Analysis = Box<dyn FnMut() -> Result<Report, Error> + Send>;
type Outcome = Result<Arc<Snapshot>, Arc<Error>>;

/// A [`ReportSource`] that runs its analysis at most once per interval and shares the result.
pub struct SharedReport {
    min_interval: Duration,
    /// Held for the whole of a read: the requests that arrive meanwhile queue on it, and find
    /// the fresh result once they get it.
    analysis: Mutex<Analysis>,
    /// The last outcome and when its read started; locked only briefly.
    latest: Mutex<Option<(Instant, Outcome)>>,
    reads: AtomicU64,
}

impl SharedReport {
    /// Shares what `analysis` returns for `min_interval` from the start of each read. It should
    /// list every region (e.g. `analyze_pid(pid, &Options::default().all())`), so that each
    /// request can list as many as it asks for.
    pub fn new(
        min_interval: Duration,
        analysis: impl FnMut() -> Result<Report, Error> + Send + 'static,
    ) -> SharedReport {
        SharedReport {
            min_interval,
            analysis: Mutex::new(Box::new(analysis)),
            latest: Mutex::new(None),
            reads: AtomicU64::new(0),
        }
    }

    /// How many times the analysis has run (smaps was read).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The last outcome, if its read started less than `min_interval` ago.
    fn fresh(&self) -> Option<Outcome> {
        let latest = lock(&self.latest);
        let (started, outcome) = latest.as_ref()?;
        (started.elapsed() < self.min_interval).then(|| outcome.clone())
    }
}

/// A lock whose holder panicked still guards consistent data: every update is one assignment.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReportSource for SharedReport {
    fn snapshot(&self) -> Outcome {
        if let Some(outcome) = self.fresh() {
            return outcome;
        }
        let mut analysis = lock(&self.analysis);
        // Another request may have read while this one waited for the lock.
        if let Some(outcome) = self.fresh() {
            return outcome;
        }
        let started = Instant::now();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let outcome = match analysis() {
            Ok(report) => Ok(Arc::new(Snapshot::new(report))),
            Err(error) => Err(Arc::new(error)),
        };
        *lock(&self.latest) = Some((started, outcome.clone()));
        outcome
    }

    fn health(&self) -> String {
        let mut health = format!("smaps_reads: {}\n", self.reads());
        if let Some((started, outcome)) = lock(&self.latest).as_ref() {
            let _ = writeln!(
                health,
                "last_read_seconds_ago: {:.1}",
                started.elapsed().as_secs_f64()
            );
            let _ = match outcome {
                Ok(snapshot) => match snapshot.pid() {
                    Some(pid) => writeln!(health, "last_read: ok, PID {pid}"),
                    None => writeln!(health, "last_read: ok"),
                },
                Err(_) => writeln!(health, "last_read: failed (see /debug/memory)"),
            };
        }
        let _ = writeln!(
            health,
            "min_interval_seconds: {}",
            self.min_interval.as_secs_f64()
        );
        health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const SMAPS: &[u8] = b"01000000-02000000 rw-p 00000000 00:00 0 [heap]\nRss: 8192 kB\n";

    fn counting(delay: Duration) -> (Arc<AtomicUsize>, SharedReport) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let shared = SharedReport::new(Duration::from_secs(60), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(delay);
            crate::analyze_reader(SMAPS, &crate::Options::default().all())
        });
        (runs, shared)
    }

    #[test]
    fn concurrent_requests_wait_for_the_same_read() {
        let (runs, shared) = counting(Duration::from_millis(200));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| assert!(shared.snapshot().is_ok()));
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(shared.reads(), 1);
        assert!(shared.snapshot().is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "fresh for a minute");
        assert!(shared.health().starts_with("smaps_reads: 1\n"));
    }

    #[test]
    fn reads_again_once_the_interval_has_passed_and_shares_failures() {
        let failures = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&failures);
        let shared = SharedReport::new(Duration::from_millis(50), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Err(Error::NoSuchProcess { pid: 7 })
        });
        assert!(shared.snapshot().is_err());
        assert!(shared.snapshot().is_err());
        assert_eq!(failures.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(shared.snapshot().is_err());
        assert_eq!(failures.load(Ordering::SeqCst), 2);
        assert!(shared.health().contains("last_read: failed"));
    }
}
