//! Enrichment: the server fields of DESIGN.md §5 that the api adds to a validated event.

use chrono::{DateTime, Duration, Utc};
use lakehouse_event::{ClientEvent, EnrichedEvent, SCHEMA_VERSION};
use uuid::Uuid;

use crate::user_agent::Client;

/// Times further ahead of receipt than this are not believed.
const MAX_FUTURE: Duration = Duration::hours(1);

/// What the api knows about the request an event came in.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub project_id: String,
    pub received_at: DateTime<Utc>,
    /// From the `User-Agent` header.
    pub client: Client,
    /// See [`crate::visitor`]; `None` when the client opted out or its IP is unknown.
    pub visitor_id: Option<String>,
    /// See [`crate::geoip`]; `None` without a database or for an address it does not place.
    pub country: Option<String>,
}

pub fn enrich(event: ClientEvent, request: &RequestContext) -> EnrichedEvent {
    let received_at = request.received_at;
    let (timestamp, timestamp_clamped) = corrected_timestamp(event.timestamp, event.sent_at, received_at);
    let (host, path) = event.url.as_deref().map(host_and_path).unwrap_or_default();
    EnrichedEvent {
        event_id: event.event_id.unwrap_or_else(Uuid::now_v7),
        project_id: request.project_id.clone(),
        event_type: event.event_type,
        event_name: event.event_name,
        session_id: event.session_id,
        user_id: event.user_id,
        visitor_id: request.visitor_id.clone(),
        timestamp,
        timestamp_clamped,
        sent_at: event.sent_at,
        received_at,
        url: event.url,
        host,
        path,
        referrer: event.referrer,
        title: event.title,
        value: event.value,
        properties: event.properties,
        browser: request.client.browser.clone(),
        os: request.client.os.clone(),
        device_type: request.client.device_type.clone(),
        country: request.country.clone(),
        schema_version: SCHEMA_VERSION,
    }
}

/// The client's time shifted by the client's clock skew (`received_at - sent_at`), or the receive
/// time when the client gave none; a result more than [`MAX_FUTURE`] ahead is clamped to the receive
/// time and flagged.
fn corrected_timestamp(
    timestamp: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> (DateTime<Utc>, bool) {
    let Some(timestamp) = timestamp else {
        return (received_at, false);
    };
    let corrected = match sent_at {
        Some(sent_at) => timestamp + (received_at - sent_at),
        None => timestamp,
    };
    if corrected > received_at + MAX_FUTURE {
        (received_at, true)
    } else {
        (corrected, false)
    }
}

fn host_and_path(raw: &str) -> (Option<String>, Option<String>) {
    match url::Url::parse(raw) {
        Ok(url) => (
            url.host_str().map(str::to_string),
            Some(url.path().to_string()).filter(|path| !path.is_empty()),
        ),
        Err(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, minute, 0).unwrap()
    }

    fn client(timestamp: Option<DateTime<Utc>>, sent_at: Option<DateTime<Utc>>) -> ClientEvent {
        ClientEvent {
            event_id: None,
            event_type: "page_view".into(),
            event_name: None,
            session_id: "s".into(),
            user_id: None,
            timestamp,
            sent_at,
            url: Some("https://shop.example/cart/items?id=3#top".into()),
            referrer: None,
            title: None,
            value: None,
            properties: Default::default(),
        }
    }

    fn request() -> RequestContext {
        RequestContext {
            project_id: "shop".into(),
            received_at: at(12, 0),
            ..RequestContext::default()
        }
    }

    #[test]
    fn without_a_client_time_the_receive_time_is_used() {
        let event = enrich(client(None, None), &request());
        assert_eq!(event.timestamp, at(12, 0));
        assert!(!event.timestamp_clamped);
    }

    #[test]
    fn client_clock_skew_is_corrected_by_sent_at() {
        // The client's clock runs 10 minutes fast: it stamped 11:55 and sent at 12:10 (its time),
        // we received at 12:00, so the event happened at 11:45.
        let event = enrich(client(Some(at(11, 55)), Some(at(12, 10))), &request());
        assert_eq!(event.timestamp, at(11, 45));
    }

    #[test]
    fn times_far_in_the_future_are_clamped_and_flagged() {
        let event = enrich(client(Some(at(13, 30)), None), &request());
        assert_eq!(event.timestamp, at(12, 0));
        assert!(event.timestamp_clamped);
        let event = enrich(client(Some(at(12, 59)), None), &request());
        assert_eq!(event.timestamp, at(12, 59));
        assert!(!event.timestamp_clamped);
    }

    #[test]
    fn host_and_path_come_from_the_url() {
        let event = enrich(client(None, None), &request());
        assert_eq!(event.host.as_deref(), Some("shop.example"));
        assert_eq!(event.path.as_deref(), Some("/cart/items"));
    }

    #[test]
    fn the_server_fields_are_set() {
        let event = enrich(client(None, None), &request());
        assert_eq!(event.project_id, "shop");
        assert_eq!(event.received_at, at(12, 0));
        assert_eq!(event.schema_version, SCHEMA_VERSION);
        assert_eq!(event.event_id.get_version_num(), 7, "a generated id is a UUIDv7");
    }

    #[test]
    fn a_client_event_id_is_kept() {
        let id = Uuid::new_v4();
        let mut event = client(None, None);
        event.event_id = Some(id);
        assert_eq!(enrich(event, &request()).event_id, id);
    }
}
