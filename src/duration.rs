//! Go `time.Duration` text, both ways.
//!
//! Kubelet parses `cacheDuration` (response) and `defaultCacheDuration` (config) with Go's
//! `time.ParseDuration`, and a value it cannot parse discards the whole response or stops
//! kubelet from starting. So we format exactly as Go's `Duration.String` does and parse with
//! Go's grammar, including its quirks (both micro signs, bare `"0"`, no `d` unit, no spaces).

use std::fmt;
use std::time::Duration;

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Why a duration string was refused; displays like Go's error (`time: invalid duration "x"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

/// Parses Go duration text into signed nanoseconds (Go's `int64`), e.g. `"6h"`, `"1m30s"`,
/// `"-1.5h"`, `"0"`. Overflow beyond `i64` nanoseconds (~292 years) is an error, as in Go.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let err = |kind: &str| DurationError(format!("time: {kind} {text:?}"));
    let mut rest = text;
    let negative = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err("invalid duration"));
    }
    // Accumulate in u128 nanoseconds; compare against i64's limits at the end and per step.
    let limit: u128 = if negative {
        1u128 << 63
    } else {
        (1u128 << 63) - 1
    };
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(tail) => {
                let frac_len = tail.bytes().take_while(u8::is_ascii_digit).count();
                tail.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            // Go: "missing number" reads as an invalid duration (".s", "s", "1h.").
            return Err(err("invalid duration"));
        }
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, tail) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(err("missing unit in duration"));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => {
                return Err(DurationError(format!(
                    "time: unknown unit {unit:?} in duration {text:?}"
                )))
            }
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            // More digits than fit is an overflow in Go as well.
            int_part
                .parse::<u128>()
                .map_err(|_| err("invalid duration"))?
        };
        let mut value = whole
            .checked_mul(unit_nanos)
            .filter(|v| *v <= limit)
            .ok_or_else(|| err("invalid duration"))?;
        // Fraction: Go keeps as many digits as still matter and truncates the rest.
        let mut scale = unit_nanos;
        for digit in frac_part.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            value += u128::from(digit - b'0') * scale;
        }
        total = total
            .checked_add(value)
            .filter(|v| *v <= limit)
            .ok_or_else(|| err("invalid duration"))?;
        rest = tail;
    }
    // `total <= limit` was checked above, so both conversions are in range.
    if negative {
        Ok((-(total as i128)) as i64)
    } else {
        Ok(total as i64)
    }
}

/// Formats like Go's `Duration.String`: `6h0m0s`, `1m30s`, `1.5s`, `21.6µs`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < NANOS_PER_SEC {
        let (unit, per) = if nanos < NANOS_PER_MICRO {
            ("ns", 1)
        } else if nanos < NANOS_PER_MILLI {
            ("\u{b5}s", NANOS_PER_MICRO)
        } else {
            ("ms", NANOS_PER_MILLI)
        };
        return format!("{}{}", fraction_text(nanos, per), unit);
    }
    let secs_total = nanos / NANOS_PER_SEC;
    let hours = secs_total / 3600;
    let minutes = (secs_total / 60) % 60;
    let secs_nanos = nanos % (60 * NANOS_PER_SEC);
    let secs = fraction_text(secs_nanos, NANOS_PER_SEC);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / per` as a decimal with trailing zeros (and a bare dot) removed.
fn fraction_text(value: u128, per: u128) -> String {
    let whole = value / per;
    let frac = value % per;
    if frac == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Formats a duration the way Go prints it, for signed nanoseconds (config values may be
/// negative, and validate-config echoes them back).
pub fn format_go_nanos(nanos: i64) -> String {
    let text = format_go_duration(Duration::from_nanos(nanos.unsigned_abs()));
    if nanos < 0 {
        format!("-{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn formats_like_go_duration_string() {
        assert_eq!(format_go_duration(secs(0)), "0s");
        assert_eq!(format_go_duration(secs(6 * 3600)), "6h0m0s");
        assert_eq!(format_go_duration(secs(90)), "1m30s");
        assert_eq!(format_go_duration(secs(60)), "1m0s");
        assert_eq!(format_go_duration(secs(59)), "59s");
        assert_eq!(format_go_duration(secs(43_199)), "11h59m59s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(
            format_go_duration(Duration::from_nanos(21_600)),
            "21.6\u{b5}s"
        );
        assert_eq!(format_go_duration(Duration::from_nanos(5)), "5ns");
        assert_eq!(format_go_duration(Duration::from_millis(2)), "2ms");
        assert_eq!(format_go_nanos(-90_000_000_000), "-1m30s");
    }

    #[test]
    fn parses_go_grammar() {
        let s = 1_000_000_000i64;
        assert_eq!(parse_go_duration("6h"), Ok(6 * 3600 * s));
        assert_eq!(parse_go_duration("360m"), Ok(6 * 3600 * s));
        assert_eq!(parse_go_duration("6h0m0s"), Ok(6 * 3600 * s));
        assert_eq!(parse_go_duration("1m30s"), Ok(90 * s));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1.s"), Ok(s));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-0"), Ok(0));
        assert_eq!(parse_go_duration("0s"), Ok(0));
        assert_eq!(parse_go_duration("-10m"), Ok(-600 * s));
        assert_eq!(parse_go_duration("+5s"), Ok(5 * s));
        assert_eq!(parse_go_duration("21.6\u{b5}s"), Ok(21_600));
        assert_eq!(parse_go_duration("3\u{3bc}s"), Ok(3_000));
        assert_eq!(parse_go_duration("7us"), Ok(7_000));
        assert_eq!(parse_go_duration("1h1ms1ns"), Ok(3600 * s + 1_000_001));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "-", "1", "3600", "1d", "1 h", " 1h", "h", ".s", "1h.", "1.2.3s", "abc",
        ] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert_eq!(
            parse_go_duration("1d").unwrap_err().to_string(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse_go_duration("").unwrap_err().to_string(),
            r#"time: invalid duration """#
        );
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            r#"time: missing unit in duration "10""#
        );
    }

    #[test]
    fn overflow_is_an_error_like_go() {
        assert_eq!(
            parse_go_duration("2562047h"),
            Ok(2_562_047 * 3600 * 1_000_000_000)
        );
        assert!(parse_go_duration("2562048h").is_err());
        assert!(parse_go_duration("99999999999999999999999999999s").is_err());
        assert_eq!(parse_go_duration("-9223372036854775808ns"), Ok(i64::MIN));
        assert!(parse_go_duration("9223372036854775808ns").is_err());
    }

    #[test]
    fn round_trips_whole_seconds() {
        for n in [
            0u64, 1, 59, 60, 61, 3599, 3600, 3601, 86_399, 86_400, 21_600,
        ] {
            let text = format_go_duration(secs(n));
            assert_eq!(
                parse_go_duration(&text),
                Ok(n as i64 * 1_000_000_000),
                "{text}"
            );
        }
    }
}
