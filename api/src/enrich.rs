//! Enrichment: the server fields of DESIGN.md §5 that the api adds to a validated event.

use chrono::{DateTime, Duration, Utc};
use lakehouse_event::{ClientEvent, EnrichedEvent, MAX_UTM_CHARS, SCHEMA_VERSION, UTM_FIELDS};
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
    let parsed = event.url.as_deref().and_then(|raw| url::Url::parse(raw).ok());
    let (host, path) = parsed.as_ref().map(host_and_path).unwrap_or_default();
    let [utm_source, utm_medium, utm_campaign, utm_term, utm_content] = campaign(
        [
            event.utm_source,
            event.utm_medium,
            event.utm_campaign,
            event.utm_term,
            event.utm_content,
        ],
        parsed.as_ref(),
    );
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
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
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

fn host_and_path(url: &url::Url) -> (Option<String>, Option<String>) {
    (
        url.host_str().map(str::to_string),
        Some(url.path().to_string()).filter(|path| !path.is_empty()),
    )
}

/// The campaign fields ([`UTM_FIELDS`], in order): each as the client sent it, or else the
/// first non-empty value of the same parameter in the url's query, percent-decoded, without NUL
/// characters (PostgreSQL stores none) and cut to [`MAX_UTM_CHARS`] characters, the limit a sent
/// value is held to. A parameter named in another case (`UTM_Source`) is not read, as
/// analytics tools do.
fn campaign(sent: [Option<String>; 5], url: Option<&url::Url>) -> [Option<String>; 5] {
    let mut fields = sent;
    let Some(url) = url else { return fields };
    for (name, value) in url.query_pairs() {
        let Some(slot) = UTM_FIELDS.iter().position(|field| *field == name) else {
            continue;
        };
        if fields[slot].is_some() {
            continue;
        }
        let cleaned: String = value.chars().filter(|c| *c != '\0').take(MAX_UTM_CHARS).collect();
        if !cleaned.is_empty() {
            fields[slot] = Some(cleaned);
        }
    }
    fields
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
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
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

    fn from_url(url: &str) -> ClientEvent {
        ClientEvent {
            url: Some(url.into()),
            ..client(None, None)
        }
    }

    #[test]
    fn the_campaign_is_read_from_the_url_query() {
        let event = enrich(
            from_url(
                "https://shop.example/?utm_source=news%20letter&utm_medium=email&utm_campaign=bf-2026&utm_term=shoes&utm_content=hero&id=3",
            ),
            &request(),
        );
        assert_eq!(event.utm_source.as_deref(), Some("news letter"));
        assert_eq!(event.utm_medium.as_deref(), Some("email"));
        assert_eq!(event.utm_campaign.as_deref(), Some("bf-2026"));
        assert_eq!(event.utm_term.as_deref(), Some("shoes"));
        assert_eq!(event.utm_content.as_deref(), Some("hero"));
    }

    #[test]
    fn sent_campaign_fields_win_over_the_url() {
        let mut sent = from_url("https://shop.example/?utm_source=url&utm_campaign=from-url");
        sent.utm_source = Some("app".into());
        let event = enrich(sent, &request());
        assert_eq!(event.utm_source.as_deref(), Some("app"));
        assert_eq!(
            event.utm_campaign.as_deref(),
            Some("from-url"),
            "the fields not sent still come from the url"
        );
    }

    #[test]
    fn url_campaign_values_are_bounded_cleaned_and_may_be_absent() {
        let long = "x".repeat(MAX_UTM_CHARS + 10);
        let event = enrich(
            from_url(&format!(
                "https://shop.example/?utm_source=a%00b&utm_medium=&utm_medium=cpc&utm_term={long}&UTM_Content=no"
            )),
            &request(),
        );
        assert_eq!(
            event.utm_source.as_deref(),
            Some("ab"),
            "no NUL reaches the stores"
        );
        assert_eq!(
            event.utm_medium.as_deref(),
            Some("cpc"),
            "the first non-empty value"
        );
        assert_eq!(
            event.utm_term.map(|term| term.chars().count()),
            Some(MAX_UTM_CHARS)
        );
        assert_eq!(event.utm_content, None, "parameter names are case-sensitive");
        assert_eq!(event.utm_campaign, None);
        let plain = enrich(client(None, None), &request());
        assert_eq!((plain.utm_source, plain.utm_campaign), (None, None));
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
