//! Keys kept in PostgreSQL (`api_keys`, made by the warehouse's migrations), made, listed and
//! revoked with `lakehouse-api keys` as the schema's owner: only a key's SHA-256 and a short
//! prefix (to recognise it in a list) are stored; the key itself is shown once, when it is made.
//! The api reads them as its own login, a member of the key reader role (SELECT on `api_keys`
//! only). The api loads the live keys at start-up and every
//! `API_KEYS_REFRESH_SECS`, beside the static `API_KEYS`; when the database is away it keeps
//! serving from what it loaded last, and says so.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::keys::{ApiKeys, KeyHash, hash_key};

/// One stored key, without the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredKey {
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    /// The key's first characters.
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: the only time its plaintext exists outside the client.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub stored: StoredKey,
}

/// `lh_` and 48 hex digits (192 random bits).
fn new_key() -> String {
    let random: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|id| id.as_bytes()[..12].to_vec())
        .collect();
    format!("lh_{}", hex::encode(random))
}

/// Whether the table exists yet.
async fn table_exists(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass('api_keys') IS NOT NULL")
        .fetch_one(pool)
        .await
}

pub async fn create(pool: &PgPool, project_id: &str, name: &str) -> Result<CreatedKey, sqlx::Error> {
    let key = new_key();
    let stored: StoredKey = sqlx::query_as(
        "INSERT INTO api_keys (id, project_id, name, key_hash, key_prefix) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, project_id, name, key_prefix, created_at, revoked_at",
    )
    .bind(Uuid::now_v7())
    .bind(project_id)
    .bind(name)
    .bind(hash_key(&key).to_vec())
    .bind(&key[..9])
    .fetch_one(pool)
    .await?;
    Ok(CreatedKey { key, stored })
}

pub async fn list(pool: &PgPool) -> Result<Vec<StoredKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, project_id, name, key_prefix, created_at, revoked_at FROM api_keys ORDER BY created_at",
    )
    .fetch_all(pool)
    .await
}

/// Revokes a key; `false` when there is no such live key.
pub async fn revoke(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(revoked.rows_affected() == 1)
}

/// The stored keys: live ones with their project, and revoked ones (answered 403, not 401).
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub live: Vec<(KeyHash, String)>,
    pub revoked: Vec<KeyHash>,
}

/// Where stored keys come from (PostgreSQL, or a fake in tests).
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    async fn stored_keys(&self) -> Result<Stored, sqlx::Error>;
}

#[async_trait]
impl KeySource for PgPool {
    async fn stored_keys(&self) -> Result<Stored, sqlx::Error> {
        if !table_exists(self).await? {
            return Ok(Stored::default()); // the warehouse is not migrated yet
        }
        let rows: Vec<(Vec<u8>, String, bool)> =
            sqlx::query_as("SELECT key_hash, project_id, revoked_at IS NOT NULL FROM api_keys")
                .fetch_all(self)
                .await?;
        let mut stored = Stored::default();
        for (hash, project, revoked) in rows {
            let Ok(hash) = KeyHash::try_from(hash.as_slice()) else {
                continue;
            };
            if revoked {
                stored.revoked.push(hash);
            } else {
                stored.live.push((hash, project));
            }
        }
        Ok(stored)
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
            .push((hash_key("lh_stored"), "blog".into()));
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
            revoked: vec![hash_key("lh_stored")],
        };
        store.refresh(&source).await.unwrap();
        assert_eq!(store.status("lh_stored"), KeyStatus::Revoked);
        assert_eq!(store.status("nonsense"), KeyStatus::Unknown);
        assert_eq!(store.status("static-key"), project("shop"));
    }

    #[test]
    fn new_keys_are_long_random_and_prefixed() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert!(a.starts_with("lh_") && a.len() == 51, "{a}");
    }
}
