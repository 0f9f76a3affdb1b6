//! Optional GeoIP: the country of a client IP, from a MaxMind DB file (a MaxMind or DB-IP country
//! or city database) loaded into memory once at start-up. Only the ISO 3166-1 alpha-2 code leaves
//! this module; the IP is neither stored nor logged.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{PathElement, Reader};

#[cfg(any(test, feature = "test-support"))]
pub mod test_database;

/// Where a record keeps its country code, in both MaxMind's and DB-IP's layouts.
const COUNTRY_CODE: [PathElement<'static>; 2] = [PathElement::Key("country"), PathElement::Key("iso_code")];

#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot read the GeoIP database {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a MaxMind DB file")]
    Invalid {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}

/// Country lookups; without a database every lookup is `None`. Cheap to clone.
#[derive(Clone, Default)]
pub struct GeoIp {
    reader: Option<Arc<Reader<Vec<u8>>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field(
                "database_type",
                &self
                    .reader
                    .as_ref()
                    .map(|reader| &reader.metadata().database_type),
            )
            .finish()
    }
}

impl GeoIp {
    /// No database: no lookups, every country is `None`.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Reads the database at `path` into memory; a file that is missing, unreadable or not a
    /// MaxMind DB is an error, so that a misconfigured api refuses to start.
    pub fn open(path: &Path) -> Result<Self, GeoIpError> {
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(bytes).map_err(|source| GeoIpError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// A database already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, maxminddb::MaxMindDbError> {
        let reader = Reader::from_source(bytes)?;
        let metadata = reader.metadata();
        tracing::info!(
            database_type = %metadata.database_type,
            build_epoch = metadata.build_epoch,
            ip_version = metadata.ip_version,
            "GeoIP database loaded"
        );
        if metadata.ip_version == 4 {
            tracing::warn!("the GeoIP database holds IPv4 only: IPv6 clients get no country");
        }
        Ok(Self {
            reader: Some(Arc::new(reader)),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.reader.is_some()
    }

    /// The ISO 3166-1 alpha-2 code of the country `ip` is in; `None` without a database, for
    /// addresses that are not public (no database places them), for addresses the database does
    /// not hold, and for records without a well-formed country code.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let reader = self.reader.as_ref()?;
        // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        if !is_public(ip) {
            return None;
        }
        let code = match reader
            .lookup(ip)
            .and_then(|found| found.decode_path::<String>(&COUNTRY_CODE))
        {
            Ok(code) => code?,
            Err(error) => {
                // The error may name the address: log its kind only.
                tracing::debug!(error = error_kind(&error), "GeoIP lookup failed");
                return None;
            }
        };
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
    }
}

/// Whether `ip` could be a client on the internet: private, shared (carrier-grade NAT), loopback,
/// link-local and multicast addresses have no country, whatever a database file says.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local())
        }
    }
}

