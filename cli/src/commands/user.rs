//! `lakehouse user ...`: a user's rows in both stores, or in the one named (GDPR). Both are
//! audited in the warehouse's `audit_log`; the lake's commit carries the record too.

use lakehouse_audit::{ActorArgs, AuditLog, Audited, user_arguments};
use lakehouse_lake::{EraseOptions, LakeLocation, User};
use serde_json::json;

use crate::args::{UserCommand, UserEraseArgs, UserExportArgs};
use crate::erase::{self, UserExport};
use crate::warehouse;

pub async fn execute(actor: &ActorArgs, command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Export(args) => export(actor, args).await,
        UserCommand::Erase(args) => erase(actor, args).await,
    }
}

/// The stores a command names, for its audit record.
fn stores(warehouse: bool, lake: bool) -> Vec<&'static str> {
    [("warehouse", warehouse), ("lake", lake)]
        .into_iter()
        .filter_map(|(name, chosen)| chosen.then_some(name))
        .collect()
}

/// `user erase`: the warehouse, then the lake (unless one is left out).
async fn erase(actor: &ActorArgs, args: &UserEraseArgs) -> anyhow::Result<()> {
    let user = &args.erase.user;
    let mut arguments = user_arguments(&user.user_id, user.project_id.as_deref());
    arguments["dry_run"] = json!(args.erase.dry_run);
    arguments["stores"] = json!(stores(args.only.warehouse(), args.only.lake()));
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let audited = Audited::start(AuditLog::new(pool.clone()), actor, "gdpr.erase_user", arguments);
    let options = EraseOptions {
        user_metadata: Some(audited.commit_note()),
        ..(&args.erase).into()
    };
    let lake = LakeLocation::from(&args.stores.lake);
    let outcome = erase::erase_user(
        args.only.warehouse().then_some(&pool),
        args.only.lake().then_some(&lake),
        &User::from(user),
        &options,
    )
    .await;
    if let Ok(erased) = &outcome {
        tracing::info!(?erased, "user erase");
    }
    audited.conclude(outcome.map_err(anyhow::Error::from)).await
}

/// `user export`: the rows printed as one JSON document; the audit log keeps how many, never the
/// rows.
async fn export(actor: &ActorArgs, args: &UserExportArgs) -> anyhow::Result<()> {
    let user = &args.user;
    let mut arguments = user_arguments(&user.user_id, user.project_id.as_deref());
    arguments["stores"] = json!(stores(args.only.warehouse(), args.only.lake()));
    arguments["version"] = json!(args.at.version);
    arguments["as_of"] = json!(args.at.as_of);
    let pool = warehouse::connect(&args.stores.warehouse.database_url).await?;
    let audited = Audited::start(AuditLog::new(pool.clone()), actor, "gdpr.export_user", arguments);
    let lake = LakeLocation::from(&args.stores.lake);
    let at = args.at.into();
    let outcome = erase::export_user(
        args.only.warehouse().then_some(&pool),
        args.only.lake().then_some((&lake, &at)),
        &User::from(user),
    )
    .await
    .map_err(anyhow::Error::from);
    let counted = |export: &UserExport| {
        json!({"warehouse_rows": export.warehouse.as_ref().map(Vec::len),
               "lake_rows": export.lake.as_ref().map(Vec::len)})
    };
    let shown = |export: &UserExport| anyhow::Ok(serde_json::to_string_pretty(export)?);
    audited.conclude_as(outcome, counted, shown).await
}
