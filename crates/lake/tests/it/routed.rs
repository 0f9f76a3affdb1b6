//! Tables a routed writer made (`LAKE_TABLES=project`, DESIGN.md §8.6) are plain Delta tables:
//! Python `deltalake` reads each project's table, hostile project id included, and finds its rows
//! and nothing of another project; the same batch written again changes nothing.

use std::collections::BTreeMap;

use lakehouse_lake::{RoutedWriter, Routing, TablePath, WriterOptions, tables};
use lakehouse_testkit::Stack;

use crate::python_reader::read_version_with_python;
use crate::{TempLake, batch};

#[tokio::test]
async fn python_deltalake_reads_every_projects_table() {
    let stack = Stack::from_env();
    let lake = TempLake::new("routed-python");
    let mut writer = RoutedWriter::open(&lake.location, Routing::Project, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    let mut batch = batch(9, 0, 90);
    let projects = ["shop", "docs", "../escape"];
    for (index, record) in batch.records.iter_mut().enumerate() {
        record.event.project_id = projects[index % 3].into();
    }
    writer.write(&batch).await.expect("a routed batch");
    writer.write(&batch).await.expect("the same batch again: a retry");

    let found = tables(&lake.location).await.expect("the tables");
    let expected: Vec<TablePath> = ["../escape", "docs", "shop"].map(TablePath::project).into();
    assert_eq!(found, expected, "one table per project, none else");
    let mut rows = BTreeMap::new();
    for path in &found {
        let location = path.location(&lake.location);
        let url = location.events_url().expect("a URL");
        assert!(
            url.as_str()
                .starts_with(&format!("file://{}/projects/", lake.dir.display())),
            "{url}"
        );
        let read = read_version_with_python(&stack, url.as_str(), &serde_json::json!({}), None);
        rows.insert(path.to_string(), read["rows"].as_u64().expect("rows"));
    }
    assert_eq!(
        rows,
        BTreeMap::from([
            ("projects/_2E_2E_2Fescape".to_string(), 30),
            ("projects/docs".to_string(), 30),
            ("projects/shop".to_string(), 30),
        ]),
        "each project's rows once"
    );
}

/// Records kept by their tables as they arrive (`offer`, as the consume loop gives them) land in
/// their tables, and a table that gets nothing in a flush is not committed: quiet tables commit
/// at the writer's flushes that hold their events, not at every flush.
#[tokio::test]
async fn a_flush_commits_only_the_tables_it_holds_events_for() {
    let lake = TempLake::new("routed-quiet");
    let mut writer = RoutedWriter::open(&lake.location, Routing::Project, &WriterOptions::new("g"))
        .await
        .expect("the lake");
    let mut flush = async |first: u64, projects: &[&str]| {
        let mut batch = batch(9, first, 40);
        for (index, record) in batch.records.iter_mut().enumerate() {
            record.event.project_id = projects[index % projects.len()].into();
        }
        for record in &batch.records {
            assert!(writer.offer(record).await.is_some(), "the table keeps the record");
        }
        // What the loop hands over when the sink kept every record: only the offsets.
        batch.records.clear();
        writer.write(&batch).await.expect("a flush");
    };
    flush(0, &["shop", "docs"]).await;
    flush(40, &["shop"]).await;
    flush(80, &["shop"]).await;

    let mut versions = BTreeMap::new();
    let mut rows = BTreeMap::new();
    for project in ["shop", "docs"] {
        let location = TablePath::project(project).location(&lake.location);
        let table = lakehouse_lake::open_table(location.events_url().expect("a URL"), &location)
            .await
            .expect("the table");
        versions.insert(project, table.version());
        let held = lakehouse_lake::event_id_counts(&table).await.expect("its ids");
        rows.insert(project, held.values().sum::<i64>());
    }
    // Created at version 0; shop committed at each of the three flushes, docs at the first only.
    assert_eq!(versions, BTreeMap::from([("docs", Some(1)), ("shop", Some(3))]));
    assert_eq!(rows, BTreeMap::from([("docs", 20), ("shop", 100)]));
}