fn error_kind(error: &maxminddb::MaxMindDbError) -> &'static str {
    match error {
        maxminddb::MaxMindDbError::InvalidInput { .. } => "invalid_input",
        maxminddb::MaxMindDbError::Decoding { .. } => "decoding",
        maxminddb::MaxMindDbError::InvalidDatabase { .. } => "invalid_database",
        maxminddb::MaxMindDbError::ResourceLimit { .. } => "resource_limit",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::test_database::{TestDatabase, country};
    use super::*;
    use crate::sink::MemorySink;
    use crate::test_app::{from_peer, geoip, send, state};
    use axum::http::StatusCode;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn database() -> GeoIp {
        let bytes = TestDatabase::new()
            .network("81.2.69.0/24", country("DE"))
            .network("2001:db8:1::/48", country("FR"))
            .network("10.0.0.0/8", country("NL"))
            .network("198.51.100.0/24", maxminddb_record_without_country())
            .network("203.0.113.0/24", country("Germany"))
            .build();
        GeoIp::from_bytes(bytes).unwrap()
    }

    fn maxminddb_record_without_country() -> super::test_database::Value {
        use super::test_database::Value;
        Value::map([("continent", Value::map([("code", Value::from("EU"))]))])
    }

    #[test]
    fn an_address_in_a_known_network_gets_its_country() {
        let geoip = database();
        assert_eq!(geoip.country(ip("81.2.69.160")).as_deref(), Some("DE"));
        assert_eq!(geoip.country(ip("81.2.69.0")).as_deref(), Some("DE"));
        assert_eq!(geoip.country(ip("2001:db8:1:2::7")).as_deref(), Some("FR"));
    }

    #[test]
    fn an_ipv4_client_seen_through_a_dual_stack_socket_is_found() {
        assert_eq!(
            database().country(ip("::ffff:81.2.69.160")).as_deref(),
            Some("DE")
        );
    }

    #[test]
    fn addresses_outside_every_network_get_none() {
        let geoip = database();
        assert_eq!(geoip.country(ip("81.2.70.1")), None);
        assert_eq!(geoip.country(ip("8.8.8.8")), None);
        assert_eq!(geoip.country(ip("2001:db8:2::1")), None);
    }

    #[test]
    fn private_addresses_are_not_looked_up_even_if_the_database_has_them() {
        let geoip = database();
        assert_eq!(geoip.country(ip("10.1.2.3")), None);
        assert_eq!(geoip.country(ip("127.0.0.1")), None);
        assert_eq!(geoip.country(ip("::1")), None);
    }

    #[test]
    fn records_without_a_well_formed_country_code_get_none() {
        let geoip = database();
        assert_eq!(geoip.country(ip("198.51.100.7")), None, "no country");
        assert_eq!(geoip.country(ip("203.0.113.7")), None, "not ISO 3166-1 alpha-2");
    }

    #[test]
    fn without_a_database_nothing_is_looked_up() {
        let geoip = GeoIp::disabled();
        assert!(!geoip.is_enabled());
        assert_eq!(geoip.country(ip("81.2.69.160")), None);
    }

    #[test]
    fn a_missing_or_foreign_file_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/GeoLite2-Country.mmdb");
        let error = GeoIp::open(missing).unwrap_err();
        assert!(matches!(error, GeoIpError::Read { .. }), "{error}");
        assert!(error.to_string().contains("/nonexistent/GeoLite2-Country.mmdb"));

        let dir = std::env::temp_dir().join(format!("geoip-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let foreign = dir.join("not-a-database.mmdb");
        std::fs::write(&foreign, b"{\"country\": \"DE\"}").unwrap();
        let error = GeoIp::open(&foreign).unwrap_err();
        assert!(matches!(error, GeoIpError::Invalid { .. }), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_database_file_is_read_from_disk() {
        let dir = std::env::temp_dir().join(format!("geoip-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("country.mmdb");
        std::fs::write(
            &path,
            TestDatabase::new().network("81.2.69.0/24", country("DE")).build(),
        )
        .unwrap();
        let geoip = GeoIp::open(&path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(geoip.country(ip("81.2.69.1")).as_deref(), Some("DE"));
    }

    #[tokio::test]
    async fn events_get_the_country_of_their_client_ip_and_not_the_ip() {
        let sink = MemorySink::default();
        let located = state(&sink).with_geoip(geoip());
        for peer in ["81.2.69.160", "2001:db8:1::9", "8.8.8.8", "10.0.0.1"] {
            let (status, _, _) = send(located.clone(), from_peer(peer, None)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{peer}");
        }
        let countries: Vec<_> = sink.events().into_iter().map(|e| e.country).collect();
        assert_eq!(
            countries,
            [Some("DE".to_string()), Some("FR".to_string()), None, None],
            "known networks, then an address the database lacks and a private one"
        );
        let stored = serde_json::to_string(&sink.events()).unwrap();
        assert!(!stored.contains("81.2.69.160") && !stored.contains("2001:db8:1::9"));
    }

    #[tokio::test]
    async fn without_a_database_no_event_gets_a_country() {
        let sink = MemorySink::default();
        let (status, _, _) = send(state(&sink), from_peer("81.2.69.160", None)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(sink.events()[0].country, None);
    }
}
