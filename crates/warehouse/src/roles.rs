//! The warehouse's roles by name ([`Roles`]) and the lock every change of their grants and
//! policies takes: what the grants ([`crate::grants`]) and the project readers
//! ([`crate::project_readers`]) share.

/// The roles' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub reader: String,
    pub writer: String,
    /// The api's: `SELECT` on `api_keys` only.
    pub key_reader: String,
}

/// The roles' names unless configured otherwise (`WAREHOUSE_*_ROLE`).
pub const DEFAULT_READER: &str = "lakehouse_reader";
pub const DEFAULT_WRITER: &str = "lakehouse_writer";
pub const DEFAULT_KEY_READER: &str = "lakehouse_key_reader";

impl Default for Roles {
    fn default() -> Self {
        Self {
            reader: DEFAULT_READER.into(),
            writer: DEFAULT_WRITER.into(),
            key_reader: DEFAULT_KEY_READER.into(),
        }
    }
}

/// The lock every change of grants and policies takes first, for the rest of its transaction.
pub(crate) async fn lock(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lakehouse.grants'))")
        .execute(tx)
        .await?;
    Ok(())
}
