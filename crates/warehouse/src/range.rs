//! The time range a command works on: `START..END`, each an RFC 3339 time or a date (midnight
//! UTC), widened to whole UTC hours because the warehouse's coarsest buckets are hours.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};

/// A half-open range `[start, end)` of event timestamps, both on a UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error(
        "a range is START..END, e.g. 2026-10-20..2026-10-21 or 2026-10-20T08:00:00Z..2026-10-20T12:00:00Z"
    )]
    Shape,
    #[error("{0:?} is neither an RFC 3339 time nor a date (YYYY-MM-DD)")]
    Time(String),
    #[error("the range is empty: END must be later than START")]
    Empty,
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, RangeError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|midnight| Utc.from_utc_datetime(&midnight))
        .ok_or_else(|| RangeError::Time(text.into()))
}

/// The start of the UTC hour `time` is in.
pub fn floor_hour(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(time)
}

impl HourRange {
    /// The range from `start` to `end`, widened outwards to whole hours: a partial hour is
    /// rebuilt or reconciled whole, never split.
    pub fn widened(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, RangeError> {
        if end <= start {
            return Err(RangeError::Empty);
        }
        let floored_end = floor_hour(end);
        let end = if floored_end == end {
            end
        } else {
            floored_end + Duration::hours(1)
        };
        Ok(Self {
            start: floor_hour(start),
            end,
        })
    }

    /// The hours in the range, oldest first.
    pub fn hours(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let count = (self.end - self.start).num_hours();
        (0..count).map(|h| self.start + Duration::hours(h))
    }

    /// The UTC days the range touches, as the lake's `event_date` partitions: first and last.
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        let last = self.end - Duration::microseconds(1);
        (self.start.date_naive(), last.date_naive())
    }
}

impl FromStr for HourRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let (start, end) = text.split_once("..").ok_or(RangeError::Shape)?;
        Self::widened(parse_time(start.trim())?, parse_time(end.trim())?)
    }
}

impl fmt::Display for HourRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = chrono::SecondsFormat::Secs;
        write!(
            f,
            "{}..{}",
            self.start.to_rfc3339_opts(format, true),
            self.end.to_rfc3339_opts(format, true)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_mean_midnight_utc() {
        let range: HourRange = "2026-10-20..2026-10-22".parse().unwrap();
        assert_eq!(range.start, at("2026-10-20T00:00:00Z"));
        assert_eq!(range.end, at("2026-10-22T00:00:00Z"));
        assert_eq!(range.hours().count(), 48);
        let (first, last) = range.days();
        assert_eq!(
            (first.to_string(), last.to_string()),
            ("2026-10-20".into(), "2026-10-21".into())
        );
    }

    #[test]
    fn partial_hours_are_widened_outwards_and_offsets_become_utc() {
        let range: HourRange = "2026-10-20T08:15:00+02:00..2026-10-20T09:00:00.5Z"
            .parse()
            .unwrap();
        assert_eq!(range.start, at("2026-10-20T06:00:00Z"));
        assert_eq!(range.end, at("2026-10-20T10:00:00Z"));
        assert_eq!(range.to_string(), "2026-10-20T06:00:00Z..2026-10-20T10:00:00Z");
    }

    #[test]
    fn malformed_and_empty_ranges_are_refused() {
        assert_eq!("2026-10-20".parse::<HourRange>(), Err(RangeError::Shape));
        assert_eq!(
            "yesterday..2026-10-20".parse::<HourRange>(),
            Err(RangeError::Time("yesterday".into()))
        );
        assert_eq!(
            "2026-10-20..2026-10-20".parse::<HourRange>(),
            Err(RangeError::Empty)
        );
        assert_eq!(
            "2026-10-21..2026-10-20".parse::<HourRange>(),
            Err(RangeError::Empty)
        );
    }
}
