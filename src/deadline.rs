//! The run's overall deadline.
//!
//! Kubelet kills the plugin after 60 s and then has nothing, not even our error message. So a
//! run gets one deadline well inside that (30 s by default) and every network step asks it for
//! its own timeout instead of carrying a fixed one.

use std::time::{Duration, Instant};

/// The default overall deadline of one run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest deadline allowed: kubelet's 60 s minus time to report the failure.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(55);

/// A point in time by which the run must have answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
        }
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The timeout for one step: `preferred`, but never past the deadline.
    pub fn step(&self, preferred: Duration) -> Duration {
        preferred.min(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_never_outlive_the_deadline() {
        let d = Deadline::after(Duration::from_secs(2));
        assert!(d.step(Duration::from_secs(10)) <= Duration::from_secs(2));
        assert_eq!(d.step(Duration::from_millis(5)), Duration::from_millis(5));
        let past = Deadline::after(Duration::ZERO);
        assert!(past.expired());
        assert_eq!(past.step(Duration::from_secs(1)), Duration::ZERO);
    }
}
