//! A deployment (the chart as rendered, or compose) running as local processes, and what its
//! users rely on, checked through it: one visitor is one visitor on every api replica and across
//! restarts, what a client sends cannot choose its identity or its rate-limit bucket, keys made
//! with `lakehouse keys create` work on every replica and stop when revoked, every accepted
//! event lands once in both stores, each job runs as rendered, the lake browser asks for its
//! token. Clients reach the api through the deployment's ingress (a proxy that appends
//! `X-Forwarded-For`) where it has one, and otherwise each replica in turn, as a Service would.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lakehouse_testkit::{TempDatabase, try_wait_until, wait_until};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::deployment::{Kind, Pod, StackMapping, Workload};
use crate::ingress::Ingress;
use crate::lake::Lake;

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0";
/// Two clients behind the same browser, on loopback addresses of their own.
const CLIENT_A: [u8; 4] = [127, 0, 0, 2];
const CLIENT_B: [u8; 4] = [127, 0, 0, 3];
/// What client A claims to be.
const SPOOFED: &str = "198.51.100.66";
const PATIENCE: Duration = Duration::from_secs(90);

/// What a deployment under test is made of.
#[derive(Debug)]
pub struct Install {
    /// Names the deployment in failures: `chart defaults`, `compose`.
    pub label: String,
    pub workloads: Vec<Workload>,
    /// Whether clients come through an ingress that appends `X-Forwarded-For`.
    pub ingress: bool,
    pub map: StackMapping,
    /// The warehouse (its URL is the schema owner's).
    pub database: TempDatabase,
    pub lake: Lake,
    /// The pods' logs and files.
    pub dir: PathBuf,
    /// An ingest key the deployment's `API_KEYS` holds.
    pub key: String,
    /// The lake browser's token, where it runs.
    pub browser_token: String,
}

/// The deployment, running.
#[derive(Debug)]
pub struct Deployed {
    label: String,
    database: TempDatabase,
    /// The warehouse, as the checks read it (one pool for the whole test).
    warehouse: sqlx::PgPool,
    lake: Lake,
    jobs: Vec<Workload>,
    /// Pods by workload name.
    pods: BTreeMap<String, Vec<Pod>>,
    /// Each api replica's `host:port`.
    api: Vec<String>,
    ingress: Option<Ingress>,
    turn: AtomicUsize,
    /// `event_id`s the api accepted, each expected once in each store.
    accepted: Vec<Uuid>,
    map: StackMapping,
    /// The pods' logs and files (kept when the test fails: each failure quotes a log).
    dir: PathBuf,
    key: String,
    browser_token: String,
}

impl Deployed {
    /// Starts every service's pods (as many as its replicas) and waits until each is ready.
    pub async fn start(install: Install) -> Self {
        let Install {
            label,
            workloads,
            ingress,
            map,
            database,
            lake,
            dir,
            key,
            browser_token,
        } = install;
        let mut pods: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        let mut jobs = Vec::new();
        for workload in workloads {
            if workload.kind == Kind::Job {
                jobs.push(workload);
                continue;
            }
            for replica in 0..workload.replicas {
                let mut env = workload.env(replica);
                map.to_the_stack(&mut env);
                let name = format!("{}-{replica}", workload.name);
                let log = dir.join(format!("{name}.log"));
                pods.entry(workload.name.clone()).or_default().push(Pod::start(
                    &name,
                    &workload.command,
                    env,
                    &log,
                ));
            }
        }
        let api: Vec<String> = pods
            .values()
            .flatten()
            .filter(|pod| pod.command[0] == "lakehouse-api")
            .map(|pod| pod.env["LISTEN_ADDR"].clone())
            .collect();
        assert!(!api.is_empty(), "{label}: no api runs");
        let ingress = if ingress {
            Some(Ingress::start(api.clone()).await)
        } else {
            None
        };
        let warehouse = sqlx::PgPool::connect_lazy(&database.url).expect("the warehouse's URL");
        let deployed = Self {
            label,
            database,
            warehouse,
            lake,
            jobs,
            pods,
            api,
            ingress,
            turn: AtomicUsize::new(0),
            accepted: Vec::new(),
            map,
            dir,
            key,
            browser_token,
        };
        for pods in deployed.pods.values() {
            for pod in pods {
                deployed.wait_ready(pod).await;
            }
        }
        deployed
    }

