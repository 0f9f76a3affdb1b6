//! The settle phase: after the load, both stores catch up with every accepted event, and the
//! services that ran all along are still running.

use std::collections::HashSet;
use std::time::Duration;

use lakehouse_testkit::try_wait_until;
use uuid::Uuid;

use super::Scenario;

/// How long the stores may take to catch up after the load.
const PATIENCE: Duration = Duration::from_secs(300);
/// How much of each log a store that did not catch up prints.
const LOG_LINES: usize = 25;

impl Scenario {
    /// Waits until the warehouse and then the lake hold (at least) as many events as were
    /// accepted; the checks then look at which.
    pub async fn settle(&mut self, accepted: &HashSet<Uuid>) {
        let pool = self.system.pool().await;
        let warehouse = try_wait_until("the warehouse holds every accepted event", PATIENCE, || {
            let pool = pool.clone();
            let expected = accepted.len();
            async move {
                let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                if stored as usize >= expected {
                    Ok(())
                } else {
                    Err(format!("{stored} of {expected}"))
                }
            }
        })
        .await;
        self.caught_up_or_explain(warehouse, "stream-processor");
        self.timeline.note("the warehouse caught up".into());
        let lake = try_wait_until("the lake holds every accepted event", PATIENCE, || {
            let lake = &self.system.lake;
            let expected = accepted.len();
            async move {
                let counts = lake.id_counts().await?;
                if counts.len() >= expected {
                    Ok(())
                } else {
                    Err(format!("{} of {expected}", counts.len()))
                }
            }
        })
        .await;
        self.caught_up_or_explain(lake, "delta-writer");
        self.timeline.note("the lake caught up".into());
        let system = &mut self.system;
        for service in [&mut system.api, &mut system.processors[0], &mut system.writers[0]] {
            service.assert_running();
        }
        self.warehouse = Some(pool);
    }

    /// Panics when a store did not catch up, with the end of the logs of the services that feed
    /// it (named `sink`, `sink-2`, ...), so that a failed run says why.
    fn caught_up_or_explain(&self, waited: Result<(), String>, sink: &str) {
        let Err(message) = waited else { return };
        let system = &self.system;
        let tails: Vec<String> = system
            .processors
            .iter()
            .chain(&system.writers)
            .filter(|service| service.name.starts_with(sink))
            .map(|service| service.log_tail(LOG_LINES))
            .collect();
        panic!("{message}\n{}", tails.join("\n"));
    }
}
