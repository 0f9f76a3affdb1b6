//! Liveness across immediate restarts, on real Kafka and PostgreSQL, with the real binary: the
//! processor is SIGKILLed and started again at once ten times in a row while events keep
//! arriving, as an orchestrator restarts a crashed container. Each new process makes progress
//! within the session timeout plus ten seconds, and at the end every event is stored once.

use lakehouse_testkit::restart::{Load, PROGRESS_LIMIT, kill_and_restart, late, sink_binary, summary};
use lakehouse_testkit::warehouse::{stored_offsets_so_far, wait_for_rows_and_offsets};
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, spawn_service, unique};
use sqlx::PgPool;
use tokio::process::{Child, Command};

/// Starts the stream-processor binary as the group's static member `instance` (the same each
/// time, as a pod keeps its name across container restarts), with the production session
/// timeout; dropping the child SIGKILLs it.
fn spawn(stack: &Stack, topic: &TestTopic, database: &TempDatabase, group: &str, instance: &str) -> Child {
    let mut command = Command::new(sink_binary(env!("CARGO_BIN_EXE_lakehouse-stream-processor")));
    command
        .args(topic.flags(stack))
        .args([
            format!("--database-url={}", database.url),
            format!("--group-id={group}"),
            "--metrics-addr=127.0.0.1:0".into(),
            "--flush-max-events=100".into(),
            "--flush-max-age-ms=200".into(),
        ])
        .env("KAFKA_GROUP_INSTANCE_ID", instance);
    spawn_service(&mut command, "the stream-processor binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_restarted_at_once_after_each_sigkill_makes_progress_within_the_session_timeout() {
    const ROUNDS: usize = 10;
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 3).await;
    let database = TempDatabase::create(&stack).await;
    let group = unique("warehouse-restart");
    let instance = format!("{group}-0");
    let pool = PgPool::connect_lazy(&database.url).expect("the test database");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;

    let load = Load::start(&stack, &topic.name, seed, 20);
    let patience = PROGRESS_LIMIT * 3;
    let (mut last, took) = kill_and_restart(
        ROUNDS,
        patience,
        || spawn(&stack, &topic, &database, &group, &instance),
        // Before the first process creates the schema there is nothing stored: 0.
        async || stored_offsets_so_far(&pool).await,
    )
    .await;
    let produced = load.stop().await as i64;
    eprintln!("stream-processor: {}", summary(&took, patience));

    wait_for_rows_and_offsets(&pool, produced).await;
    last.start_kill().expect("SIGKILL");
    let late = late(&took);
    assert!(
        late.is_empty(),
        "restarts without progress within {PROGRESS_LIMIT:?}: {late:?} ({})",
        summary(&took, patience)
    );
}