    /// The pods running `binary`, if any.
    fn pods_of(&self, binary: &str) -> Option<&Vec<Pod>> {
        self.pods.values().find(|pods| pods[0].command[0] == binary)
    }

    fn api_pods(&self) -> &Vec<Pod> {
        self.pods_of("lakehouse-api").expect("the api")
    }

    fn api_pods_mut(&mut self) -> &mut Vec<Pod> {
        self.pods
            .values_mut()
            .find(|pods| pods[0].command[0] == "lakehouse-api")
            .expect("the api")
    }

    /// Waits until `pod` answers `/ready` on its listen or metrics address.
    async fn wait_ready(&self, pod: &Pod) {
        let address = pod
            .env
            .get("LISTEN_ADDR")
            .or_else(|| pod.env.get("METRICS_ADDR"))
            .unwrap_or_else(|| panic!("{} has no address", pod.name))
            .clone();
        let url = format!("http://{address}/ready");
        let result = try_wait_until(&format!("{} is ready", pod.name), PATIENCE, || {
            let url = url.clone();
            async move {
                match reqwest::get(&url).await {
                    Ok(answer) if answer.status().is_success() => Ok(()),
                    Ok(answer) => Err(answer.status().to_string()),
                    Err(error) => Err(error.to_string()),
                }
            }
        })
        .await;
        if let Err(message) = result {
            panic!("{}: {message}\n{}", self.label, pod.log_tail());
        }
    }

    /// Where a client's request goes: the ingress, or the next replica (as a Service picks one).
    fn front(&self) -> String {
        match &self.ingress {
            Some(ingress) => format!("{}/analytics", ingress.url),
            None => {
                let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.api.len();
                format!("http://{}/analytics", self.api[turn])
            }
        }
    }

    /// Posts one event as `client` with `key` to `url`, claiming `forwarded_for` if given; the
    /// status, and the event's id when it was accepted.
    async fn post(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        key: &str,
        session: &str,
        forwarded_for: Option<&str>,
    ) -> reqwest::StatusCode {
        let id = Uuid::new_v4();
        let mut request = client
            .post(url)
            .header("x-api-key", key)
            .json(&json!({"event_id": id, "event_type": "page_view", "session_id": session}));
        if let Some(claimed) = forwarded_for {
            request = request.header("x-forwarded-for", claimed);
        }
        let status = request.send().await.expect("the api answers").status();
        if status == reqwest::StatusCode::ACCEPTED {
            self.accepted.push(id);
        }
        status
    }

    /// Waits until the warehouse holds every accepted event.
    async fn wait_for_the_warehouse(&self) -> sqlx::PgPool {
        let pool = self.warehouse.clone();
        let ids = self.accepted.clone();
        let what = format!("{}: {} accepted events in the warehouse", self.label, ids.len());
        wait_until(&what, PATIENCE, || {
            let (pool, ids) = (pool.clone(), ids.clone());
            async move {
                let found: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_id = ANY($1)")
                    .bind(&ids)
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                (found as usize >= ids.len())
                    .then_some(())
                    .ok_or(format!("{found} of {}", ids.len()))
            }
        })
        .await;
        pool
    }

    /// Each session prefix's visitor ids in the warehouse.
    async fn visitor_ids(&self, prefix: &str) -> BTreeSet<Option<String>> {
        let pool = self.wait_for_the_warehouse().await;
        let ids: Vec<Option<String>> =
            sqlx::query_scalar("SELECT DISTINCT visitor_id FROM events WHERE session_id LIKE $1")
                .bind(format!("{prefix}%"))
                .fetch_all(&pool)
                .await
                .expect("the visitor ids");
        ids.into_iter().collect()
    }

