//! The ingest keys stored in `api_keys` (made by the migrations): only a key's SHA-256 and a
//! short prefix (to recognise it in a list) are stored; the key itself exists once, when it is
//! made, printed by `lakehouse keys create`. The api reads the hashes ([`stored`]) as its own
//! login, a member of the key reader role (SELECT on `api_keys` only).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The SHA-256 of a key.
pub type KeyHash = [u8; 32];

pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

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

/// Every stored key's hash: nothing before the warehouse is migrated.
pub async fn stored(pool: &PgPool) -> Result<Stored, sqlx::Error> {
    if !table_exists(pool).await? {
        return Ok(Stored::default());
    }
    let rows: Vec<(Vec<u8>, String, bool)> =
        sqlx::query_as("SELECT key_hash, project_id, revoked_at IS NOT NULL FROM api_keys")
            .fetch_all(pool)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_long_random_and_prefixed() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert!(a.starts_with("lh_") && a.len() == 51, "{a}");
    }
}
