//! Go duration strings (`"5m"`, `"180s"`, `"1h30m"`), as RoadRunner's config uses them.

use std::time::Duration;

/// Parses a Go `time.ParseDuration` string: an optional `+`, then one or more decimal
/// numbers (with an optional fraction) each followed by a unit `ns`, `us` (`µs`, `μs`),
/// `ms`, `s`, `m` or `h`; `"0"` alone is zero. Negative durations are refused, and so
/// are values beyond what Go's `time.Duration` holds (about 292 years).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let original = s;
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if let Some(r) = rest.strip_prefix('-') {
        // "-0s" is zero to Go too; anything else negative is refused.
        return match parse_go_duration(r) {
            Ok(d) if d.is_zero() && !r.starts_with(['+', '-']) => Ok(d),
            _ => Err(format!("{original:?}: negative durations are not allowed")),
        };
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("{original:?} is not a duration"));
    }

    // Nanoseconds as an exact integer, so that "1.5s" is exactly 1_500_000_000ns.
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!("{original:?} is not a duration"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "{original:?} has a number without a unit (use ns, us, ms, s, m or h)"
                ))
            }
            other => return Err(format!("{original:?} has an unknown unit {other:?}")),
        };
        let too_long = || format!("{original:?} is too long for a Go duration");
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| too_long())?
        };
        let mut value = int.checked_mul(scale).ok_or_else(too_long)?;
        // Digits beyond nanosecond precision are dropped, as Go does.
        let mut place = scale;
        for d in frac_part.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(d - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(too_long)?;
        if total > i64::MAX as u128 {
            return Err(too_long());
        }
        rest = next;
    }
    Ok(Duration::from_nanos(total as u64))
}
