//! What a batch adds to each derived table, aggregated in memory from the events it really
//! inserted: one row per key of the table, so that PostgreSQL upserts each key of a batch once and
//! never maps or groups the events itself.
//!
//! The mapping from an event to the keys it counts under is the one the warehouse's SQL functions
//! define (`lakehouse_referrer_host`, `lakehouse_funnel_step`, `lakehouse_dimensions`, migrations
//! 0003 to 0006), which warehouse-sync's funnel refill, the dashboards and the tests' oracle use:
//! the two must agree, and every test that checks the derived tables against their recomputation
//! in SQL checks that they do. Buckets are UTC minutes and hours.
//!
//! Rows go to PostgreSQL as arrays, one per column, in the order of each table's primary key: two
//! writers that share keys then lock them in the same order, and wait instead of deadlocking.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use lakehouse_event::EnrichedEvent;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::derived::{DerivedTable, DerivedTables};

const MINUTE_MICROS: i64 = 60_000_000;
const HOUR_MICROS: i64 = 60 * MINUTE_MICROS;

/// The event counts and value sums of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    events: i64,
    value_sum: f64,
}

impl Sums {
    fn add(&mut self, value: Option<f64>) {
        self.events += 1;
        self.value_sum += value.unwrap_or(0.0);
    }
}

/// Text of a key: borrowed from the events while they are held (the processor's batch), copied
/// when the aggregates outlive them (warehouse-sync's rebuild, which reads the lake in chunks).
type Text<'a> = Cow<'a, str>;

/// `event_rollups_minute`'s key, in the order of its primary key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RollupKey<'a> {
    bucket: i64,
    project_id: Text<'a>,
    event_type: Text<'a>,
    event_name: Text<'a>,
    path: Text<'a>,
}

/// A row of `unique_ids_hourly`, in the order of its primary key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct UniqueId<'a> {
    project_id: Text<'a>,
    kind: &'static str,
    bucket: i64,
    id: Text<'a>,
}

/// `funnel_progress`'s key, in the order of its primary key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FunnelKey<'a> {
    project_id: Text<'a>,
    funnel: Text<'a>,
    step: i32,
    session_id: Text<'a>,
}

/// `event_dimensions_hourly`'s key, in the order of its primary key.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DimensionKey<'a> {
    bucket: i64,
    project_id: Text<'a>,
    event_type: Text<'a>,
    dimension: &'static str,
    value: Text<'a>,
}

/// The rows a set of events adds to the derived tables a writer maintains.
#[derive(Debug, Default)]
pub struct Aggregates<'a> {
    tables: DerivedTables,
    rollups: BTreeMap<RollupKey<'a>, Sums>,
    unique_ids: BTreeSet<UniqueId<'a>>,
    funnels: BTreeMap<FunnelKey<'a>, i64>,
    dimensions: BTreeMap<DimensionKey<'a>, Sums>,
}

impl<'a> Aggregates<'a> {
    /// Nothing yet, for the tables `tables` names.
    pub fn new(tables: &DerivedTables) -> Self {
        Self {
            tables: tables.clone(),
            ..Self::default()
        }
    }

