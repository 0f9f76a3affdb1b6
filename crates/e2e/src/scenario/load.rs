//! The load phase: the bench generator posts events to the api for `SCENARIO_SECONDS` as an SDK
//! would (a refused request, 503, 429 or a timeout, is sent again with the same `event_id`s until
//! it is accepted), from client addresses behind the api's trusted proxy, while the faults phase
//! runs beside it.

use std::time::{Duration, Instant};

use lakehouse_bench::load::{self, Load, Report, Retry};

use super::faults::inject_faults;
use super::{CLIENT_IPS, Scenario};

/// The load that was sent and what the generator saw.
#[derive(Debug)]
pub struct LoadRun {
    pub load: Load,
    pub report: Report,
}

impl Scenario {
    /// Runs the load to its end, with the faults injected all along (unless `SCENARIO_FAULTS=0`).
    pub async fn load_under_faults(&mut self) -> LoadRun {
        let settings = &self.settings;
        let load = Load {
            concurrency: 16,
            rate: Some(settings.rate),
            batch: settings.batch,
            duration: settings.load,
            warmup: Duration::ZERO,
            retry: Some(Retry {
                give_up_after: Duration::from_secs(180),
                max_backoff: Duration::from_secs(2),
            }),
            track: true,
            forwarded_for: CLIENT_IPS.iter().map(|ip| ip.to_string()).collect(),
            timeout: Duration::from_secs(10),
            ..Load::new(
                format!("{}/analytics", self.system.api_url),
                self.secrets.api_key.expose(),
            )
        };
        let generator = tokio::spawn(load::run(load.clone()));
        // Faults stop a few seconds before the load does, so that the last one is recovered under load.
        let faults_until = Instant::now() + settings.load.saturating_sub(Duration::from_secs(8));
        if settings.faults {
            inject_faults(&mut self.system, faults_until, &mut self.timeline).await;
        }
        let report = generator
            .await
            .expect("the generator")
            .expect("the generator's client");
        self.timeline
            .note(format!("load done: {}", report.summary(&load)));
        LoadRun { load, report }
    }
}
