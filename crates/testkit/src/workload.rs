//! Events for tests: one plain event ([`sample_event`]), and the reference workload of DESIGN.md
//! §13: enriched events as the api would produce them, with realistic values (a few event types,
//! thousands of sessions, about 20 distinct days, every dashboard dimension filled most of the
//! time), about 500 bytes of JSON each. Deterministic: `(seed, index)` names one event, so a
//! benchmark's input is the same on every run and a test's expectations can be recomputed.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lakehouse_event::{EnrichedEvent, SCHEMA_VERSION};
use serde_json::{Map, Value, json};

/// Sessions in the workload; a visitor has about two.
pub const SESSIONS: u64 = 5_000;
/// Days the timestamps spread over, ending on [`last_day`].
pub const DAYS: u64 = 20;

const PATHS: [&str; 12] = [
    "/",
    "/pricing",
    "/docs",
    "/docs/getting-started",
    "/blog",
    "/blog/launch",
    "/about",
    "/signup",
    "/login",
    "/cart",
    "/checkout",
    "/account",
];
const REFERRERS: [&str; 5] = [
    "https://www.google.com/search?q=lakehouse",
    "https://news.ycombinator.com/item?id=1",
    "https://t.co/abc",
    "https://www.bing.com/search?q=analytics",
    "https://shop.example/pricing",
];
const BROWSERS: [&str; 4] = ["Chrome", "Firefox", "Safari", "Edge"];
const OSES: [&str; 5] = ["Windows", "macOS", "Linux", "iOS", "Android"];
const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
const COUNTRIES: [&str; 7] = ["US", "DE", "FR", "GB", "IN", "BR", "JP"];
/// Campaigns a session may have landed from: source, medium, campaign.
const CAMPAIGNS: [(&str, &str, &str); 4] = [
    ("newsletter", "email", "black-friday"),
    ("google", "cpc", "shoes-search"),
    ("facebook", "social", "black-friday"),
    ("partner", "referral", "spring-launch"),
];

/// The last day of the workload's timestamps (midnight, UTC).
pub fn last_day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// SplitMix64: a fast, well-mixed hash of a counter, enough for test data.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A stream of independent rolls for one event.
struct Rolls(u64);