    /// How many rows the tables would be sent: what the aggregates' memory grows with.
    pub fn len(&self) -> usize {
        self.rollups.len() + self.unique_ids.len() + self.funnels.len() + self.dimensions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one event, which must be new to the warehouse; its texts are borrowed.
    pub fn add(&mut self, e: &'a EnrichedEvent) {
        self.count(e, Cow::Borrowed);
    }

    /// [`Self::add`] for an event dropped before the aggregates are written: its texts are copied.
    pub fn add_copied(&mut self, e: &EnrichedEvent) {
        self.count(e, |text| Cow::Owned(text.to_owned()));
    }

    fn count<'e>(&mut self, e: &'e EnrichedEvent, text: impl Fn(&'e str) -> Text<'a>) {
        let at = e.timestamp.timestamp_micros();
        let (minute, hour) = (truncate(at, MINUTE_MICROS), truncate(at, HOUR_MICROS));
        if self.tables.contains(DerivedTable::Rollups) {
            let key = RollupKey {
                bucket: minute,
                project_id: text(&e.project_id),
                event_type: text(&e.event_type),
                event_name: text(e.event_name.as_deref().unwrap_or_default()),
                path: text(e.path.as_deref().unwrap_or_default()),
            };
            self.rollups.entry(key).or_default().add(e.value);
        }
        if self.tables.contains(DerivedTable::UniqueIds) {
            let ids = [
                ("visitor", e.visitor_id.as_deref()),
                ("session", Some(e.session_id.as_str())),
            ];
            for (kind, id) in ids {
                if let Some(id) = id {
                    self.unique_ids.insert(UniqueId {
                        project_id: text(&e.project_id),
                        kind,
                        bucket: hour,
                        id: text(id),
                    });
                }
            }
        }
        if self.tables.contains(DerivedTable::Funnels)
            && e.event_type == "funnel_step"
            && let Some((funnel, step)) = funnel_step(&e.properties)
        {
            let key = FunnelKey {
                project_id: text(&e.project_id),
                funnel: text(funnel),
                step,
                session_id: text(&e.session_id),
            };
            let first = self.funnels.entry(key).or_insert(at);
            *first = (*first).min(at);
        }
        if self.tables.contains(DerivedTable::Dimensions) {
            for (dimension, value) in dimensions(e) {
                let value = match value {
                    Cow::Borrowed(value) => text(value),
                    Cow::Owned(value) => Cow::Owned(value),
                };
                let key = DimensionKey {
                    bucket: hour,
                    project_id: text(&e.project_id),
                    event_type: text(&e.event_type),
                    dimension,
                    value,
                };
                self.dimensions.entry(key).or_default().add(e.value);
            }
        }
    }

    /// Adds the rows to their tables in the caller's transaction, in the order of
    /// [`DerivedTable::ALL`], and starts again from nothing.
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        for table in self.tables.tables() {
            let query = sqlx::query(table.sql());
            let query = match table {
                DerivedTable::Rollups if !self.rollups.is_empty() => {
                    let (keys, sums) = (self.rollups.keys(), self.rollups.values());
                    query
                        .bind(keys.clone().map(|k| time(k.bucket)).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.project_id).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.event_type).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.event_name).collect::<Vec<_>>())
                        .bind(keys.map(|k| &*k.path).collect::<Vec<_>>())
                        .bind(sums.clone().map(|s| s.events).collect::<Vec<_>>())
                        .bind(sums.map(|s| s.value_sum).collect::<Vec<_>>())
                }
                DerivedTable::UniqueIds if !self.unique_ids.is_empty() => {
                    let ids = self.unique_ids.iter();
                    query
                        .bind(ids.clone().map(|u| time(u.bucket)).collect::<Vec<_>>())
                        .bind(ids.clone().map(|u| &*u.project_id).collect::<Vec<_>>())
                        .bind(ids.clone().map(|u| u.kind).collect::<Vec<_>>())
                        .bind(ids.map(|u| &*u.id).collect::<Vec<_>>())
                }
                DerivedTable::Funnels if !self.funnels.is_empty() => {
                    let (keys, first) = (self.funnels.keys(), self.funnels.values());
                    query
                        .bind(keys.clone().map(|k| &*k.project_id).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.funnel).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| k.step).collect::<Vec<_>>())
                        .bind(keys.map(|k| &*k.session_id).collect::<Vec<_>>())
                        .bind(first.map(|&at| time(at)).collect::<Vec<_>>())
                }
                DerivedTable::Dimensions if !self.dimensions.is_empty() => {
                    let (keys, sums) = (self.dimensions.keys(), self.dimensions.values());
                    query
                        .bind(keys.clone().map(|k| time(k.bucket)).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.project_id).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| &*k.event_type).collect::<Vec<_>>())
                        .bind(keys.clone().map(|k| k.dimension).collect::<Vec<_>>())
                        .bind(keys.map(|k| &*k.value).collect::<Vec<_>>())
                        .bind(sums.clone().map(|s| s.events).collect::<Vec<_>>())
                        .bind(sums.map(|s| s.value_sum).collect::<Vec<_>>())
                }
                _ => continue,
            };
            query.execute(&mut *conn).await?;
        }
        *self = Self::new(&self.tables);
        Ok(())
    }
}

