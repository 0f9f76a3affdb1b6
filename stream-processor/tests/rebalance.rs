//! A partition that comes back after a rebalance is read from the sink's stored offset, on real
//! Kafka and PostgreSQL. librdkafka keeps the watermarks it last fetched for a partition across
//! assignments: when a second member read the partition further in between, those old watermarks
//! lie below the stored offset, and the first member must not take that for "stored offset past
//! the end of the log" (it once did, and paused the partition for good; the reliability scenario
//! found it).

mod common;

use std::time::Duration;

use common::start;
use lakehouse_testkit::{
    Stack, TempDatabase, TestTopic, produce, reference_event, rows_and_offsets, unique, wait_for_rows,
    wait_until,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;

/// Members of `group`, once the group is stable (a stable group has given each its partitions).
async fn assigned_members(stack: &Stack, group: &str) -> Result<usize, String> {
    let (config, group) = (stack.kafka_config(), group.to_string());
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer = config.create().map_err(|e| e.to_string())?;
        let groups = client
            .fetch_group_list(Some(&group), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        let info = groups.groups().first().ok_or("no such group")?;
        if info.state() != "Stable" {
            return Err(format!("the group is {}", info.state()));
        }
        Ok(info.members().len())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Waits until `group` is stable with `members` members, each with its partitions.
async fn wait_for_members(stack: &Stack, group: &str, members: usize) {
    wait_until(
        &format!("{members} members in {group}"),
        Duration::from_secs(60),
        || async move {
            match assigned_members(stack, group).await? {
                n if n == members => Ok(()),
                n => Err(format!("{n} members")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_back_from_another_member_is_read_from_its_stored_offset() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 2).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let events = |from: u64| -> Vec<_> { (from..from + 60).map(|i| reference_event(seed, i)).collect() };

    // The first member reads both partitions: librdkafka caches their watermarks.
    let first = start(&stack, &topic, &database, &group);
    produce(&stack, &topic.name, &events(0)).await;
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    wait_for_rows(&pool, 60).await;

    // A second member takes one partition and reads it further than the first one saw.
    let second = start(&stack, &topic, &database, &group);
    wait_for_members(&stack, &group, 2).await;
    produce(&stack, &topic.name, &events(60)).await;
    wait_for_rows(&pool, 120).await;

    // It leaves; the first member gets the partition back, with the old watermarks cached, and
    // must go on from the stored offset.
    second.stop().await;
    wait_for_members(&stack, &group, 1).await;
    produce(&stack, &topic.name, &events(120)).await;
    wait_for_rows(&pool, 180).await;
    assert_eq!(rows_and_offsets(&pool).await.expect("counts"), (180, 180, 180));
    first.stop().await;
}
