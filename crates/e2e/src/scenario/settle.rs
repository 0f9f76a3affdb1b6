//! The settle phase: after the load, both stores catch up with every accepted event, and the
//! services that ran all along are still running.

use std::collections::HashSet;
use std::time::Duration;

use lakehouse_testkit::wait_until;
use uuid::Uuid;

use super::Scenario;

/// How long the stores may take to catch up after the load.
const PATIENCE: Duration = Duration::from_secs(300);

impl Scenario {
    /// Waits until the warehouse and then the lake hold (at least) as many events as were
    /// accepted; the checks then look at which.
    pub async fn settle(&mut self, accepted: &HashSet<Uuid>) {
        let pool = self.system.pool().await;
        wait_until("the warehouse holds every accepted event", PATIENCE, || {
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
        self.timeline.note("the warehouse caught up".into());
        wait_until("the lake holds every accepted event", PATIENCE, || {
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
        self.timeline.note("the lake caught up".into());
        let system = &mut self.system;
        for service in [&mut system.api, &mut system.processors[0], &mut system.writers[0]] {
            service.assert_running();
        }
        self.warehouse = Some(pool);
    }
}