/// `micros` (from the Unix epoch) rounded down to a multiple of `unit`.
fn truncate(micros: i64, unit: i64) -> i64 {
    micros - micros.rem_euclid(unit)
}

fn time(micros: i64) -> DateTime<Utc> {
    // Truncated from a valid time, so within range.
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The breakdown dimensions of an event that it has a value for: `lakehouse_dimensions()`.
fn dimensions(e: &EnrichedEvent) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> {
    fn text(value: &Option<String>) -> Option<Cow<'_, str>> {
        value.as_deref().map(Cow::Borrowed)
    }
    [
        ("path", text(&e.path)),
        (
            "referrer_host",
            e.referrer.as_deref().and_then(referrer_host).map(Cow::Owned),
        ),
        ("browser", text(&e.browser)),
        ("os", text(&e.os)),
        ("device_type", text(&e.device_type)),
        ("country", text(&e.country)),
        ("utm_source", text(&e.utm_source)),
        ("utm_campaign", text(&e.utm_campaign)),
    ]
    .into_iter()
    .filter_map(|(dimension, value)| Some((dimension, value?)))
}

/// The host of a referrer URL, lower-cased: `lakehouse_referrer_host()`, which takes the first
/// match of `^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)`. The user information is
/// skipped when a host follows it; otherwise the host is read from right after `://`.
fn referrer_host(referrer: &str) -> Option<String> {
    let bytes = referrer.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let scheme = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')))?;
    let rest = referrer[scheme..].strip_prefix("://")?;
    let host = |from: &str| -> Option<String> {
        let end = from.find(['/', '?', '#', ':']).unwrap_or(from.len());
        (end > 0).then(|| from[..end].to_lowercase())
    };
    let after_user = rest
        .find(['/', '?', '#', '@'])
        .filter(|&at| rest.as_bytes()[at] == b'@')
        .and_then(|at| host(&rest[at + 1..]));
    after_user.or_else(|| host(rest))
}