impl Rolls {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// An enriched event as the api would produce it, for tests that feed Kafka directly.
pub fn sample_event(session_id: &str) -> EnrichedEvent {
    let now = chrono::Utc::now();
    EnrichedEvent {
        event_id: uuid::Uuid::now_v7(),
        project_id: "test".into(),
        event_type: "page_view".into(),
        event_name: None,
        session_id: session_id.into(),
        user_id: None,
        visitor_id: None,
        timestamp: now,
        timestamp_clamped: false,
        sent_at: None,
        received_at: now,
        url: Some("https://shop.example/".into()),
        host: Some("shop.example".into()),
        path: Some("/".into()),
        referrer: None,
        title: None,
        value: None,
        properties: Default::default(),
        browser: None,
        os: None,
        device_type: None,
        country: None,
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        utm_term: None,
        utm_content: None,
        schema_version: SCHEMA_VERSION,
    }
}

/// Event number `index` of the workload named by `seed`.
pub fn reference_event(seed: u64, index: u64) -> EnrichedEvent {
    let mut roll = Rolls(mix(seed) ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
    let session = roll.below(SESSIONS);
    // A session's visitor and device stay the same across its events.
    let mut per_session = Rolls(mix(seed ^ session.wrapping_mul(0xe703_7ed1_a0b4_28db)));
    let visitor = format!("{:016x}", mix(seed ^ (session / 2)));
    let anonymous = per_session.chance(10);
    let (browser, os, device) = (
        per_session.pick(&BROWSERS),
        per_session.pick(&OSES),
        per_session.pick(&DEVICES),
    );
    let country = (!per_session.chance(10)).then(|| per_session.pick(&COUNTRIES));
    // One session in eight came from a campaign; every event of the session carries it.
    let campaign = per_session.chance(12).then(|| per_session.pick(&CAMPAIGNS));

    let kind = roll.below(100);
    let (event_type, event_name, value, properties) = match kind {
        0..60 => ("page_view", None, None, Map::new()),
        60..80 => {
            let name = if roll.chance(50) { "cta_button" } else { "nav_link" };
            let properties = json!({"element": "button", "position": roll.below(5)});
            ("click", Some(name), None, object(properties))
        }
        80..85 => {
            let name = if roll.chance(70) { "checkout" } else { "subscribe" };
            let cents = 499 + roll.below(20_000);
            let properties = json!({"currency": "EUR", "items": 1 + roll.below(4)});
            (
                "conversion",
                Some(name),
                Some(cents as f64 / 100.0),
                object(properties),
            )
        }
        85..95 => {
            let properties = json!({"funnel": "checkout", "step": 1 + roll.below(4)});
            ("funnel_step", None, None, object(properties))
        }
        _ => (
            "signup",
            Some("newsletter"),
            None,
            object(json!({"plan": "free"})),
        ),
    };
    let path = roll.pick(&PATHS);
    let timestamp = last_day() - Duration::days(roll.below(DAYS) as i64)
        + Duration::milliseconds(roll.below(86_400_000) as i64);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&roll.next().to_le_bytes());
    id[8..].copy_from_slice(&roll.next().to_le_bytes());

    EnrichedEvent {
        event_id: uuid::Builder::from_random_bytes(id).into_uuid(),
        project_id: if roll.chance(80) { "shop" } else { "docs" }.into(),
        event_type: event_type.into(),
        event_name: event_name.map(Into::into),
        session_id: format!("session-{session:05}"),
        user_id: roll.chance(30).then(|| format!("user-{}", session / 3)),
        visitor_id: (!anonymous).then_some(visitor),
        timestamp,
        timestamp_clamped: false,
        // Browser SDKs send their clock; server-side senders mostly do not.
        sent_at: roll
            .chance(30)
            .then(|| timestamp + Duration::milliseconds(roll.below(2_000) as i64)),
        received_at: timestamp + Duration::milliseconds(50 + roll.below(500) as i64),
        url: Some(format!("https://shop.example{path}")),
        host: Some("shop.example".into()),
        path: Some(path.into()),
        referrer: roll.chance(40).then(|| roll.pick(&REFERRERS).into()),
        title: Some(format!("Shop: {path}")),
        value,
        properties,
        browser: Some(browser.into()),
        os: Some(os.into()),
        device_type: Some(device.into()),
        country: country.map(Into::into),
        utm_source: campaign.map(|(source, _, _)| source.into()),
        utm_medium: campaign.map(|(_, medium, _)| medium.into()),
        utm_campaign: campaign.map(|(_, _, name)| name.into()),
        utm_term: None,
        utm_content: None,
        schema_version: SCHEMA_VERSION,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_index_give_the_same_event() {
        assert_eq!(reference_event(7, 42), reference_event(7, 42));
        assert_ne!(reference_event(7, 42).event_id, reference_event(7, 43).event_id);
        assert_ne!(reference_event(7, 42).event_id, reference_event(8, 42).event_id);
    }

    #[test]
    fn events_are_about_500_bytes_and_valid_for_the_warehouse() {
        let events: Vec<_> = (0..10_000).map(|i| reference_event(1, i)).collect();
        let bytes: usize = events.iter().map(|e| serde_json::to_vec(e).unwrap().len()).sum();
        let mean = bytes / events.len();
        assert!((450..=530).contains(&mean), "mean size {mean} bytes");
        let days: std::collections::BTreeSet<_> = events.iter().map(|e| e.event_date()).collect();
        assert_eq!(days.len() as u64, DAYS);
        let sessions: std::collections::BTreeSet<_> = events.iter().map(|e| &e.session_id).collect();
        assert!(sessions.len() > 4_000, "{} sessions", sessions.len());
        for e in events.iter().filter(|e| e.event_type == "funnel_step") {
            assert!(
                e.properties["step"]
                    .as_u64()
                    .is_some_and(|s| (1..=4).contains(&s))
            );
        }
    }
}
