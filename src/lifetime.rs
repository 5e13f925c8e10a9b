//! How long credentials live, and therefore how long kubelet may cache them.
//!
//! This is the one home of the rule "token expires at T → `cacheDuration`". The reference
//! plugins each invented their own (half-life with a µs bug, a fixed hour, an env var that
//! defaults to no caching); here every backend only reports a [`Lifetime`] and this module
//! decides. Rule: kubelet may reuse a token for half of its remaining life, in whole seconds,
//! so a pull never starts with a token about to expire; an expired or unknown expiry gives
//! `0s` (never cached) rather than letting kubelet apply its own, possibly long, default.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default of `--static-cache-duration`: how long kubelet may keep credentials that carry no
/// expiry (Docker config files) and "no credentials" answers. Short enough that a rotated file
/// or a newly added entry is picked up within minutes, long enough that a burst of pulls from
/// one registry execs the plugin once.
pub const DEFAULT_STATIC_CACHE: Duration = Duration::from_secs(300);

/// What a backend knows about how long its credentials stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A token with an expiry stated by its issuer.
    ExpiresAt(SystemTime),
    /// No expiry, but a cache time chosen by the operator or the backend (static credentials
    /// from a file, "no credentials" for unclaimed hosts).
    CacheFor(Duration),
    /// Nothing is known: do not let kubelet cache.
    Unknown,
}

impl Lifetime {
    /// The `cacheDuration` kubelet gets, measured from `now`.
    pub fn cache_duration(&self, now: SystemTime) -> Duration {
        match *self {
            Lifetime::ExpiresAt(at) => match at.duration_since(now) {
                Ok(remaining) => Duration::from_secs(remaining.as_secs() / 2),
                Err(_) => Duration::ZERO,
            },
            Lifetime::CacheFor(d) => Duration::from_secs(d.as_secs()),
            Lifetime::Unknown => Duration::ZERO,
        }
    }

    /// The expiry, when the issuer stated one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        match *self {
            Lifetime::ExpiresAt(at) => Some(at),
            _ => None,
        }
    }
}

/// Formats a time as RFC 3339 UTC with whole seconds (`2026-11-27T00:20:35Z`), for `check`
/// output and logs. Times before 1970 print as the epoch (no token expires then).
pub fn format_rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day); Howard Hinnant's
/// well-known civil calendar arithmetic, valid for every date this program can meet.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::format_go_duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn twelve_hour_token_is_cached_six_hours() {
        let now = at(1_000_000);
        let d = Lifetime::ExpiresAt(at(1_000_000 + 12 * 3600)).cache_duration(now);
        assert_eq!(format_go_duration(d), "6h0m0s");
    }

    #[test]
    fn half_life_is_whole_seconds_never_microseconds() {
        // cloud-provider-aws #348 printed 21.6µs for a 12 h token; ours prints seconds.
        let now = at(1_000_000) + Duration::from_millis(400);
        let d = Lifetime::ExpiresAt(at(1_000_000 + 43_201)).cache_duration(now);
        assert_eq!(format_go_duration(d), "6h0m0s");
        let d = Lifetime::ExpiresAt(at(1_000_000 + 3)).cache_duration(at(1_000_000));
        assert_eq!(format_go_duration(d), "1s");
    }

    #[test]
    fn expired_or_unknown_is_never_cached() {
        let now = at(2_000_000_000);
        // moto's ECR tokens expire in 2015.
        assert_eq!(
            Lifetime::ExpiresAt(at(1_420_070_400)).cache_duration(now),
            Duration::ZERO
        );
        assert_eq!(Lifetime::ExpiresAt(now).cache_duration(now), Duration::ZERO);
        assert_eq!(Lifetime::Unknown.cache_duration(now), Duration::ZERO);
    }

    #[test]
    fn fixed_cache_time_is_truncated_to_seconds() {
        let d = Lifetime::CacheFor(Duration::from_millis(300_900)).cache_duration(at(0));
        assert_eq!(format_go_duration(d), "5m0s");
    }

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(format_rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(at(1_420_070_400)), "2015-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(at(1_795_738_835)), "2026-11-27T00:20:35Z");
    }
}
