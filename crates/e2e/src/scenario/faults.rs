//! The faults phase: in a cycle, each at a random moment, the stream-processor and the
//! delta-writer killed with SIGKILL and restarted; the broker frozen (SIGSTOP) and resumed; a
//! second processor and writer joining their groups and leaving; PostgreSQL stopped and started;
//! the object store frozen and resumed.

use std::time::{Duration, Instant};

use lakehouse_testkit::{Frozen, Part, faults, random_between};

use super::process::Service;
use super::system::System;
use super::timeline::Timeline;

/// The faults, one after another with random pauses, until `until`.
pub async fn inject_faults(system: &mut System, until: Instant, timeline: &mut Timeline) {
    let pause = || random_between(Duration::from_secs(2), Duration::from_secs(3));
    let mut round = 0;
    while Instant::now() < until {
        round += 1;
        let steps: [&str; 6] = [
            "kill processor",
            "kill writer",
            "freeze broker",
            "join and leave",
            "restart postgres",
            "freeze store",
        ];
        for step in steps {
            if Instant::now() >= until {
                break;
            }
            tokio::time::sleep(pause()).await;
            match step {
                "kill processor" => {
                    kill_and_restart(&mut system.processors[0], "stream-processor", round, timeline).await;
                }
                "kill writer" => {
                    kill_and_restart(&mut system.writers[0], "delta-writer", round, timeline).await;
                }
                "freeze broker" => {
                    let frozen = Frozen::freeze(Part::Tansu);
                    timeline.note(format!("round {round}: broker frozen"));
                    tokio::time::sleep(random_between(Duration::from_secs(4), Duration::from_secs(4))).await;
                    drop(frozen);
                    timeline.note("broker resumed".into());
                }
                "join and leave" => {
                    system.processors[1].start();
                    system.writers[1].start();
                    timeline.note(format!(
                        "round {round}: a second stream-processor and delta-writer joined"
                    ));
                    tokio::time::sleep(random_between(Duration::from_secs(8), Duration::from_secs(6))).await;
                    system.processors[1].terminate().await;
                    system.writers[1].terminate().await;
                    timeline.note("the second stream-processor and delta-writer left (SIGTERM)".into());
                }
                "restart postgres" => {
                    faults::stack("stop", Part::Postgres);
                    timeline.note(format!("round {round}: PostgreSQL stopped"));
                    tokio::time::sleep(random_between(Duration::from_secs(2), Duration::from_secs(3))).await;
                    faults::stack("start", Part::Postgres);
                    timeline.note("PostgreSQL started".into());
                }
                "freeze store" => {
                    let frozen = Frozen::freeze(Part::Moto);
                    timeline.note(format!("round {round}: object store frozen"));
                    tokio::time::sleep(random_between(Duration::from_secs(4), Duration::from_secs(4))).await;
                    drop(frozen);
                    timeline.note("object store resumed".into());
                }
                _ => unreachable!(),
            }
            system.api.assert_running();
            system.processors[0].assert_running();
            system.writers[0].assert_running();
        }
    }
}

/// A crashed consumer and its restart: `service` (`what` in the timeline) SIGKILLed, as a crash
/// or an OOM kill (nothing flushed, nothing committed), then started again at once, as Kubernetes
/// or systemd does: the new member joins while the dead one's session is still alive, and must get
/// partitions anyway (static membership where the broker honours it, the stall watchdog where it
/// does not).
pub async fn kill_and_restart(service: &mut Service, what: &str, round: u32, timeline: &mut Timeline) {
    service.kill().await;
    timeline.note(format!("round {round}: {what} SIGKILLed"));
    service.start();
    timeline.note(format!("{what} restarted"));
}
