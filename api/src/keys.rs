//! Ingest keys. Only the SHA-256 of each key is kept in memory; a presented key is hashed and
//! compared with every stored hash in constant time, so neither timing nor a memory dump gives a
//! key away.

pub use lakehouse_warehouse::api_keys::{KeyHash, hash_key};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("entry {index} of API_KEYS is not `project_id:key` or `project_id:sha256:<64 hex digits>`")]
    Malformed { index: usize },
    #[error("entry {index} of API_KEYS has an empty project id or key")]
    Empty { index: usize },
}

/// The static keys from configuration.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(KeyHash, String)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("count", &self.keys.len())
            .finish()
    }
}

impl ApiKeys {
    /// Parses `API_KEYS`: comma-separated `project_id:key` or `project_id:sha256:<hex>` entries.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (project, key) = entry.split_once(':').ok_or(KeyError::Malformed { index })?;
            let hash = match key.strip_prefix("sha256:") {
                Some(hex_digest) => {
                    let mut hash = [0u8; 32];
                    hex::decode_to_slice(hex_digest, &mut hash).map_err(|_| KeyError::Malformed { index })?;
                    hash
                }
                None if key.is_empty() => return Err(KeyError::Empty { index }),
                None => hash_key(key),
            };
            if project.is_empty() {
                return Err(KeyError::Empty { index });
            }
            keys.push((hash, project.to_string()));
        }
        Ok(Self { keys })
    }

    /// These keys and `more` (the keys stored in the database).
    pub fn with(&self, more: impl IntoIterator<Item = (KeyHash, String)>) -> Self {
        let mut keys = self.keys.clone();
        keys.extend(more);
        Self { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The project a presented key belongs to.
    pub fn project_of(&self, presented: &str) -> Option<&str> {
        let presented = hash_key(presented);
        // Compare with every key, not stopping at a match, so the time does not tell which matched.
        let mut found = None;
        for (hash, project) in &self.keys {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(project.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed_keys_map_to_their_project() {
        let hashed = hex::encode(hash_key("k-two"));
        let keys = ApiKeys::parse(&format!("shop:k-one, blog:sha256:{hashed}")).unwrap();
        assert_eq!(keys.project_of("k-one"), Some("shop"));
        assert_eq!(keys.project_of("k-two"), Some("blog"));
        assert_eq!(keys.project_of("k-three"), None);
        assert_eq!(keys.project_of(""), None);
    }

    #[test]
    fn an_empty_spec_has_no_keys() {
        assert!(ApiKeys::parse("").unwrap().is_empty());
    }

    #[test]
    fn malformed_entries_are_refused_with_their_position() {
        assert_eq!(
            ApiKeys::parse("shop:k,nokey").unwrap_err(),
            KeyError::Malformed { index: 1 }
        );
        assert_eq!(
            ApiKeys::parse("shop:sha256:xyz").unwrap_err(),
            KeyError::Malformed { index: 0 }
        );
        assert_eq!(ApiKeys::parse(":k").unwrap_err(), KeyError::Empty { index: 0 });
        assert_eq!(ApiKeys::parse("shop:").unwrap_err(), KeyError::Empty { index: 0 });
    }

    #[test]
    fn keys_never_appear_in_debug_output() {
        let keys = ApiKeys::parse("shop:very-secret").unwrap();
        assert!(!format!("{keys:?}").contains("very-secret"));
    }
}
