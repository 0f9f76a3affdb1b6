//! Restore: the dry run of making an older version of the chosen table the latest, shown as the
//! diff it would make;
//! performed only when the browser was started with `--allow-restore`, after a confirmation (the
//! version typed again and a name), and logged with who, when and from which version to which —
//! in the log and in the restore commit's `userMetadata`, as the CLI's restore records itself.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::Utc;
use lakehouse_audit::Action;
use lakehouse_lake::{AsOf, RestoreOptions, diff, restore};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::layout::{Nav, page};
use crate::pages::diff::diff_view;
use crate::selection::{Params, as_of, open};
use crate::state::AppState;

/// The longest name a confirmation may carry.
const MAX_NAME: usize = 64;

pub async fn preview(
    State(state): State<AppState>,
    chosen: ChosenTable,
    Query(params): Query<Params>,
) -> Result<Markup, PageError> {
    let at = as_of(&params)?;
    if at.version.is_none() && at.as_of.is_none() {
        let body = html! {
            h1 { "Restore" }
            p { "Choose the version to make the latest again; the next page shows what that would change before anything is done." }
            (choose(&chosen, None))
        };
        return Ok(page("Restore", Nav::Restore, Some(chosen.name.as_str()), body));
    }
    let latest = open(&chosen, &AsOf::default()).await?;
    let target = open(&chosen, &at).await?;
    let (from, to) = (latest.version, target.version);
    let body = if from == to {
        html! {
            h1 { "Restore" }
            (choose(&chosen, Some(to)))
            p.note { "Version " (to) " is the latest: there is nothing to restore." }
        }
    } else {
        let dry_run = restore(
            latest.table.clone(),
            &target.table,
            &RestoreOptions {
                dry_run: true,
                user_metadata: None,
            },
        )
        .await?;
        let change = diff(&latest.table, &target.table).await?;
        html! {
            h1 { "Restore " code { (chosen.name) } " to version " (to) }
            (choose(&chosen, Some(to)))
            p #plan {
                "A restore would make a new version whose rows are those of version " (to)
                " (now " (from) "): " (dry_run.files_removed) " data files removed and "
                (dry_run.files_added) " added. History stays, so the restore can be undone the same way."
            }
            (diff_view(&change))
            @if state.settings.allow_restore {
                form.confirm method="post" action=(chosen.href("/restore", &[])) {
                    input type="hidden" name="from" value=(from);
                    input type="hidden" name="to" value=(to);
                    input type="hidden" name="signature" value=(state.sign_restore(&chosen.path, from, to));
                    label { "Your name " input type="text" name="name" required maxlength=(MAX_NAME); }
                    label { "Type " strong { (to) } " to confirm " input type="text" name="confirm" required autocomplete="off"; }
                    button.danger type="submit" { "Restore version " (to) }
                }
            } @else {
                p.note #restore-disabled {
                    "This lake browser was started without " code { "--allow-restore" } ": it only previews. "
                    "To restore, run " code { "lakehouse lake restore --table " (chosen.name) " --version " (to) } "."
                }
            }
        }
    };
    Ok(page(
        &format!("Restore {} to version {to}", chosen.name),
        Nav::Restore,
        Some(chosen.name.as_str()),
        body,
    ))
}

fn choose(chosen: &ChosenTable, version: Option<u64>) -> Markup {
    html! {
        form.selection method="get" action="/restore" {
            (chosen.field())
            label { "Version " input type="number" name="version" min="0" value=[version]; }
            label { "or as of " input type="text" name="as_of" placeholder="2026-11-22T08:00:00Z"; }
            button type="submit" { "Preview" }
        }
    }
}

/// The confirmation form's fields.
#[derive(Debug, Deserialize)]
pub struct Confirmation {
    from: u64,
    to: u64,
    signature: String,
    name: String,
    confirm: String,
}

/// Restores the table the form's address names (`/restore?table=...`), which its signature binds.
pub async fn perform(
    State(state): State<AppState>,
    chosen: ChosenTable,
    headers: HeaderMap,
    Form(confirmation): Form<Confirmation>,
) -> Result<Markup, PageError> {
    if !state.settings.allow_restore {
        return Err(PageError::Forbidden(
            "this lake browser was started without --allow-restore: it only previews".into(),
        ));
    }
    let Confirmation {
        from,
        to,
        signature,
        name,
        confirm,
    } = confirmation;
    if !state.verify_restore(&chosen.path, from, to, &signature) {
        return Err(PageError::Forbidden(
            "this confirmation did not come from this lake browser's preview: preview the restore again"
                .into(),
        ));
    }
    if confirm.trim() != to.to_string() {
        return Err(PageError::BadRequest(format!(
            "type the version number {to} to confirm the restore"
        )));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(PageError::BadRequest(format!(
            "give your name (at most {MAX_NAME} characters): the restore is logged with it"
        )));
    }
    let latest = open(&chosen, &AsOf::default()).await?;
    if latest.version != from {
        return Err(PageError::Conflict(format!(
            "the table moved on from version {from} to {} since the preview: preview the restore again",
            latest.version
        )));
    }
    let target = open(
        &chosen,
        &AsOf {
            version: Some(to),
            as_of: None,
        },
    )
    .await?;
    let proxy_user = headers
        .get("x-forwarded-user")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let action = Action::new(
        format!("lake-browser:{name}"),
        "lake.restore",
        json!({"table": chosen.path, "from_version": from, "to_version": to, "proxy_user": proxy_user}),
    );
    let options = RestoreOptions {
        dry_run: false,
        user_metadata: Some(action.commit_note()),
    };
    let restored = restore(latest.table, &target.table, &options).await?;
    tracing::warn!(
        table = %chosen.path,
        who = %name,
        proxy_user,
        when = %Utc::now().to_rfc3339(),
        from_version = from,
        to_version = to,
        new_version = ?restored.new_version,
        files_removed = restored.files_removed,
        files_added = restored.files_added,
        "the lake was restored from the lake browser"
    );
    let new_version = restored.new_version.unwrap_or_default();
    let body = html! {
        h1 { "Restored" }
        p #restored {
            "Version " strong { (new_version) } " of " code { (chosen.name) } " now holds the rows of version " (to)
            " (the latest was " (from) "). Restored by " (name) "; logged."
        }
        p {
            a href=(chosen.href("/", &[("version", new_version.to_string())])) { "Overview of version " (new_version) }
            " · "
            a href=(chosen.href("/history", &[])) { "History" }
        }
    };
    Ok(page("Restored", Nav::Restore, Some(chosen.name.as_str()), body))
}
