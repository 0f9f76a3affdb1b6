//! What a deployment renders, run as local processes: each container of ours that the chart's
//! manifests (or compose) describe, with its command and its environment exactly as rendered:
//! values, ConfigMap keys, the pod's name, and Secrets from values the test provides. Only what
//! names the cluster is mapped to the local stack (its addresses, ports, and the names of the
//! test's own topic, groups and lake), each such mapping by name in the test, so that every other
//! setting reaches the binary as an operator's cluster would hand it over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use lakehouse_testkit::{Stack, TestTopic};

use crate::containers::pod_spec;
use crate::services::binary;

/// A Deployment's containers run for as long as the test; a CronJob's run once, to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Service,
    Job,
}

/// One container of ours in the rendered manifests.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The manifest's kind and name: `Deployment/lakehouse-api`, `CronJob/lakehouse-vacuum`.
    pub source: String,
    pub kind: Kind,
    /// The Deployment's or CronJob's name.
    pub name: String,
    /// The container's command and arguments.
    pub command: Vec<String>,
    /// Its environment for the pod named `name-<replica>`, before any mapping.
    env: Vec<(String, Rendered)>,
    /// How many pods: `replicas`, the autoscaler's `minReplicas` when it owns them, 1 for a job.
    pub replicas: usize,
}

#[derive(Debug, Clone)]
enum Rendered {
    Text(String),
    PodName,
}

/// Secrets by (name, key), as an operator would have made them before installing.
pub type Secrets = BTreeMap<(String, String), String>;

impl Workload {
    /// The environment of pod `replica` (0-based), Secrets resolved from `secrets`.
    pub fn env(&self, replica: usize) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Rendered::Text(text) => text.clone(),
                    Rendered::PodName => format!("{}-{replica}", self.name),
                };
                (name.clone(), value)
            })
            .collect()
    }
}

/// Our containers (the ones whose command runs a `lakehouse-*` binary) in `manifests`.
pub fn workloads(manifests: &[Value], secrets: &Secrets) -> Vec<Workload> {
    let config_maps: BTreeMap<&str, &Value> = manifests
        .iter()
        .filter(|m| m["kind"] == "ConfigMap")
        .filter_map(|m| Some((m["metadata"]["name"].as_str()?, &m["data"])))
        .collect();
    let secret = |reference: &Value| -> String {
        let name = reference["name"].as_str().unwrap_or_default().to_string();
        let key = reference["key"].as_str().unwrap_or_default().to_string();
        secrets
            .get(&(name.clone(), key.clone()))
            .cloned()
            .unwrap_or_else(|| panic!("the test provides no Secret {name} with key {key}"))
    };
    let config_key = |reference: &Value| -> String {
        let name = reference["name"].as_str().unwrap_or_default();
        let key = reference["key"].as_str().unwrap_or_default();
        config_maps
            .get(name)
            .and_then(|data| data[key].as_str())
            .unwrap_or_else(|| panic!("no ConfigMap {name} with key {key} is rendered"))
            .to_string()
    };
    let mut found = Vec::new();
    for manifest in manifests {
        let Some(pod) = pod_spec(manifest) else { continue };
        let kind = match manifest["kind"].as_str() {
            Some("Deployment") => Kind::Service,
            Some("CronJob") => Kind::Job,
            _ => continue,
        };
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let replicas = match kind {
            Kind::Job => 1,
            Kind::Service => manifest["spec"]["replicas"]
                .as_u64()
                .or_else(|| autoscaler_minimum(manifests, &name))
                .unwrap_or(1) as usize,
        };
        for container in pod["containers"].as_array().into_iter().flatten() {
            let command: Vec<String> = container["command"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(container["args"].as_array().into_iter().flatten())
                .filter_map(|part| part.as_str().map(str::to_string))
                .collect();
            if !command.first().is_some_and(|c| crate::containers::is_ours(c)) {
                continue;
            }
            let mut env: Vec<(String, Rendered)> = Vec::new();
            for source in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(name) = source["configMapRef"]["name"].as_str() {
                    let data = config_maps
                        .get(name)
                        .unwrap_or_else(|| panic!("envFrom names ConfigMap {name}, not rendered"));
                    for (key, value) in data.as_object().into_iter().flatten() {
                        env.push((
                            key.clone(),
                            Rendered::Text(value.as_str().unwrap_or_default().into()),
                        ));
                    }
                }
                assert!(
                    source["secretRef"].is_null(),
                    "{name}: envFrom a Secret is not mapped here"
                );
            }
            for variable in container["env"].as_array().into_iter().flatten() {
                let key = variable["name"].as_str().unwrap_or_default().to_string();
                let from = &variable["valueFrom"];
                let value = if from.is_null() {
                    Rendered::Text(variable["value"].as_str().unwrap_or_default().into())
                } else if from["fieldRef"]["fieldPath"] == "metadata.name" {
                    Rendered::PodName
                } else if from["secretKeyRef"].is_object() {
                    Rendered::Text(secret(&from["secretKeyRef"]))
                } else if from["configMapKeyRef"].is_object() {
                    Rendered::Text(config_key(&from["configMapKeyRef"]))
                } else {
                    panic!("{name}: {key} comes from {from}, which is not mapped here")
                };
                // A later entry wins, as in Kubernetes.
                env.retain(|(existing, _)| existing != &key);
                env.push((key, value));
            }
            found.push(Workload {
                source: format!("{}/{name}", manifest["kind"].as_str().unwrap_or_default()),
                kind,
                name: name.clone(),
                command,
                env,
                replicas,
            });
        }
    }
    found
}

