//! RFC 3339 time stamps without a date crate: the state file's `created` field and the
//! log's `time` field need only UTC formatting of the system clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to a civil (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats seconds and nanoseconds since the epoch as RFC 3339 in UTC. With `nanos` the
/// fraction is printed as Go's RFC3339Nano does (trailing zeros trimmed).
pub fn rfc3339(secs: i64, nsec: u32, nanos: bool) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if nanos && nsec > 0 {
        let frac = format!("{nsec:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The current time as (seconds, nanoseconds) since the epoch.
pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

pub fn now_rfc3339_nano() -> String {
    let (s, n) = now();
    rfc3339(s, n, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_dates() {
        assert_eq!(rfc3339(0, 0, true), "1970-01-01T00:00:00Z");
        // 2024-02-29T12:34:56.5Z: a leap day, fraction trimmed as Go does.
        assert_eq!(rfc3339(1_709_210_096, 500_000_000, true), "2024-02-29T12:34:56.5Z");
        assert_eq!(rfc3339(1_709_210_096, 500_000_000, false), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339(951_782_400, 1, true), "2000-02-29T00:00:00.000000001Z");
    }
}