    pub async fn one_visitor_is_one_visitor_everywhere(&mut self) {
        let key = self.key.clone();
        let (a, b) = (client_from(CLIENT_A), client_from(CLIENT_B));
        // Enough requests that each client reaches every replica.
        let rounds = 2 * self.api.len();
        for round in 0..rounds {
            for (client, session, claimed) in [
                (&a, format!("a-{round}"), None),
                (&b, format!("b-{round}"), None),
                (&a, format!("a-claims-{round}"), Some(SPOOFED)),
            ] {
                let url = self.front();
                let status = self.post(client, &url, &key, &session, claimed).await;
                assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{}: {session}", self.label);
            }
        }
        let (ids_a, ids_b) = (self.visitor_ids("a-").await, self.visitor_ids("b-").await);
        assert_eq!(
            ids_a.len(),
            1,
            "{}: client A has one visitor id on every replica, whatever X-Forwarded-For it sends: {ids_a:?}",
            self.label
        );
        assert_eq!(ids_b.len(), 1, "{}: client B: {ids_b:?}", self.label);
        assert!(ids_a.iter().all(Option::is_some), "{}: {ids_a:?}", self.label);
        assert_ne!(
            ids_a, ids_b,
            "{}: two clients with the same browser are two visitors",
            self.label
        );

        // A restarted replica derives the same ids.
        self.api_pods_mut()[0].restart().await;
        let restarted = &self.api_pods()[0];
        self.wait_ready(restarted).await;
        let url = format!("http://{}/analytics", self.api[0]);
        let status = self.post(&a, &url, &key, "a-after-restart", None).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{}", self.label);
        assert_eq!(
            self.visitor_ids("a-").await,
            ids_a,
            "{}: a visitor's id survives an api restart",
            self.label
        );
    }

