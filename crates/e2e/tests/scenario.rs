//! The reliability scenario (issue 8, DESIGN.md §3): the whole system on the real stack, the three
//! service binaries as child processes, load from the bench generator while faults are injected,
//! then every promise checked at once (the harness and its phases: `lakehouse_e2e::scenario`).
//!
//! Faults, in a cycle, each at a random moment: the stream-processor and the delta-writer killed
//! with SIGKILL and restarted; the broker frozen (SIGSTOP) and resumed; a second processor and
//! writer joining their groups and leaving; PostgreSQL stopped and started; the object store
//! frozen and resumed. The generator behaves as an SDK: a refused request (503, 429, a timeout) is
//! sent again with the same `event_id`s until it is accepted.
//!
//! The short run is part of `scripts/test`; `scripts/soak` is the long one (`SCENARIO_SECONDS`,
//! `SCENARIO_RATE`, `SCENARIO_BATCH`, `SCENARIO_REPORT`, `SCENARIO_FAULTS`: see the harness).
//!
//! It freezes and restarts the shared stack, so it is its own test target and its only test.

use lakehouse_e2e::scenario::Scenario;
use lakehouse_e2e::scenario::checks;
use lakehouse_e2e::scenario::report::Findings;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_duplicated_under_faults() {
    let mut scenario = Scenario::start().await;

    // Load, with faults injected all along; every request is answered in the end.
    let run = scenario.load_under_faults().await;
    let accepted = checks::every_request_was_answered(&scenario, &run);

    // Both stores catch up, then every promise is checked at once.
    scenario.settle(&accepted).await;
    let stores = checks::each_accepted_event_is_once_in_both_stores(&scenario, &accepted).await;
    checks::derived_tables_equal_their_recomputation(&scenario).await;
    let dead_letters = checks::nothing_went_to_the_dead_letter_queue(&scenario).await;
    let freshness = checks::every_event_became_visible(&scenario, &run, &accepted, &stores).await;

    // With the services stopped: the whole topic, the stores and the logs.
    scenario.stop_services().await;
    let topic = checks::the_topic_holds_exactly_the_accepted_events(&scenario, &accepted).await;
    checks::no_client_ip_at_rest(&scenario, &topic, &accepted).await;
    let log_lines = checks::no_secret_or_client_ip_in_any_log(&scenario);

    scenario.report(Findings {
        run: &run,
        accepted: &accepted,
        stores: &stores,
        dead_letters,
        freshness,
        topic: &topic,
        log_lines,
    });
}