/// The funnel and step a `funnel_step` event's properties name: `lakehouse_funnel_step()`, a
/// string `funnel` and a `step` whose text is 1 to 9 digits without a leading zero.
fn funnel_step(properties: &Map<String, Value>) -> Option<(&str, i32)> {
    let Value::String(funnel) = properties.get("funnel")? else {
        return None;
    };
    let step = match properties.get("step")? {
        Value::String(text) => text.clone(),
        Value::Number(number) if number.is_i64() || number.is_u64() => number.to_string(),
        _ => return None,
    };
    let digits = step.as_bytes();
    let valid = (1..=9).contains(&digits.len()) && digits[0] != b'0' && digits.iter().all(u8::is_ascii_digit);
    Some((funnel, step.parse().ok().filter(|_| valid)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_referrer_host_is_read_as_the_sql_function_reads_it() {
        let cases = [
            ("https://www.Google.com/search?q=x", Some("www.google.com")),
            ("http://user:pw@Host.example:8080/a", Some("host.example")),
            ("http://a@b@c/", Some("b@c")),
            ("http://user@:80/", Some("user@")),
            ("http://@host", Some("host")),
            ("android-app://com.example.app", Some("com.example.app")),
            ("http://:80/", None),
            ("http:///path", None),
            ("//example.com/", None),
            ("1http://example.com", None),
            ("mailto:someone@example.com", None),
            ("", None),
        ];
        for (referrer, host) in cases {
            assert_eq!(referrer_host(referrer).as_deref(), host, "{referrer}");
        }
    }

    #[test]
    fn a_funnel_step_is_a_string_funnel_and_a_positive_step_of_at_most_nine_digits() {
        let step = |properties: Value| {
            funnel_step(properties.as_object().unwrap()).map(|(funnel, step)| (funnel.to_string(), step))
        };
        assert_eq!(
            step(json!({"funnel": "checkout", "step": 2})),
            Some(("checkout".into(), 2))
        );
        assert_eq!(
            step(json!({"funnel": "checkout", "step": "3"})),
            Some(("checkout".into(), 3))
        );
        assert_eq!(
            step(json!({"funnel": "f", "step": 999_999_999})),
            Some(("f".into(), 999_999_999))
        );
        for refused in [
            json!({"funnel": "f", "step": 0}),
            json!({"funnel": "f", "step": "03"}),
            json!({"funnel": "f", "step": 1_000_000_000}),
            json!({"funnel": "f", "step": -1}),
            json!({"funnel": "f", "step": 2.5}),
            json!({"funnel": "f", "step": true}),
            json!({"funnel": 7, "step": 1}),
            json!({"step": 1}),
            json!({"funnel": "f"}),
        ] {
            assert_eq!(step(refused.clone()), None, "{refused}");
        }
    }

    fn event(at: &str, session: &str) -> EnrichedEvent {
        let mut e = lakehouse_testkit::sample_event(session);
        e.timestamp = at.parse().unwrap();
        e
    }

    #[test]
    fn events_of_one_key_make_one_row_and_buckets_are_utc_minutes_and_hours() {
        let mut aggregates = Aggregates::new(&DerivedTables::default());
        let mut first = event("2026-11-01T10:15:59.999Z", "s1");
        first.value = Some(1.5);
        let mut second = event("2026-11-01T10:15:00Z", "s1");
        second.value = Some(2.0);
        let later = event("2026-11-01T10:16:00Z", "s2");
        for e in [&first, &second, &later] {
            aggregates.add(e);
        }
        let minute = "2026-11-01T10:15:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_micros();
        let rollups: Vec<_> = aggregates.rollups.iter().map(|(k, s)| (k.bucket, *s)).collect();
        assert_eq!(
            rollups,
            [
                (
                    minute,
                    Sums {
                        events: 2,
                        value_sum: 3.5
                    }
                ),
                (
                    minute + MINUTE_MICROS,
                    Sums {
                        events: 1,
                        value_sum: 0.0
                    }
                )
            ]
        );
        let hour = minute - 15 * MINUTE_MICROS;
        let sessions: Vec<_> = aggregates.unique_ids.iter().map(|u| (u.bucket, &*u.id)).collect();
        assert_eq!(sessions, [(hour, "s1"), (hour, "s2")]);
        assert_eq!(aggregates.dimensions.len(), 1, "one path in one hour");
        assert_eq!(aggregates.dimensions.values().next().unwrap().events, 3);
        assert!(aggregates.funnels.is_empty());
    }

    #[test]
    fn a_funnel_step_keeps_its_earliest_time_and_tables_not_maintained_stay_empty() {
        let mut aggregates = Aggregates::new(&DerivedTables::new([DerivedTable::Funnels]));
        for at in [
            "2026-11-01T10:00:05Z",
            "2026-11-01T09:59:00Z",
            "2026-11-01T10:30:00Z",
        ] {
            let mut e = event(at, "s");
            e.event_type = "funnel_step".into();
            e.properties = json!({"funnel": "checkout", "step": 1})
                .as_object()
                .unwrap()
                .clone();
            aggregates.add_copied(&e);
        }
        let earliest = "2026-11-01T09:59:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_micros();
        assert_eq!(
            aggregates.funnels.values().copied().collect::<Vec<_>>(),
            [earliest]
        );
        assert_eq!(aggregates.len(), 1, "no rollups, ids or breakdowns");
    }

    #[test]
    fn a_time_before_1970_truncates_down() {
        assert_eq!(truncate(-1, MINUTE_MICROS), -MINUTE_MICROS);
        assert_eq!(truncate(HOUR_MICROS + 1, HOUR_MICROS), HOUR_MICROS);
    }
}
