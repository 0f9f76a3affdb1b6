//! A small MaxMind DB writer for tests, written from the format's specification (version 2.0), since
//! no database ships with the project: a binary search tree with 24-bit records over the networks
//! given, the data section with one record per network, and the metadata map after its marker.
//! Networks must not overlap. The tests at the bottom prove the output with the `maxminddb`
//! reader itself, including its full `verify()`.

use std::net::IpAddr;

/// The bytes that end the data section and start the metadata.
const METADATA_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";
/// The zero bytes between the search tree and the data section.
const DATA_SECTION_SEPARATOR: usize = 16;

/// A data-section value (the types the tests need).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Uint16(u16),
    Uint32(u32),
    Uint64(u64),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::String(text.to_string())
    }
}

impl Value {
    pub fn map<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Self::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key.to_string(), value))
                .collect(),
        )
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::String(text) => {
                control(out, 2, text.len());
                out.extend_from_slice(text.as_bytes());
            }
            Self::Uint16(n) => unsigned(out, 5, u64::from(*n)),
            Self::Uint32(n) => unsigned(out, 6, u64::from(*n)),
            Self::Uint64(n) => unsigned(out, 9, *n),
            Self::Map(entries) => {
                control(out, 7, entries.len());
                for (key, value) in entries {
                    Self::String(key.clone()).encode(out);
                    value.encode(out);
                }
            }
            Self::Array(items) => {
                control(out, 11, items.len());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// A record as GeoIP2 country databases hold it: `{"country": {"iso_code", "geoname_id"}}`.
pub fn country(iso_code: &str) -> Value {
    let geoname_id = iso_code.bytes().fold(0u32, |id, byte| {
        id.wrapping_mul(256).wrapping_add(u32::from(byte))
    });
    Value::map([(
        "country",
        Value::map([
            ("iso_code", Value::from(iso_code)),
            ("geoname_id", Value::Uint32(geoname_id)),
        ]),
    )])
}

/// The control byte (type in the top 3 bits, extended types in a second byte) and the size, with
/// the spec's 1-, 2- or 3-byte size extensions past 28.
fn control(out: &mut Vec<u8>, type_number: u8, size: usize) {
    let (size_bits, extension): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if type_number <= 7 {
        out.push((type_number << 5) | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_number - 7);
    }
    out.extend(extension);
}

/// Unsigned integers are big-endian in as few bytes as the value needs (none for 0).
fn unsigned(out: &mut Vec<u8>, type_number: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let significant = &bytes[(n.leading_zeros() / 8) as usize..];
    control(out, type_number, significant.len());
    out.extend_from_slice(significant);
}

#[derive(Debug, Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    /// An offset into the data section.
    Data(usize),
}

