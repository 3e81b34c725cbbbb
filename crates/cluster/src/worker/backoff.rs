//! Retry pacing and failure logging shared by the state and quota loops.
//!
//! A leader that is down for an hour must not write a line per attempt: a
//! streak of failures logs its first failure, then at most one line per
//! [`LOG_EVERY`], then one line when it ends.

use std::time::{Duration, Instant};

/// Longest wait between two attempts, whatever the factor.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most one log line per this while a streak of failures lasts.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(30);

/// `delay × factor^n`, capped at [`MAX_BACKOFF`] (`n` counts from 0 for the
/// wait after the first failure).
pub(crate) fn backoff(delay: Duration, factor: u32, n: u32) -> Duration {
    let factor = factor.max(1);
    let mut wait = delay;
    for _ in 0..n {
        wait = wait.saturating_mul(factor);
        if wait >= MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    wait.min(MAX_BACKOFF)
}

/// How bad a failure is, for its log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The leader is unreachable or answered badly: it may come back.
    Warn,
    /// Needs an operator (credentials refused).
    Error,
}

/// One loop's current streak of failures.
#[derive(Debug)]
pub(crate) struct Streak {
    what: &'static str,
    failures: u64,
    since: Option<Instant>,
    last_log: Option<Instant>,
}

impl Streak {
    pub fn new(what: &'static str) -> Streak {
        Streak {
            what,
            failures: 0,
            since: None,
            last_log: None,
        }
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn failure(&mut self, error: &str, severity: Severity) {
        let now = Instant::now();
        self.failures += 1;
        let since = *self.since.get_or_insert(now);
        let due = match self.last_log {
            None => true,
            Some(at) => now.duration_since(at) >= LOG_EVERY,
        };
        if !due {
            return;
        }
        self.last_log = Some(now);
        let what = self.what;
        let failures = self.failures;
        let for_ms = now.duration_since(since).as_millis() as u64;
        match (severity, failures) {
            (Severity::Error, 1) => tracing::error!(error, "{what} failed"),
            (Severity::Warn, 1) => tracing::warn!(error, "{what} failed"),
            (Severity::Error, _) => {
                tracing::error!(error, failures, for_ms, "{what} still failing")
            }
            (Severity::Warn, _) => tracing::warn!(error, failures, for_ms, "{what} still failing"),
        }
    }

    pub fn success(&mut self) {
        if self.failures > 0 {
            let for_ms = self
                .since
                .map(|s| s.elapsed().as_millis() as u64)
                .unwrap_or(0);
            tracing::info!(
                failures = self.failures,
                for_ms,
                "{} works again",
                self.what
            );
        }
        self.failures = 0;
        self.since = None;
        self.last_log = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let d = Duration::from_millis(300);
        assert_eq!(backoff(d, 2, 0), d);
        assert_eq!(backoff(d, 2, 1), Duration::from_millis(600));
        assert_eq!(backoff(d, 2, 3), Duration::from_millis(2400));
        assert_eq!(backoff(d, 2, 60), MAX_BACKOFF);
        assert_eq!(backoff(d, 0, 5), d);
        assert_eq!(backoff(Duration::from_secs(60), 2, 0), MAX_BACKOFF);
    }

    #[test]
    fn streak_counts_and_resets() {
        let mut s = Streak::new("test");
        s.failure("a", Severity::Warn);
        s.failure("b", Severity::Error);
        assert_eq!(s.failures(), 2);
        s.success();
        assert_eq!(s.failures(), 0);
    }
}
