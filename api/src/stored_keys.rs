//! Keys kept in PostgreSQL (`api_keys`, [`lakehouse_warehouse::api_keys`]: made, listed and
//! revoked with `lakehouse keys`). The api loads the live keys at start-up and every
//! `API_KEYS_REFRESH_SECS`, beside the static `API_KEYS`; when the database is away it keeps
//! serving from what it loaded last, and says so.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use lakehouse_warehouse::api_keys;
pub use lakehouse_warehouse::api_keys::Stored;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::keys::ApiKeys;

/// Where stored keys come from (PostgreSQL, or a fake in tests).
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    async fn stored_keys(&self) -> Result<Stored, sqlx::Error>;
}

#[async_trait]
impl KeySource for PgPool {
    async fn stored_keys(&self) -> Result<Stored, sqlx::Error> {
        api_keys::stored(self).await
    }
}

/// What a presented key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    Live { project_id: String },
    Revoked,
    Unknown,
}

/// The keys the api checks against: the static ones plus the stored ones last loaded.
#[derive(Debug)]
pub struct KeyStore {
    configured: ApiKeys,
    current: RwLock<Arc<(ApiKeys, ApiKeys)>>,
}

impl KeyStore {
    pub fn new(configured: ApiKeys) -> Self {
        Self {
            current: RwLock::new(Arc::new((configured.clone(), ApiKeys::default()))),
            configured,
        }
    }

    /// What `presented` is: a live key of a project, a revoked key, or nothing we know.
    pub fn status(&self, presented: &str) -> KeyStatus {
        let keys = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (live, revoked) = keys.as_ref();
        if let Some(project) = live.project_of(presented) {
            KeyStatus::Live {
                project_id: project.to_string(),
            }
        } else if revoked.project_of(presented).is_some() {
            KeyStatus::Revoked
        } else {
            KeyStatus::Unknown
        }
    }

    /// Loads the stored keys once; on failure the keys loaded before stay in force.
    pub async fn refresh(&self, source: &dyn KeySource) -> Result<usize, sqlx::Error> {
        let stored = source.stored_keys().await?;
        let live = self.configured.with(stored.live);
        let revoked = ApiKeys::default().with(stored.revoked.into_iter().map(|hash| (hash, String::new())));
        let count = live.len();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new((live, revoked));
        Ok(count)
    }

    /// Refreshes every `interval` until `shutdown`, logging when the database is away and when it
    /// is back.
    pub async fn refresh_every(
        self: Arc<Self>,
        source: Arc<dyn KeySource>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut failing = false;
        let mut ticks = tokio::time::interval(interval);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            match self.refresh(source.as_ref()).await {
                Ok(count) if failing => {
                    failing = false;
                    tracing::info!(keys = count, "API keys reloaded from the database again");
                }
                Ok(_) => {}
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot load API keys from the database; serving the keys loaded before");
                    }
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers with its keys, or fails while told to.
    #[derive(Default)]
    struct FakeSource {
        keys: Mutex<Stored>,
        down: Mutex<bool>,
    }

    #[async_trait]
    impl KeySource for FakeSource {
        async fn stored_keys(&self) -> Result<Stored, sqlx::Error> {
            if *self.down.lock().unwrap() {
                return Err(sqlx::Error::PoolTimedOut);
            }
            Ok(self.keys.lock().unwrap().clone())
        }
    }

    fn project(name: &str) -> KeyStatus {
        KeyStatus::Live {
            project_id: name.into(),
        }
    }

    #[tokio::test]
    async fn stored_keys_join_the_static_ones_and_outlive_a_database_outage() {
        let store = KeyStore::new(ApiKeys::parse("shop:static-key").unwrap());
        let source = FakeSource::default();
        source
            .keys
            .lock()
            .unwrap()
            .live
            .push((api_keys::hash_key("lh_stored"), "blog".into()));
        assert_eq!(store.status("lh_stored"), KeyStatus::Unknown, "not loaded yet");
        assert_eq!(store.refresh(&source).await.unwrap(), 2);
        assert_eq!(store.status("lh_stored"), project("blog"));
        assert_eq!(store.status("static-key"), project("shop"));

        *source.down.lock().unwrap() = true;
        assert!(store.refresh(&source).await.is_err());
        assert_eq!(
            store.status("lh_stored"),
            project("blog"),
            "served from the cache"
        );

        *source.down.lock().unwrap() = false;
        *source.keys.lock().unwrap() = Stored {
            live: vec![],
            revoked: vec![api_keys::hash_key("lh_stored")],
        };
        store.refresh(&source).await.unwrap();
        assert_eq!(store.status("lh_stored"), KeyStatus::Revoked);
        assert_eq!(store.status("nonsense"), KeyStatus::Unknown);
        assert_eq!(store.status("static-key"), project("shop"));
    }
}
