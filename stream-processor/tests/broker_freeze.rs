//! The broker hangs for longer than the processor's session: the member's session ends, and once
//! the broker answers again the member must be handed its partitions again and store what arrived
//! meanwhile, each event once. On tansu 0.6.0 as released the member's own late heartbeat ended
//! its session and left the group led by a member that no longer existed, so no member was ever
//! handed a partition again (DESIGN.md §6.6; the stack builds tansu with a fix). Its own test
//! binary, because it freezes the stack's shared broker.

use std::time::Duration;

mod common;

use common::start;
use lakehouse_testkit::{
    Frozen, Part, Stack, TempDatabase, TestTopic, produce, sample_event, stored_offsets, unique,
    wait_for_rows,
};
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_session_ended_while_the_broker_hung_reads_again() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let processor = start(&stack, &topic, &database, &unique("warehouse"));

    let first: Vec<_> = (0..100).map(|i| sample_event(&format!("s-{}", i % 7))).collect();
    produce(&stack, &topic.name, &first).await;
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    wait_for_rows(&pool, 100).await;

    // The fault itself lasts this long (nothing to wait for): past the session timeout, so that
    // the member's session ends with heartbeats it sent during the hang still on their way.
    let hang = lakehouse_kafka::SESSION_TIMEOUT + Duration::from_secs(3);
    let frozen = tokio::task::spawn_blocking(|| Frozen::freeze(Part::Tansu))
        .await
        .expect("scripts/stack runs");
    tokio::time::sleep(hang).await;
    tokio::task::spawn_blocking(move || drop(frozen))
        .await
        .expect("scripts/stack runs");

    let second: Vec<_> = (0..100).map(|i| sample_event(&format!("t-{}", i % 7))).collect();
    produce(&stack, &topic.name, &second).await;
    wait_for_rows(&pool, 200).await;
    assert_eq!(stored_offsets(&pool).await, 200);
    processor.stop().await;
}