    pub async fn stored_keys_work_on_every_replica(&mut self) {
        let owner = self.database.url.clone();
        let created = keys_cli(&owner, &["create", "--project-id=shop", "--name=chart test"]);
        let key = created["key"].as_str().expect("the key").to_string();
        let id = created["id"].as_str().expect("its id").to_string();
        let refresh = self.api_pods()[0]
            .env
            .get("API_KEYS_REFRESH_SECS")
            .map_or(30, |secs| secs.parse::<u64>().expect("seconds"));
        let patience = Duration::from_secs(refresh + 30);
        let client = client_from(CLIENT_B);
        for expected in [reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::FORBIDDEN] {
            if expected == reqwest::StatusCode::FORBIDDEN {
                keys_cli(&owner, &["revoke", &id]);
            }
            for replica in self.api.clone() {
                let url = format!("http://{replica}/analytics");
                let deadline = tokio::time::Instant::now() + patience;
                loop {
                    let status = self.post(&client, &url, &key, "stored-key", None).await;
                    if status == expected {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{}: the key made with `keys create` is answered {status} by {replica}, not {expected}, after {patience:?}",
                        self.label
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    pub async fn the_ip_limit_is_per_client(&mut self) {
        // A floods with requests without a key (refused before Kafka, counted by the limit),
        // each claiming another address, until it is limited and for as long as B then sends.
        let burst: usize = self.api_pods()[0]
            .env
            .get("RATE_LIMIT_IP_BURST")
            .map_or(400, |b| b.parse().expect("a number"));
        let budget = 4 * burst * self.api.len() + 2000;
        let urls = Arc::new((0..budget).map(|_| self.front()).collect::<Vec<_>>());
        let flooding = Arc::new(AtomicBool::new(true));
        let a_limited = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let mut flood = Vec::new();
        for _ in 0..16 {
            let (urls, next, a_limited, flooding) =
                (urls.clone(), next.clone(), a_limited.clone(), flooding.clone());
            let client = client_from(CLIENT_A);
            flood.push(tokio::spawn(async move {
                while flooding.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(n) else { break };
                    let claimed = format!("198.51.{}.{}", (n / 250) % 250, n % 250);
                    let answer = client
                        .post(url)
                        .header("x-forwarded-for", claimed)
                        .body("{}")
                        .send()
                        .await
                        .expect("the api answers");
                    if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        a_limited.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // B starts once A is limited (on every replica: A's flood reaches each in turn), and
        // sends to every replica while A goes on.
        let enough = 4 * self.api.len();
        let limited = try_wait_until("client A is limited", PATIENCE, || {
            let (a_limited, next) = (a_limited.clone(), next.clone());
            async move {
                let seen = a_limited.load(Ordering::Relaxed);
                if seen >= enough || next.load(Ordering::Relaxed) >= budget {
                    Ok(())
                } else {
                    Err(format!("{seen} answers 429 so far"))
                }
            }
        })
        .await;
        let b = client_from(CLIENT_B);
        let mut b_statuses = BTreeMap::new();
        for _ in 0..3 * self.api.len() {
            let url = self.front();
            let status = b
                .post(&url)
                .body("{}")
                .send()
                .await
                .expect("the api answers")
                .status();
            *b_statuses.entry(status.as_u16()).or_insert(0) += 1;
        }
        flooding.store(false, Ordering::Relaxed);
        for task in flood {
            task.await.expect("the flood");
        }
        assert!(
            limited.is_ok() && a_limited.load(Ordering::Relaxed) > 0,
            "{}: {budget} requests from one client were never limited",
            self.label
        );
        assert_eq!(
            b_statuses.get(&429),
            None,
            "{}: another client is limited by the first one's flood: {b_statuses:?}",
            self.label
        );
    }

    pub async fn every_event_lands_once_in_both_stores(&mut self) {
        let pool = self.wait_for_the_warehouse().await;
        let counts: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT event_id, count(*) FROM events WHERE event_id = ANY($1) GROUP BY 1")
                .bind(&self.accepted)
                .fetch_all(&pool)
                .await
                .expect("the counts");
        assert_eq!(counts.len(), self.accepted.len(), "{}", self.label);
        assert!(counts.iter().all(|(_, n)| *n == 1), "{}: {counts:?}", self.label);
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .expect("the rows");
        assert_eq!(
            total as usize,
            self.accepted.len(),
            "{}: nothing else",
            self.label
        );

        let expected: BTreeSet<Uuid> = self.accepted.iter().copied().collect();
        let lake = self.lake.clone();
        let what = format!("{}: every accepted event once in the lake", self.label);
        wait_until(&what, PATIENCE, || {
            let (lake, expected) = (lake.clone(), expected.clone());
            async move {
                let counts = lake.id_counts().await?;
                let ids: BTreeSet<Uuid> = counts.keys().copied().collect();
                if ids != expected {
                    return Err(format!("{} of {} in the lake", ids.len(), expected.len()));
                }
                let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
                twice
                    .is_empty()
                    .then_some(())
                    .ok_or(format!("more than once: {twice:?}"))
            }
        })
        .await;
    }

    /// The names of the jobs (CronJobs) the deployment renders.
    pub fn job_names(&self) -> BTreeSet<String> {
        self.jobs.iter().map(|job| job.name.clone()).collect()
    }

    /// Runs each job's container once, as rendered, and checks that it exits 0.
    pub async fn every_job_runs_as_rendered(&mut self) {
        for job in self.jobs.clone() {
            let mut env = job.env(0);
            self.map.to_the_stack(&mut env);
            let log = self.dir.join(format!("{}.log", job.name));
            let mut pod = Pod::start(&job.name, &job.command, env, &log);
            let code = pod.wait(Duration::from_secs(300)).await;
            assert_eq!(
                code,
                Some(0),
                "{}: {} ({:?}) did not exit 0:\n{}",
                self.label,
                job.source,
                job.command,
                pod.log_tail()
            );
        }
    }

    pub async fn the_lake_browser_asks_for_its_token(&mut self) {
        let Some(browser) = self.pods_of("lakehouse-lake-browser") else {
            return;
        };
        let url = format!("http://{}/", browser[0].env["LISTEN_ADDR"]);
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let without = plain.get(&url).send().await.expect("an answer").status();
        assert!(
            !without.is_success(),
            "{}: the lake browser answers {without} without its token",
            self.label
        );
        let with = plain
            .get(&url)
            .bearer_auth(&self.browser_token)
            .send()
            .await
            .expect("an answer")
            .status();
        assert!(with.is_success(), "{}: with its token: {with}", self.label);
    }

    pub async fn uninstall(mut self) {
        for pods in self.pods.values_mut() {
            for pod in pods {
                pod.stop().await;
            }
        }
        drop(self.ingress.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client connecting from `address` (a loopback address of its own) with the same browser.
fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .user_agent(USER_AGENT)
        .build()
        .expect("a client")
}

/// `lakehouse keys <args>` as an operator runs it, with the schema owner's `DATABASE_URL`;
/// its JSON output.
fn keys_cli(database_url: &str, args: &[&str]) -> Value {
    let output = std::process::Command::new(crate::services::binary("lakehouse"))
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "pretty")
        .output()
        .expect("lakehouse runs");
    assert!(
        output.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the keys command prints JSON")
}
