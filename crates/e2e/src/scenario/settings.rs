//! The scenario's size, read from the environment, and the secrets of one run.

use std::path::PathBuf;
use std::time::Duration;

use lakehouse_telemetry::Secret;
use uuid::Uuid;

/// The run's size, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub load: Duration,
    pub rate: u32,
    pub batch: usize,
    pub report: Option<PathBuf>,
    /// `SCENARIO_FAULTS=0`: load only, for the freshness of a healthy system.
    pub faults: bool,
}

impl Settings {
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| -> u64 {
            std::env::var(name)
                .ok()
                .map(|value| value.parse().unwrap_or_else(|_| panic!("{name} is a number")))
                .unwrap_or(default)
        };
        Self {
            load: Duration::from_secs(number("SCENARIO_SECONDS", 60)),
            rate: number("SCENARIO_RATE", 40) as u32,
            batch: number("SCENARIO_BATCH", 10) as usize,
            report: std::env::var_os("SCENARIO_REPORT").map(PathBuf::from),
            faults: number("SCENARIO_FAULTS", 1) != 0,
        }
    }
}

/// The secrets of this run, unique to it, so that any trace of them in a log is found.
#[derive(Debug)]
pub struct Secrets {
    pub api_key: Secret,
    pub visitor_secret: Secret,
    pub database_password: Secret,
    pub s3_secret: Secret,
}

impl Secrets {
    pub fn new() -> Self {
        let secret = |what: &str| Secret::new(format!("{what}-{}", Uuid::new_v4().simple()));
        Self {
            api_key: secret("scenario-key"),
            visitor_secret: secret("visitor-salt"),
            database_password: secret("pg-pass"),
            s3_secret: secret("s3-secret"),
        }
    }

    /// Each secret, with what it is (for the message that finds one).
    pub fn all(&self) -> [(&'static str, &str); 4] {
        [
            ("the API key", self.api_key.expose()),
            ("VISITOR_ID_SECRET", self.visitor_secret.expose()),
            ("the database password", self.database_password.expose()),
            ("the S3 secret key", self.s3_secret.expose()),
        ]
    }
}

impl Default for Secrets {
    fn default() -> Self {
        Self::new()
    }
}
