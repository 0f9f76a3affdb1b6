//! The containers of ours that compose and the chart run: which binary each runs and the
//! environment variables it is given.

use serde_json::Value;

/// One container of ours.
#[derive(Debug, Clone)]
pub struct Container {
    /// Where it comes from, for messages: `compose: api`, `chart full: Deployment/x/api`.
    pub source: String,
    /// The binary its command runs (`lakehouse-api`, ...).
    pub binary: String,
    /// The names of the environment variables set for it.
    pub env: Vec<String>,
}

/// Whether `program` is one of our binaries: `lakehouse` or a service, `lakehouse-<name>`.
pub fn is_ours(program: &str) -> bool {
    program == "lakehouse" || program.starts_with("lakehouse-")
}

/// The binary a command runs, when it is one of ours (the image holds them all).
fn our_binary(command: &Value) -> Option<String> {
    let first = command.as_array()?.first()?.as_str()?;
    is_ours(first).then(|| first.to_string())
}

/// The compose services that run our image.
pub fn from_compose(compose: &Value) -> Vec<Container> {
    let mut containers = Vec::new();
    for (name, service) in compose["services"].as_object().into_iter().flatten() {
        let Some(binary) = our_binary(&service["command"]) else {
            continue;
        };
        let env = match &service["environment"] {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(|kv| kv.split('=').next().unwrap_or(kv).to_string())
                .collect(),
            _ => Vec::new(),
        };
        containers.push(Container {
            source: format!("compose: {name}"),
            binary,
            env,
        });
    }
    containers
}

/// The pod spec of a workload (Deployment, CronJob, Job...), if it has one.
pub fn pod_spec(manifest: &Value) -> Option<&Value> {
    let spec = &manifest["spec"];
    [
        &spec["template"]["spec"],
        &spec["jobTemplate"]["spec"]["template"]["spec"],
    ]
    .into_iter()
    .find(|s| s.is_object())
}

/// The containers of ours in rendered manifests; `envFrom` ConfigMaps and Secrets rendered by the
/// chart are resolved to their keys (a Secret by reference is not rendered, so its keys are the
/// ones `env[].valueFrom.secretKeyRef` names).
pub fn from_manifests(label: &str, manifests: &[Value]) -> Vec<Container> {
    let config_keys = |kind: &str, name: &str| -> Vec<String> {
        manifests
            .iter()
            .filter(|m| m["kind"] == kind && m["metadata"]["name"] == name)
            .flat_map(|m| {
                m["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
            })
            .collect()
    };
    let mut containers = Vec::new();
    for manifest in manifests {
        let Some(pod) = pod_spec(manifest) else {
            continue;
        };
        let all = pod["containers"].as_array().into_iter().flatten();
        for container in all.chain(pod["initContainers"].as_array().into_iter().flatten()) {
            let Some(binary) = our_binary(&container["command"]) else {
                continue;
            };
            let mut env: Vec<String> = container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect();
            for source in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(name) = source["configMapRef"]["name"].as_str() {
                    env.extend(config_keys("ConfigMap", name));
                }
                if let Some(name) = source["secretRef"]["name"].as_str() {
                    env.extend(config_keys("Secret", name));
                }
            }
            containers.push(Container {
                source: format!(
                    "chart {label}: {}/{}/{}",
                    manifest["kind"].as_str().unwrap_or_default(),
                    manifest["metadata"]["name"].as_str().unwrap_or_default(),
                    container["name"].as_str().unwrap_or_default()
                ),
                binary,
                env,
            });
        }
    }
    containers
}
