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
