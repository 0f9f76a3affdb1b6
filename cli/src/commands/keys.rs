//! `lakehouse keys ...`: makes, lists or revokes a stored ingest key; making and revoking are
//! [`Audited`].

use anyhow::Context;
use lakehouse_audit::{ActorArgs, AuditLog, Audited};
use lakehouse_warehouse::api_keys::{self, CreatedKey};
use serde_json::json;

use super::print;
use crate::args::KeysCommand;
use crate::{output, warehouse};

/// What a keys command adds to a database error: the table is the warehouse's migrations'.
const NOT_MIGRATED: &str = "api_keys in DATABASE_URL (the stream-processor's migrations make it: \
    it migrates when it starts, or run `lakehouse warehouse migrate`)";

pub async fn execute(actor: &ActorArgs, command: &KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            warehouse,
            project_id,
            name,
        } => {
            let pool = warehouse::connect(&warehouse.database_url).await?;
            let audited = Audited::start(
                AuditLog::new(pool.clone()),
                actor,
                "api.keys.create",
                json!({"project_id": project_id, "name": name}),
            );
            let created = api_keys::create(&pool, project_id, name)
                .await
                .context(NOT_MIGRATED);
            // The record keeps the key's id, project and prefix, never the key; the key is
            // printed even when the record could not be stored.
            let kept = |created: &CreatedKey| serde_json::to_value(&created.stored).unwrap_or_default();
            let shown = |created: &CreatedKey| {
                tracing::info!("the key is shown this once; only its SHA-256 is stored");
                anyhow::Ok(serde_json::to_string_pretty(created)?)
            };
            audited.conclude_as(created, kept, shown).await
        }
        KeysCommand::List { warehouse, output } => {
            let pool = warehouse::connect(&warehouse.database_url).await?;
            let keys = api_keys::list(&pool).await.context(NOT_MIGRATED)?;
            print(&output::render(&keys, output.output)?);
            Ok(())
        }
        KeysCommand::Revoke { warehouse, id } => {
            let pool = warehouse::connect(&warehouse.database_url).await?;
            let audited = Audited::start(
                AuditLog::new(pool.clone()),
                actor,
                "api.keys.revoke",
                json!({"id": id}),
            );
            let outcome = match api_keys::revoke(&pool, *id).await {
                Ok(true) => Ok(json!({"revoked": id})),
                Ok(false) => Err(anyhow::anyhow!("no live key has the id {id}")),
                Err(error) => Err(anyhow::Error::new(error).context(NOT_MIGRATED)),
            };
            audited.conclude(outcome).await
        }
    }
}
