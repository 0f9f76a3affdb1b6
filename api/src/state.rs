//! What the handler, its extractors and its layers share: [`AppState`], from which each extractor
//! takes only the part it needs (`FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;
use lakehouse_telemetry::Health;
use tokio::sync::Semaphore;

use crate::client_ip::TrustedProxies;
use crate::config::{HttpLimits, RequestLimits};
use crate::cors::CorsPolicy;
use crate::geoip::GeoIp;
use crate::keys::ApiKeys;
use crate::rate_limit::RateLimits;
use crate::sink::EventSink;
use crate::stored_keys::KeyStore;
use crate::visitor::{PrivacyPolicy, VisitorIds};

/// Cheap to clone; clones share the keys, the rate-limit buckets and the in-flight count.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub(crate) keys: Arc<KeyStore>,
    #[from_ref(skip)]
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) limits: RequestLimits,
    #[from_ref(skip)]
    pub(crate) health: Health,
    pub(crate) rate_limits: Arc<RateLimits>,
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    pub(crate) http: HttpLimits,
    /// Permits of the requests being handled (`http.max_concurrent_requests` in all).
    #[from_ref(skip)]
    pub(crate) in_flight: Arc<Semaphore>,
    #[from_ref(skip)]
    pub(crate) visitors: VisitorIds,
    #[from_ref(skip)]
    pub(crate) privacy: PrivacyPolicy,
    pub(crate) cors: Arc<CorsPolicy>,
    #[from_ref(skip)]
    pub(crate) geoip: GeoIp,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .field("http", &self.http)
            .field("cors", &self.cors)
            .field("geoip", &self.geoip)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state without rate limits and with default HTTP limits (see the `with_` methods).
    pub fn new(keys: ApiKeys, sink: Arc<dyn EventSink>, limits: RequestLimits, health: Health) -> Self {
        let http = HttpLimits::default();
        Self {
            keys: Arc::new(KeyStore::new(keys)),
            sink,
            limits,
            health,
            rate_limits: Arc::new(RateLimits::unlimited()),
            trusted_proxies: Arc::default(),
            in_flight: Arc::new(Semaphore::new(http.max_concurrent_requests)),
            http,
            visitors: VisitorIds::random(),
            privacy: PrivacyPolicy::default(),
            cors: Arc::new(CorsPolicy::default()),
            geoip: GeoIp::disabled(),
        }
    }

    /// Which origins may post, globally and per project (any origin, by default).
    pub fn with_cors(mut self, cors: CorsPolicy) -> Self {
        self.cors = Arc::new(cors);
        self
    }

    /// Where events' `country` comes from (nowhere, by default).
    pub fn with_geoip(mut self, geoip: GeoIp) -> Self {
        self.geoip = geoip;
        self
    }

    /// Checks keys against `keys` (static and stored ones) instead of the static keys alone.
    pub fn with_key_store(mut self, keys: Arc<KeyStore>) -> Self {
        self.keys = keys;
        self
    }

    /// How visitor ids are computed, and what `DNT` / `Sec-GPC` requests get.
    pub fn with_visitors(mut self, visitors: VisitorIds, privacy: PrivacyPolicy) -> Self {
        self.visitors = visitors;
        self.privacy = privacy;
        self
    }

    pub fn with_rate_limits(mut self, rate_limits: Arc<RateLimits>) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// The proxies believed about the client's address (none, by default: the socket's peer).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    pub fn with_http_limits(mut self, http: HttpLimits) -> Self {
        self.in_flight = Arc::new(Semaphore::new(http.max_concurrent_requests));
        self.http = http;
        self
    }
}
