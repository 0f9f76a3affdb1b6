//! Where the local stack listens. The settings are the ones `scripts/stack env` prints (the
//! stack's ports, credentials, bucket and tool paths, with their defaults written once, in
//! `scripts/stack.d/settings.sh`), each overridden by an environment variable of the same name
//! (CI and `scripts/test` export them all).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use rdkafka::ClientConfig;

use crate::unique;

/// `scripts/stack` of the checkout the test runs in: it starts the stack, prints its settings
/// and injects its faults.
pub fn stack_script() -> PathBuf {
    crate::repo::path("scripts/stack")
}

/// Where the local stack listens.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kafka_brokers: String,
    pub database_url: String,
    pub aws_endpoint_url: String,
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
    pub aws_region: String,
    pub bucket: String,
    /// A Python with the `deltalake` package, to read our tables as an analyst would.
    pub python: String,
}

impl Stack {
    pub fn from_env() -> Self {
        Self {
            kafka_brokers: setting("KAFKA_BROKERS"),
            database_url: setting("DATABASE_URL"),
            aws_endpoint_url: setting("AWS_ENDPOINT_URL"),
            aws_access_key_id: setting("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key: setting("AWS_SECRET_ACCESS_KEY"),
            aws_region: setting("AWS_REGION"),
            bucket: setting("LAKE_BUCKET"),
            python: setting("LAKEHOUSE_PYTHON"),
        }
    }

    /// A Kafka client configuration for the stack's broker.
    pub fn kafka_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka_brokers);
        config
    }

    /// A fresh `s3://` lake root in the stack's bucket.
    pub fn s3_lake_uri(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, unique(name))
    }

    /// The `--aws-*` flags that point a lake command at the stack's object store.
    pub fn aws_flags(&self) -> Vec<String> {
        vec![
            format!("--aws-endpoint-url={}", self.aws_endpoint_url),
            format!("--aws-access-key-id={}", self.aws_access_key_id),
            format!("--aws-secret-access-key={}", self.aws_secret_access_key),
            format!("--aws-region={}", self.aws_region),
        ]
    }
}

/// The stack's setting `name` (one of the variables `scripts/stack env` exports): the environment's
/// value when it is set and not empty, else the one `scripts/stack env` prints. Panics if neither
/// has it.
pub fn setting(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .or_else(|| printed_settings().get(name).cloned())
        .unwrap_or_else(|| panic!("`scripts/stack env` exports no {name}"))
}

/// What `scripts/stack env` prints, run once per process (it prints without starting anything).
fn printed_settings() -> &'static HashMap<String, String> {
    static PRINTED: OnceLock<HashMap<String, String>> = OnceLock::new();
    PRINTED.get_or_init(|| {
        let script = stack_script();
        let output = std::process::Command::new(&script)
            .arg("env")
            .output()
            .unwrap_or_else(|error| panic!("{} env runs: {error}", script.display()));
        assert!(
            output.status.success(),
            "{} env failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        parse_exports(&String::from_utf8_lossy(&output.stdout))
    })
}

/// The `export NAME=value` lines of a shell script, values unquoted: as they are, or in single
/// quotes (`'it'\''s'`), the two ways `scripts/stack env` writes them.
fn parse_exports(script: &str) -> HashMap<String, String> {
    script
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| (name.to_string(), unquote(value)))
        .collect()
}

/// A shell word made of bare text and single-quoted parts (`'\''` is a quote inside a quoted part).
fn unquote(word: &str) -> String {
    let mut value = String::new();
    let mut quoted = false;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => value.extend(chars.next()),
            c => value.push(c),
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_read_bare_or_single_quoted() {
        let settings = parse_exports(
            "export KAFKA_BROKERS=127.0.0.1:9092\n\
             export LAKEHOUSE_PYTHON='/home/a user/venv/bin/python'\n\
             export API_KEYS='it'\\''s'\n\
             # a comment\n\
             export EMPTY=\n",
        );
        assert_eq!(settings["KAFKA_BROKERS"], "127.0.0.1:9092");
        assert_eq!(settings["LAKEHOUSE_PYTHON"], "/home/a user/venv/bin/python");
        assert_eq!(settings["API_KEYS"], "it's");
        assert_eq!(settings["EMPTY"], "");
        assert_eq!(settings.len(), 4);
    }

    #[test]
    fn the_stack_script_prints_every_setting_a_test_reads() {
        let printed = printed_settings();
        for name in [
            "KAFKA_BROKERS",
            "DATABASE_URL",
            "LAKEHOUSE_GRAFANA_DB_PASSWORD",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "LAKE_BUCKET",
            "LAKEHOUSE_PYTHON",
            "LAKEHOUSE_READERS_PYTHON",
            "LAKEHOUSE_DEPLOY_PYTHON",
            "LAKEHOUSE_CHECKOV",
        ] {
            assert!(
                printed.get(name).is_some_and(|value| !value.is_empty()),
                "`scripts/stack env` prints {name} (it prints {:?})",
                printed.keys()
            );
        }
    }
}
