//! How long credentials live, and therefore how long kubelet may cache them.
//!
//! This is the one home of the cache policy: "token expires at T → `cacheDuration`", the token
//! cache's refresh point, the default for answers without expiry and the `cacheKeyType` a set
//! of auth keys allows. The reference plugins each invented their own (half-life with a µs
//! bug, a fixed hour, an env var that defaults to no caching); here every backend only reports
//! a [`Lifetime`] and this module decides. Rules:
//! - kubelet may reuse a token for half of its remaining life, in whole seconds, so a pull
//!   never starts with a token about to expire; the on-disk token cache ([`crate::token_cache`])
//!   refreshes at the same half-life ([`refresh_at`]);
//! - an expired or unknown expiry gives `0s` (never cached) rather than letting kubelet apply
//!   its own, possibly long, default. One exception: an ACR refresh token whose expiry cannot
//!   be read is cached for [`ACR_UNREADABLE_EXPIRY_CACHE`], as the reference plugin does;
//! - answers that carry no expiry (Docker config files, "no credentials") are cached for
//!   `--static-cache-duration`, by default [`DEFAULT_STATIC_CACHE`];
//! - an answer with an auth key that has a path is cached per image ([`key_type_for`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::CacheKeyType;

/// Default of `--static-cache-duration`: how long kubelet may keep credentials that carry no
/// expiry (Docker config files) and "no credentials" answers. Short enough that a rotated file
/// or a newly added entry is picked up within minutes, long enough that a burst of pulls from
/// one registry execs the plugin once.
pub const DEFAULT_STATIC_CACHE: Duration = Duration::from_secs(300);

/// How long kubelet may keep an ACR refresh token whose expiry cannot be read: ACR issues them
/// for about three hours, and the reference plugin caches them for one. The exception to
/// "unknown expiry → 0s": the token works, and not caching it would cost an Entra token and an
/// exchange on every pull.
#[cfg_attr(not(feature = "azure"), allow(dead_code))] // read by the Azure network half only
pub const ACR_UNREADABLE_EXPIRY_CACHE: Duration = Duration::from_secs(3600);

/// When a token issued at `issued_at` and expiring at `expires_at` is refreshed: its half-life,
/// the same point where [`Lifetime::cache_duration`] stops kubelet from reusing it.
pub fn refresh_at(issued_at: SystemTime, expires_at: SystemTime) -> SystemTime {
    issued_at + expires_at.duration_since(issued_at).unwrap_or_default() / 2
}

/// The `cacheKeyType` of an answer under `keys`: `Image` when a key has a path, since such a
/// key covers only part of its registry and caching the answer per registry would leave the
/// registry's other repositories without credentials until it expires; else `Registry`.
pub fn key_type_for<'a>(keys: impl IntoIterator<Item = &'a str>) -> CacheKeyType {
    if keys.into_iter().any(|k| k.contains('/')) {
        CacheKeyType::Image
    } else {
        CacheKeyType::Registry
    }
}

/// What a backend knows about how long its credentials stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A token with an expiry stated by its issuer.
    ExpiresAt(SystemTime),
    /// No expiry, but a cache time chosen by the operator or the backend (static credentials
    /// from a file, "no credentials" for unclaimed hosts).
    CacheFor(Duration),
    /// Nothing is known: do not let kubelet cache.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    // only ECR's answers can lack an expiry
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
    fn the_token_cache_refreshes_at_half_life() {
        assert_eq!(refresh_at(at(1_000), at(1_000 + 3600)), at(1_000 + 1800));
        assert_eq!(refresh_at(at(1_000), at(500)), at(1_000));
    }

    #[test]
    fn a_key_with_a_path_narrows_the_cache_to_the_image() {
        assert_eq!(
            key_type_for(["reg.example", "reg.example/team"]),
            CacheKeyType::Image
        );
        assert_eq!(
            key_type_for(["reg.example", "*.reg.example"]),
            CacheKeyType::Registry
        );
    }

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(format_rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(at(1_420_070_400)), "2015-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(at(1_795_738_835)), "2026-11-27T00:20:35Z");
    }
}
