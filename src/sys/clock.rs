//! Wall-clock time: seconds since the epoch for state files, RFC 3339 for az, and the UTC
//! timestamp used as an image tag outside git (formatting by humantime).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    now_millis() / 1000
}

/// Milliseconds since the epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2026-11-28T06:00:00Z` for seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// `YYYYMMDD-HHMMSS` in UTC for seconds since the epoch.
pub fn tag(secs: u64) -> String {
    let t = rfc3339(secs); // 2026-11-28T06:00:00Z
    t.trim_end_matches('Z')
        .replace(['-', ':'], "")
        .replace('T', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_calendar_dates() {
        assert_eq!(tag(0), "19700101-000000");
        assert_eq!(tag(1_709_210_096), "20240229-123456");
        assert_eq!(tag(1_798_761_599), "20261231-235959");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