/// The networks and records of a database to write.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    ip_version: u16,
    networks: Vec<(IpAddr, u8, Value)>,
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDatabase {
    /// An IPv6 database (IPv4 networks in its `::/96` subtree), as the usual databases are.
    pub fn new() -> Self {
        Self {
            ip_version: 6,
            networks: Vec::new(),
        }
    }

    /// An IPv4-only database.
    pub fn ipv4_only() -> Self {
        Self {
            ip_version: 4,
            ..Self::new()
        }
    }

    /// Adds `cidr` (`81.2.69.0/24`, `2001:db8::/32`) with `record`.
    pub fn network(mut self, cidr: &str, record: Value) -> Self {
        let (address, prefix) = cidr.split_once('/').expect("a network in CIDR notation");
        let address: IpAddr = address.parse().expect("an IP address");
        let prefix: u8 = prefix.parse().expect("a prefix length");
        assert!(prefix >= 1, "a network of at least one bit");
        self.networks.push((address, prefix, record));
        self
    }

    /// The database file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes = vec![[Record::Empty; 2]];
        for (address, prefix, record) in &self.networks {
            let offset = data.len();
            record.encode(&mut data);
            let (key, depth) = self.tree_key(*address, *prefix);
            insert(&mut nodes, key, depth, offset);
        }

        let node_count = nodes.len();
        let pointer = |record: Record| match record {
            Record::Empty => node_count,
            Record::Node(node) => node,
            Record::Data(offset) => node_count + DATA_SECTION_SEPARATOR + offset,
        };
        let mut out = Vec::new();
        for node in &nodes {
            for record in node {
                let value = u32::try_from(pointer(*record)).expect("a small database");
                assert!(value < 1 << 24, "24-bit records");
                out.extend_from_slice(&value.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; DATA_SECTION_SEPARATOR]);
        out.extend_from_slice(&data);
        out.extend_from_slice(METADATA_MARKER);
        self.metadata(node_count).encode(&mut out);
        out
    }

    /// The address as the tree's bits (most significant first, right-aligned in a u128) and the
    /// depth of the network in the tree.
    fn tree_key(&self, address: IpAddr, prefix: u8) -> (u128, u8) {
        match (address, self.ip_version) {
            (IpAddr::V4(v4), 4) => {
                assert!(prefix <= 32);
                (u128::from(u32::from(v4)) << 96, prefix)
            }
            (IpAddr::V4(v4), _) => {
                assert!(prefix <= 32);
                (u128::from(u32::from(v4)), 96 + prefix)
            }
            (IpAddr::V6(v6), 6) => {
                assert!(prefix <= 128);
                (u128::from(v6), prefix)
            }
            (IpAddr::V6(_), _) => panic!("an IPv4 database holds no IPv6 network"),
        }
    }

    fn metadata(&self, node_count: usize) -> Value {
        Value::map([
            ("binary_format_major_version", Value::Uint16(2)),
            ("binary_format_minor_version", Value::Uint16(0)),
            ("build_epoch", Value::Uint64(1_795_000_000)),
            ("database_type", Value::from("Lakehouse-Test-Country")),
            (
                "description",
                Value::map([("en", Value::from("networks for the api's tests"))]),
            ),
            ("ip_version", Value::Uint16(self.ip_version)),
            ("languages", Value::Array(vec![Value::from("en")])),
            ("node_count", Value::Uint32(node_count as u32)),
            ("record_size", Value::Uint16(24)),
        ])
    }
}

