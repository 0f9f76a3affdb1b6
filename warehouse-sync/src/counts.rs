//! Event counts per hour and event type: what each store says it holds, in one shape so that the
//! stores can be compared.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Events per (hour, event type); hours and types without events are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(BTreeMap<(DateTime<Utc>, String), i64>);

impl Counts {
    pub fn add(&mut self, hour: DateTime<Utc>, event_type: &str, events: i64) {
        *self.0.entry((hour, event_type.to_string())).or_default() += events;
    }

    pub fn get(&self, hour: DateTime<Utc>, event_type: &str) -> i64 {
        self.0
            .get(&(hour, event_type.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Every (hour, event type) with events.
    pub fn keys(&self) -> impl Iterator<Item = &(DateTime<Utc>, String)> {
        self.0.keys()
    }

    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }
}