/// The `minReplicas` of an autoscaler that scales the Deployment `name`.
fn autoscaler_minimum(manifests: &[Value], name: &str) -> Option<u64> {
    manifests
        .iter()
        .find(|m| m["kind"] == "HorizontalPodAutoscaler" && m["spec"]["scaleTargetRef"]["name"] == name)
        .and_then(|hpa| hpa["spec"]["minReplicas"].as_u64())
}

/// One pod's process: the command and environment it was started with, so that it can be
/// restarted as the kubelet would, and its log.
#[derive(Debug)]
pub struct Pod {
    pub name: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Pod {
    /// Starts `command` with exactly `env` (and a `PATH`): nothing of the test's own environment
    /// reaches it. Its output goes to `log`.
    pub fn start(name: &str, command: &[String], env: BTreeMap<String, String>, log: &Path) -> Self {
        let mut pod = Self {
            name: name.to_string(),
            command: command.to_vec(),
            env,
            log: log.to_path_buf(),
            child: None,
        };
        pod.child = Some(pod.spawn());
        pod
    }

    fn spawn(&self) -> Child {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let mut command = Command::new(binary(&self.command[0]));
        command
            .args(&self.command[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log"))
            .stderr(file)
            .kill_on_drop(true);
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", self.name))
    }

    /// SIGTERM, then a clean exit within a minute (what the pod's grace period allows).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::services::terminate(&mut child, &self.name).await;
        }
    }

    /// Stopped and started again with the same command and environment: a container restart.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.child = Some(self.spawn());
    }

