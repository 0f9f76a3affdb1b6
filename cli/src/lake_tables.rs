//! The lake's tables a rebuild or a reconcile reads (DESIGN.md §8.6, §9): every table of the lake,
//! or the one `--table` names, and the share of the warehouse's events they stand for. With
//! `LAKE_TABLES` the lake spreads the events over many tables while the warehouse holds them all;
//! each event is in one table (routing is a function of the event), so the union of the tables is
//! what the warehouse holds.
//!
//! The tables are read one after the other, each in a DataFusion session of its own
//! ([`LakeSource`]), rather than registered together in one session under a `UNION ALL`: a lake
//! may hold hundreds of tables, and an opened table keeps its log's state (every file it
//! references) in memory, so one session over all of them would hold every table's state at once
//! and plan a scan of every file of every table in one plan. One at a time holds one table's
//! state; the union needs no SQL either, since the rebuild's insert leaves out the ids the
//! warehouse already holds (so an event found twice is inserted once, as before) and the
//! reconcile's counts of disjoint tables add up.

use lakehouse_lake::{AsOf, LakeLocation, NoTable, TablePath, tables};
use lakehouse_progress::Phase;
use lakehouse_warehouse::Share;
use lakehouse_warehouse::counts::Counts;
use lakehouse_warehouse::range::HourRange;
use serde::Serialize;

use crate::error::{Result, TablesRefused};
use crate::lake::LakeSource;

/// A table that was read, and at which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableVersion {
    pub table: TablePath,
    pub version: Option<u64>,
}

/// The tables chosen from one lake, the version to read each at, and the warehouse's share.
#[derive(Debug, Clone)]
pub struct LakeTables {
    lake: LakeLocation,
    tables: Vec<TablePath>,
    at: AsOf,
    share: Share,
}

impl LakeTables {
    /// Every table of the lake at `lake` (`table` `None`), each at its latest version, or the
    /// table `table` at the version `at` selects. A lake that holds no table is an error; a
    /// version of several tables, or one table whose share of the warehouse cannot be told, is
    /// refused.
    ///
    /// The share: every event, when the tables read are all the lake holds; a project's events,
    /// for a project's table (each project's events are in its own table, DESIGN.md §8.6).
    pub async fn choose(lake: &LakeLocation, table: Option<&TablePath>, at: AsOf) -> Result<Self> {
        let found = tables(lake).await?;
        if found.is_empty() {
            return Err(lakehouse_lake::LakeError::from(NoTable(lake.uri.clone())).into());
        }
        let (tables, share) = match table {
            None if found.len() > 1 && (at.version.is_some() || at.as_of.is_some()) => {
                return Err(TablesRefused::VersionOfMany {
                    lake: lake.uri.clone(),
                    tables: found.len(),
                }
                .into());
            }
            None => (found, Share::Everything),
            Some(table) => match table.project_id() {
                Some(project_id) => (vec![table.clone()], Share::Project(project_id)),
                None if found == [table.clone()] => (found, Share::Everything),
                None => return Err(TablesRefused::NoShare(table.clone()).into()),
            },
        };
        Ok(Self {
            lake: lake.clone(),
            tables,
            at,
            share,
        })
    }

    /// The warehouse's events the tables hold.
    pub fn share(&self) -> &Share {
        &self.share
    }

    /// The table `read` names, at its version.
    pub async fn open(&self, read: &TableVersion) -> Result<LakeSource> {
        let at = AsOf {
            version: read.version,
            as_of: None,
        };
        LakeSource::open(&read.table.location(&self.lake), &at).await
    }

    /// Opens each table in turn at the version chosen (the latest when none was), and gives each
    /// to `read`, as the progress phase `phase` counting tables. Returns the version each was
    /// read at, so that a second pass ([`LakeTables::open`]) reads the same.
    async fn each(
        &self,
        phase: &str,
        mut read: impl AsyncFnMut(LakeSource) -> Result<()>,
    ) -> Result<Vec<TableVersion>> {
        let mut progress = Phase::start(phase, "tables", Some(self.tables.len() as u64));
        let mut versions = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let source = LakeSource::open(&table.location(&self.lake), &self.at).await?;
            versions.push(TableVersion {
                table: table.clone(),
                version: source.version(),
            });
            read(source).await?;
            progress.add(1);
        }
        progress.finish();
        Ok(versions)
    }

    /// Events per hour and event type in `range`, summed over the tables (each `event_id` once
    /// per table: see [`LakeSource::counts`]), and the version each table was read at.
    pub async fn counts(&self, phase: &str, range: &HourRange) -> Result<(Counts, Vec<TableVersion>)> {
        let mut counts = Counts::default();
        let versions = self
            .each(phase, async |source| {
                counts.merge(&source.counts(range).await?);
                Ok(())
            })
            .await?;
        Ok((counts, versions))
    }

    /// The rows the tables hold in `range` (what a rebuild reads), and the version each table was
    /// read at.
    pub async fn rows(&self, phase: &str, range: &HourRange) -> Result<(u64, Vec<TableVersion>)> {
        let mut rows = 0;
        let versions = self
            .each(phase, async |source| {
                rows += source.rows(range).await?;
                Ok(())
            })
            .await?;
        Ok((rows, versions))
    }
}

/// The one version read, when one table was: what the rebuild's and reconcile's results have
/// always named.
pub fn single_version(read: &[TableVersion]) -> Option<u64> {
    match read {
        [one] => one.version,
        _ => None,
    }
}
