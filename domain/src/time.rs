//! How times leave idlog: RFC 3339 in UTC with exactly six fractional digits, whatever precision
//! they were recorded with (events keep the clock's nanoseconds, PostgreSQL keeps microseconds),
//! so that two times in one answer always look alike and compare as text.

use crate::Timestamp;
use chrono::SecondsFormat;
use serde::Serializer;

/// The text of `at` as answers carry it, e.g. `2026-12-06T05:26:38.823423Z`.
pub fn text(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(serialize_with = "domain::time::micros")]`.
pub fn micros<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&text(at))
}

/// [`micros`] for an optional time (`null` when absent).
pub fn micros_option<S: Serializer>(
    at: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => micros(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_has_six_fractional_digits() {
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .expect("time")
                .to_utc()
        };
        assert_eq!(
            text(&at("2026-12-06T05:26:38.823423202Z")),
            "2026-12-06T05:26:38.823423Z"
        );
        assert_eq!(
            text(&at("2026-12-06T05:26:38.82Z")),
            "2026-12-06T05:26:38.820000Z"
        );
        assert_eq!(
            text(&at("2026-12-06T06:26:38+01:00")),
            "2026-12-06T05:26:38.000000Z"
        );
    }
}