    /// Runs to completion (a job's pod); its exit code, or `None` when it did not end within
    /// `patience`.
    pub async fn wait(&mut self, patience: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("a started pod");
        tokio::time::timeout(patience, child.wait())
            .await
            .ok()
            .map(|status| status.expect("the exit status").code().unwrap_or(-1))
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The cluster's names and addresses, and what stands for them on the local stack.
#[derive(Debug)]
pub struct StackMapping {
    pub stack: Stack,
    /// The test's own topic, in place of the cluster's.
    pub topic: TestTopic,
    /// The test's own lake, in the stack's bucket.
    pub lake_uri: String,
    /// Appended to every consumer group: groups of this test only.
    pub groups: String,
    /// The GeoIP file a mounted volume would hold.
    pub geoip: Option<String>,
    /// `host:port/database` of the warehouse as rendered, and the local one in its place.
    pub database_host: Option<(String, String)>,
}

impl StackMapping {
    /// `env` as rendered, with the cluster's names mapped to the local stack. Nothing else is
    /// touched: a setting the deployment gets wrong reaches the binary as it would there.
    pub fn to_the_stack(&self, env: &mut BTreeMap<String, String>) {
        // The broker, and the test's own topic in place of the cluster's.
        env.insert("KAFKA_BROKERS".into(), self.stack.kafka_brokers.clone());
        env.insert("KAFKA_TOPIC".into(), self.topic.name.clone());
        env.insert("KAFKA_DLQ_TOPIC".into(), self.topic.dlq.clone());
        if let Some(group) = env.get("KAFKA_GROUP_ID").cloned() {
            env.insert("KAFKA_GROUP_ID".into(), format!("{group}-{}", self.groups));
        }
        // The local broker speaks neither TLS nor SASL.
        if env
            .get("KAFKA_SECURITY_PROTOCOL")
            .is_some_and(|p| p != "plaintext")
        {
            env.insert("KAFKA_SECURITY_PROTOCOL".into(), "plaintext".into());
            for name in [
                "KAFKA_SASL_MECHANISM",
                "KAFKA_SASL_USERNAME",
                "KAFKA_SASL_PASSWORD",
            ] {
                env.remove(name);
            }
        }
        // Ports of this machine in place of each pod's own.
        for name in ["LISTEN_ADDR", "METRICS_ADDR"] {
            if let Some(address) = env.get(name).cloned() {
                env.insert(name.into(), loopback_port(&address));
            }
        }
        // The stack's S3, at a place of this test's, in place of the deployment's bucket (AWS S3
        // itself where no endpoint is set).
        if env.contains_key("LAKE_URI") {
            env.insert("LAKE_URI".into(), self.lake_uri.clone());
            env.insert("AWS_ENDPOINT_URL".into(), self.stack.aws_endpoint_url.clone());
        }
        if let (Some(path), true) = (&self.geoip, env.contains_key("GEOIP_DATABASE")) {
            env.insert("GEOIP_DATABASE".into(), path.clone());
        }
        if let (Some((rendered, local)), Some(url)) = (&self.database_host, env.get("DATABASE_URL")) {
            assert!(
                url.contains(rendered.as_str()),
                "DATABASE_URL {url} is not on {rendered}"
            );
            let url = url.replace(rendered.as_str(), local);
            env.insert("DATABASE_URL".into(), url);
        }
    }
}

/// `host:port` of a listen address as rendered (`0.0.0.0:3001`) moved to a free loopback port.
pub fn loopback_port(rendered: &str) -> String {
    assert!(
        rendered
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok()),
        "not an address with a port: {rendered}"
    );
    format!("127.0.0.1:{}", crate::services::free_port())
}

/// Our services in a compose file (the ones whose command runs a `lakehouse-*` binary), their
/// environment interpolated from `dotenv` as compose does it ([`interpolate`]).
pub fn compose_workloads(compose: &Value, dotenv: &BTreeMap<String, String>) -> Vec<Workload> {
    let mut found = Vec::new();
    for (name, service) in compose["services"].as_object().into_iter().flatten() {
        let command: Vec<String> = service["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|part| part.as_str().map(str::to_string))
            .collect();
        if !command.first().is_some_and(|c| crate::containers::is_ours(c)) {
            continue;
        }
        let env = service["environment"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let value = interpolate(&text, dotenv)
                    .unwrap_or_else(|error| panic!("compose: {name}: {key}: {error}"));
                (key.clone(), Rendered::Text(value))
            })
            .collect();
        found.push(Workload {
            source: format!("compose: {name}"),
            kind: Kind::Service,
            name: name.clone(),
            command,
            env,
            replicas: 1,
        });
    }
    found
}

/// `text` with compose's interpolation applied from `variables` (what `.env` holds): `$$` is a
/// dollar, `${NAME}` and `$NAME` its value (empty when unset), `${NAME:-default}` /
/// `${NAME-default}` a default when unset or empty / unset, `${NAME:?message}` / `${NAME?message}`
/// an error when unset or empty / unset, `${NAME:+other}` / `${NAME+other}` the other text when
/// set. Written here: no maintained crate implements compose's rules (`shellexpand` lacks `?`
/// and `+`), and the test must fail where `docker compose` would refuse the file.
pub fn interpolate(text: &str, variables: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').ok_or(format!("unclosed ${{ in {text}"))?;
            out.push_str(&expand(&braced[..end], variables)?);
            rest = &braced[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(variables.get(&after[..len]).map_or("", String::as_str));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// One `${...}`'s inside.
fn expand(inner: &str, variables: &BTreeMap<String, String>) -> Result<String, String> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, operator) = inner.split_at(name_len);
    let value = variables.get(name);
    let set_and_not_empty = value.is_some_and(|v| !v.is_empty());
    let (colon, operator) = match operator.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, operator),
    };
    let present = if colon { set_and_not_empty } else { value.is_some() };
    let own = || value.cloned().unwrap_or_default();
    let Some(kind) = operator.chars().next() else {
        return Ok(own());
    };
    let word = interpolate(&operator[1..], variables)?;
    match kind {
        '-' => Ok(if present { own() } else { word }),
        '?' if present => Ok(own()),
        '?' => Err(format!("{name}: {word}")),
        '+' => Ok(if present { word } else { String::new() }),
        other => Err(format!("${{{inner}}}: unknown operator {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_follows_compose() {
        let vars: BTreeMap<String, String> = [("SET", "v"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let i = |text: &str| interpolate(text, &vars);
        assert_eq!(i("a $SET ${SET} $$SET").unwrap(), "a v v $SET");
        assert_eq!(i("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(), "d  d");
        assert_eq!(i("${SET:+yes}${UNSET:+no}").unwrap(), "yes");
        assert_eq!(i("${SET:?must}").unwrap(), "v");
        assert_eq!(
            i("${EMPTY:?set EMPTY in .env}").unwrap_err(),
            "EMPTY: set EMPTY in .env"
        );
        assert!(i("${UNSET?gone}").is_err());
        assert_eq!(i("${EMPTY?fine}").unwrap(), "");
    }
}