/// Walks the first `depth` bits of `key` (from bit 127 down), making the nodes it needs, and points
/// the last record at `offset`.
fn insert(nodes: &mut Vec<[Record; 2]>, key: u128, depth: u8, offset: usize) {
    let mut node = 0;
    for level in 0..depth {
        let bit = ((key >> (127 - level)) & 1) as usize;
        if level + 1 == depth {
            assert!(
                matches!(nodes[node][bit], Record::Empty),
                "networks must not overlap"
            );
            nodes[node][bit] = Record::Data(offset);
            return;
        }
        node = match nodes[node][bit] {
            Record::Node(next) => next,
            Record::Empty => {
                nodes.push([Record::Empty; 2]);
                let next = nodes.len() - 1;
                nodes[node][bit] = Record::Node(next);
                next
            }
            Record::Data(_) => panic!("networks must not overlap"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::{PathElement, Reader, geoip2};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn reader(database: &TestDatabase) -> Reader<Vec<u8>> {
        let reader = Reader::from_source(database.build()).unwrap();
        reader.verify().expect("maxminddb verifies the whole file");
        reader
    }

    #[test]
    fn maxminddb_reads_the_metadata() {
        let reader = reader(&TestDatabase::new().network("81.2.69.0/24", country("DE")));
        let metadata = reader.metadata();
        assert_eq!(metadata.binary_format_major_version, 2);
        assert_eq!(metadata.ip_version, 6);
        assert_eq!(metadata.record_size, 24);
        assert_eq!(metadata.database_type, "Lakehouse-Test-Country");
        assert_eq!(metadata.languages, ["en"]);
        assert_eq!(metadata.description["en"], "networks for the api's tests");
        // The root, 96 nodes down to the IPv4 subtree, and 23 more to the /24.
        assert_eq!(metadata.node_count, 1 + 95 + 24);
    }

    #[test]
    fn maxminddb_finds_each_network_with_its_record_and_prefix() {
        let database = TestDatabase::new()
            .network("81.2.69.0/24", country("DE"))
            .network("81.2.70.0/23", country("AT"))
            .network("175.16.199.0/24", country("CN"))
            .network("2001:db8:1::/48", country("FR"));
        let reader = reader(&database);
        for (address, code, network) in [
            ("81.2.69.160", "DE", "81.2.69.0/24"),
            ("81.2.71.255", "AT", "81.2.70.0/23"),
            ("175.16.199.1", "CN", "175.16.199.0/24"),
            ("2001:db8:1:ffff::1", "FR", "2001:db8:1::/48"),
        ] {
            let found = reader.lookup(ip(address)).unwrap();
            assert!(found.has_data(), "{address}");
            let record: geoip2::Country = found.decode().unwrap().unwrap();
            assert_eq!(record.country.iso_code, Some(code), "{address}");
            assert_eq!(found.network().unwrap().to_string(), network, "{address}");
        }
        for address in ["81.2.68.255", "81.2.72.0", "1.1.1.1", "2001:db8:2::1"] {
            assert!(!reader.lookup(ip(address)).unwrap().has_data(), "{address}");
        }
    }

    #[test]
    fn maxminddb_reads_an_ipv4_only_database() {
        let database = TestDatabase::ipv4_only()
            .network("81.2.69.0/24", country("DE"))
            .network("128.0.0.0/1", country("US"));
        let reader = reader(&database);
        assert_eq!(reader.metadata().ip_version, 4);
        let code = |address| {
            reader
                .lookup(ip(address))
                .unwrap()
                .decode_path::<String>(&[PathElement::Key("country"), PathElement::Key("iso_code")])
                .unwrap()
        };
        assert_eq!(code("81.2.69.1").as_deref(), Some("DE"));
        assert_eq!(code("200.1.2.3").as_deref(), Some("US"));
        assert_eq!(code("81.2.68.1"), None);
    }

    #[test]
    fn every_size_encoding_and_value_type_decodes() {
        let long = |n| "x".repeat(n);
        let record = Value::map([
            ("short", Value::String(long(28))),
            ("one_byte_size", Value::String(long(284))),
            ("two_byte_size", Value::String(long(65_820))),
            ("three_byte_size", Value::String(long(65_821))),
            ("zero", Value::Uint32(0)),
            ("big", Value::Uint64(u64::MAX)),
            ("small", Value::Uint16(258)),
            ("list", Value::Array(vec![Value::from("a"), Value::from("b")])),
        ]);
        let reader = reader(&TestDatabase::new().network("192.0.2.0/24", record));
        let found = reader.lookup(ip("192.0.2.1")).unwrap();
        let decoded: std::collections::BTreeMap<String, serde_json::Value> = found.decode().unwrap().unwrap();
        assert_eq!(decoded["short"].as_str().unwrap().len(), 28);
        assert_eq!(decoded["one_byte_size"].as_str().unwrap().len(), 284);
        assert_eq!(decoded["two_byte_size"].as_str().unwrap().len(), 65_820);
        assert_eq!(decoded["three_byte_size"].as_str().unwrap().len(), 65_821);
        assert_eq!(decoded["zero"], 0);
        assert_eq!(decoded["big"], u64::MAX);
        assert_eq!(decoded["small"], 258);
        assert_eq!(decoded["list"], serde_json::json!(["a", "b"]));
    }

    #[test]
    #[should_panic(expected = "networks must not overlap")]
    fn overlapping_networks_are_refused() {
        TestDatabase::new()
            .network("81.2.0.0/16", country("DE"))
            .network("81.2.69.0/24", country("AT"))
            .build();
    }
}
