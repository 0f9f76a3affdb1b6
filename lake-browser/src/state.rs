//! What every page shares: the lake's location, the access rules, the SQL console's limits and its
//! query executor, whether restores may be performed, and the key that signs restore
//! confirmations.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use lakehouse_lake::{LakeLocation, QueryExecutor, QueryOptions, TablePath};
use lakehouse_telemetry::{Health, Secret};
use sha2::Sha256;

use crate::access::Access;

/// The SQL console shows at most this many rows unless told otherwise.
pub const DEFAULT_PAGE_ROWS: usize = 1_000;
/// A download holds at most this many rows unless told otherwise.
pub const DEFAULT_DOWNLOAD_ROWS: usize = 100_000;
/// Queries that run at once unless told otherwise.
pub const DEFAULT_QUERY_CONCURRENCY: usize = 2;

/// How the browser behaves, as plain values (the binary's config converts into this).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Required on every page when set; without it only loopback clients are served.
    pub token: Option<Secret>,
    pub allow_restore: bool,
    pub page_rows: usize,
    pub download_rows: usize,
    /// The console's queries: how many at once, their timeout and memory limit.
    pub queries: QueryOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token: None,
            allow_restore: false,
            page_rows: DEFAULT_PAGE_ROWS,
            download_rows: DEFAULT_DOWNLOAD_ROWS,
            queries: QueryOptions {
                concurrency: DEFAULT_QUERY_CONCURRENCY,
                ..QueryOptions::default()
            },
        }
    }
}

/// Shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub location: Arc<LakeLocation>,
    pub access: Arc<Access>,
    pub settings: Arc<Settings>,
    /// Runs the console's queries on threads of its own, never on those that serve the pages.
    pub queries: Arc<QueryExecutor>,
    pub health: Health,
    /// Signs restore confirmations, so that only a form this process showed can perform one.
    form_key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("location", &self.location)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Fails when the query executor's threads cannot be started.
    pub fn new(location: LakeLocation, settings: Settings, health: Health) -> std::io::Result<Self> {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Ok(Self {
            location: Arc::new(location),
            access: Arc::new(Access::new(settings.token.clone())),
            queries: Arc::new(QueryExecutor::new(settings.queries)?),
            settings: Arc::new(settings),
            health,
            form_key: Arc::new(key),
        })
    }

    /// The signature of a restore of `table` from version `from` to version `to`, for its
    /// confirmation form.
    pub fn sign_restore(&self, table: &TablePath, from: u64, to: u64) -> String {
        hex::encode(self.restore_mac(table, from, to).finalize().into_bytes())
    }

    /// Whether `signature` is this process's signature of the restore of `table` from `from` to
    /// `to` (a preview of one table does not restore another).
    pub fn verify_restore(&self, table: &TablePath, from: u64, to: u64, signature: &str) -> bool {
        hex::decode(signature)
            .is_ok_and(|bytes| self.restore_mac(table, from, to).verify_slice(&bytes).is_ok())
    }

    fn restore_mac(&self, table: &TablePath, from: u64, to: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.form_key.as_slice()).expect("HMAC takes keys of any length");
        // A table's folder holds no `:` (its values are encoded), so no two restores share a text.
        mac.update(format!("restore:{table}:{from}:{to}").as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_signatures_bind_the_table_both_versions_and_the_process() {
        let state = AppState::new(
            LakeLocation::default(),
            Settings::default(),
            Health::new("0", &[]),
        )
        .expect("the query threads");
        let events = TablePath::events();
        let shop = TablePath::project("shop");
        let signature = state.sign_restore(&events, 7, 3);
        assert!(state.verify_restore(&events, 7, 3, &signature));
        assert!(!state.verify_restore(&events, 7, 2, &signature));
        assert!(!state.verify_restore(&events, 8, 3, &signature));
        assert!(!state.verify_restore(&events, 7, 3, "00"));
        assert!(!state.verify_restore(&shop, 7, 3, &signature));
        let other = AppState::new(
            LakeLocation::default(),
            Settings::default(),
            Health::new("0", &[]),
        )
        .expect("the query threads");
        assert!(!other.verify_restore(&events, 7, 3, &signature));
    }
}
