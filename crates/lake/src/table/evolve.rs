//! Schema evolution of the events table (DESIGN.md §8.1): the columns of [`events_schema`] that
//! the table lacks are added, nullable, in a metadata commit of their own before any data that
//! holds them; a column never changes type and a required one is never added. Columns the table
//! holds that this build does not know (a newer writer added them) stay; its files lack them and
//! readers see null.

use std::sync::LazyLock;

use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructField, StructType};

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::conflict::ConflictRetries;
use crate::table::schema::events_schema;

/// Why a table's schema cannot take the events schema by adding nullable columns: the writer
/// refuses to write to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "column {column} is `{table}` in the table but `{ours}` in the events schema this writer writes; \
         a column is never retyped or made required, so the writer refuses the table"
    )]
    Changed {
        column: String,
        table: String,
        ours: String,
    },
    #[error(
        "the table lacks the required column {0}; only nullable columns are ever added, so the writer refuses the table"
    )]
    RequiredMissing(String),
    #[error(
        "the table requires column {0}, which this writer does not know and cannot write; the writer refuses the table"
    )]
    RequiredUnknown(String),
    #[error(
        "the table lacks columns {0:?} of the files being committed; they are added before any data that holds them"
    )]
    NotEvolved(Vec<String>),
}

fold_into_lake_error!(SchemaError);

/// How a table's schema stands against the events schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evolution {
    /// Nullable columns of the events schema the table lacks, in the events schema's order.
    pub(crate) missing: Vec<StructField>,
    /// Nullable columns of the table the events schema lacks (a newer writer added them).
    pub(crate) unknown: Vec<String>,
}

/// The events schema as Delta describes it.
fn ours() -> &'static StructType {
    static OURS: LazyLock<StructType> = LazyLock::new(|| {
        events_schema()
            .as_ref()
            .try_into_kernel()
            .expect("the events schema has only types Delta knows")
    });
    &OURS
}

fn describe(field: &StructField) -> String {
    let null = if field.is_nullable() { "null" } else { "not null" };
    format!("{} {null}", field.data_type())
}

/// What the table whose schema is `table` needs to hold the events schema, or why it cannot.
pub(crate) fn plan(table: &StructType) -> Result<Evolution, SchemaError> {
    let mut missing = Vec::new();
    for field in ours().fields() {
        match table.field(field.name()) {
            None if field.is_nullable() => missing.push(field.clone()),
            None => return Err(SchemaError::RequiredMissing(field.name().clone())),
            // A required column of ours may be nullable in the table: we never write null there.
            Some(have)
                if have.data_type() != field.data_type() || (!have.is_nullable() && field.is_nullable()) =>
            {
                return Err(SchemaError::Changed {
                    column: field.name().clone(),
                    table: describe(have),
                    ours: describe(field),
                });
            }
            Some(_) => {}
        }
    }
    let mut unknown = Vec::new();
    for field in table.fields() {
        if ours().field(field.name()).is_none() {
            if !field.is_nullable() {
                return Err(SchemaError::RequiredUnknown(field.name().clone()));
            }
            unknown.push(field.name().clone());
        }
    }
    Ok(Evolution { missing, unknown })
}

/// Refuses a table whose schema `table` lacks columns of the events schema: a file holding them
/// must never be committed to it.
pub(crate) fn ensure_evolved(table: &StructType) -> Result<(), SchemaError> {
    let missing = plan(table)?.missing;
    if missing.is_empty() {
        return Ok(());
    }
    Err(SchemaError::NotEvolved(
        missing.iter().map(|f| f.name().clone()).collect(),
    ))
}

/// Adds the columns of the events schema that the loaded version of `table` lacks, in one
/// commit, and returns its version (`None` when nothing was missing). A table it cannot evolve is
/// a [`SchemaError`]. When another commit wins the race (another writer adding them, or a
/// restore), the table is reloaded and looked at again.
pub async fn add_missing_columns(table: &mut DeltaTable) -> Result<Option<u64>, LakeError> {
    let mut retries = ConflictRetries::new("add columns");
    loop {
        let added = add_once(table).await;
        if !retries.again(&added) {
            return added;
        }
        table.update_state().await?;
    }
}

async fn add_once(table: &mut DeltaTable) -> Result<Option<u64>, LakeError> {
    let Evolution { missing, unknown } = plan(&table.snapshot()?.schema())?;
    if missing.is_empty() {
        return Ok(None);
    }
    let columns: Vec<&String> = missing.iter().map(StructField::name).collect();
    tracing::info!(?columns, ?unknown, version = ?table.version(),
        "the table lacks columns of the events schema; adding them before writing");
    // Checkpoints and log cleanup are the writer's own, after its next commit.
    let properties = CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false));
    *table = table
        .clone()
        .add_columns()
        .with_fields(missing)
        .with_commit_properties(properties)
        .await?;
    Ok(table.version())
}

#[cfg(test)]
mod tests {
    use deltalake::kernel::DataType;
    use lakehouse_event::UTM_FIELDS;

    use super::*;

    fn without(names: &[&str]) -> Vec<StructField> {
        ours()
            .fields()
            .filter(|f| !names.contains(&f.name().as_str()))
            .cloned()
            .collect()
    }

    fn schema(fields: Vec<StructField>) -> StructType {
        StructType::try_new(fields).expect("a schema")
    }

    #[test]
    fn a_version_1_table_lacks_the_campaign_columns_in_order() {
        let evolution = plan(&schema(without(&UTM_FIELDS))).expect("evolvable");
        let names: Vec<&str> = evolution.missing.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, UTM_FIELDS);
        assert!(evolution.missing.iter().all(StructField::is_nullable));
        assert!(evolution.unknown.is_empty());
        let current = plan(ours()).expect("evolvable");
        assert!(current.missing.is_empty() && current.unknown.is_empty());
    }

    #[test]
    fn nullable_unknown_columns_stay_and_required_ones_are_refused() {
        let mut fields = without(&[]);
        fields.push(StructField::new("utm_future", DataType::STRING, true));
        let evolution = plan(&schema(fields.clone())).expect("evolvable");
        assert_eq!(evolution.unknown, ["utm_future"]);
        assert!(evolution.missing.is_empty());
        fields.push(StructField::new("tenant", DataType::STRING, false));
        assert_eq!(
            plan(&schema(fields)),
            Err(SchemaError::RequiredUnknown("tenant".into()))
        );
    }

    #[test]
    fn a_retyped_column_or_a_missing_required_one_is_refused() {
        let mut retyped = without(&["utm_source"]);
        retyped.push(StructField::new("utm_source", DataType::LONG, true));
        let error = plan(&schema(retyped)).unwrap_err();
        assert!(
            matches!(&error, SchemaError::Changed { column, table, .. } if column == "utm_source" && table == "long null"),
            "{error}"
        );
        let mut narrowed = without(&["utm_source"]);
        narrowed.push(StructField::new("utm_source", DataType::STRING, false));
        assert!(matches!(
            plan(&schema(narrowed)),
            Err(SchemaError::Changed { .. })
        ));
        assert_eq!(
            plan(&schema(without(&["project_id"]))),
            Err(SchemaError::RequiredMissing("project_id".into()))
        );
    }
}
