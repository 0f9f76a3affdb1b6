//! The reliability scenario (DESIGN.md §3): the whole system on the real stack, the three service
//! binaries as child processes, load from the bench generator while faults are injected, then
//! every promise checked at once. `crates/e2e/tests/scenario.rs` runs it; `scripts/soak` runs it
//! long (RELIABILITY.md records the soaks).
//!
//! The harness is [`Scenario`]; the phases are its modules, in the order a run goes through them:
//! [`system`] starts everything, [`load`] sends the load while [`faults`] are injected, [`settle`]
//! waits until both stores caught up, [`checks`] checks each promise and [`report`] reports the
//! run. [`process`] is a service binary as a child process, [`timeline`] what happened when.
//!
//! The run's size comes from the environment ([`settings`]): `SCENARIO_SECONDS` of load (default
//! 60), `SCENARIO_RATE` requests/s (default 40) of `SCENARIO_BATCH` events (default 10), a JSON
//! report written to `SCENARIO_REPORT` if set, and `SCENARIO_FAULTS=0` for load without faults
//! (the freshness of a healthy system).

pub mod checks;
pub mod faults;
pub mod load;
pub mod process;
pub mod report;
pub mod settings;
pub mod settle;
pub mod system;
pub mod timeline;

use lakehouse_testkit::Stack;
use sqlx::PgPool;

use self::settings::{Secrets, Settings};
use self::system::System;
use self::timeline::Timeline;

/// Partitions of the scenario's topic.
pub const PARTITIONS: i32 = 6;
/// Client addresses the generator sends through the api's trusted proxy header; none may be
/// stored anywhere.
pub const CLIENT_IPS: [&str; 3] = ["198.51.100.23", "203.0.113.77", "2001:db8::4a:17"];
/// A text every event the generator sends holds (the host of its URL).
pub const CONTROL: &str = "shop.example";

/// One run of the scenario: its settings and secrets, the system under test, and what happened.
#[derive(Debug)]
pub struct Scenario {
    pub settings: Settings,
    pub secrets: Secrets,
    pub timeline: Timeline,
    pub system: System,
    /// A pool on the warehouse, made once the load is over.
    warehouse: Option<PgPool>,
}

impl Scenario {
    /// Reads the settings, makes this run's secrets, and starts the system on the local stack.
    pub async fn start() -> Self {
        let settings = Settings::from_env();
        let secrets = Secrets::new();
        let mut timeline = Timeline::default();
        let system = System::start(Stack::from_env(), &secrets).await;
        timeline.note(format!(
            "started: {} s of load, {} requests/s of {} events; logs in {}",
            settings.load.as_secs(),
            settings.rate,
            settings.batch,
            system.logs.display()
        ));
        Self {
            settings,
            secrets,
            timeline,
            system,
            warehouse: None,
        }
    }

    /// The warehouse of the run, once [`Scenario::settle`] has made its pool.
    pub fn warehouse(&self) -> &PgPool {
        self.warehouse
            .as_ref()
            .expect("the scenario has settled before its warehouse is read")
    }

    /// The stream-processor, the delta-writer and the api stopped cleanly (SIGTERM), in that
    /// order, so that the topic can be read to its end without consumers reading the markers.
    pub async fn stop_services(&mut self) {
        let system = &mut self.system;
        for service in [&mut system.processors[0], &mut system.writers[0], &mut system.api] {
            service.terminate().await;
        }
    }
}
