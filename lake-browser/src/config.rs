//! The lake browser's configuration: where it listens, the lake (the delta-writer's own settings),
//! the access token, the SQL console's limits, and whether a restore may be performed.

use std::net::SocketAddr;
use std::time::Duration;

use lakehouse_lake::{
    DEFAULT_QUERY_MEMORY_LIMIT_MIB, DEFAULT_QUERY_TIMEOUT, LakeLocation, MIB, QueryOptions,
};
use lakehouse_lake_args::LakeArgs;
use lakehouse_telemetry::{LogFormat, Secret};

use crate::state::{DEFAULT_DOWNLOAD_ROWS, DEFAULT_PAGE_ROWS, DEFAULT_QUERY_CONCURRENCY, Settings};

/// Where the browser listens when nothing is said: loopback only, where no token is needed.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8501";

/// A token shorter than this is refused at start-up: it would be guessed.
pub const MIN_TOKEN_LENGTH: usize = 16;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "lakehouse-lake-browser",
    version,
    about = "Web pages over the lake: overview, history, time travel and diffs, read-only SQL, restore preview"
)]
pub struct BrowserConfig {
    /// Where the pages (and /health, /ready, /metrics) are served. Any address but loopback needs
    /// LAKE_BROWSER_TOKEN.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The bearer token every page requires (`Authorization: Bearer <token>`, or the cookie the
    /// /login form sets); at least 16 characters. Required unless LISTEN_ADDR is loopback.
    #[arg(long, env = "LAKE_BROWSER_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Let the restore page perform a restore (behind a confirmation, logged); without it the page
    /// only previews what a restore would change.
    #[arg(long, env = "LAKE_BROWSER_ALLOW_RESTORE")]
    pub allow_restore: bool,
    /// The SQL console shows at most this many rows.
    #[arg(long, env = "QUERY_ROW_LIMIT", default_value_t = DEFAULT_PAGE_ROWS)]
    pub query_row_limit: usize,
    /// A CSV or JSON download holds at most this many rows.
    #[arg(long, env = "QUERY_DOWNLOAD_ROW_LIMIT", default_value_t = DEFAULT_DOWNLOAD_ROWS)]
    pub query_download_row_limit: usize,
    /// A query still running after this many seconds is stopped.
    #[arg(long, env = "QUERY_TIMEOUT_SECS", default_value_t = DEFAULT_QUERY_TIMEOUT.as_secs())]
    pub query_timeout_secs: u64,
    /// Queries run at once (on threads of their own); more are answered "busy".
    #[arg(long, env = "QUERY_CONCURRENCY", default_value_t = DEFAULT_QUERY_CONCURRENCY)]
    pub query_concurrency: usize,
    /// The memory (MiB) one query may hold; it may spill as much again to a temporary directory.
    /// A query that needs more is stopped and refused.
    #[arg(long, env = "QUERY_MEMORY_LIMIT_MIB", default_value_t = DEFAULT_QUERY_MEMORY_LIMIT_MIB)]
    pub query_memory_limit_mib: usize,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

impl BrowserConfig {
    /// Refuses a configuration that would expose the lake or cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        match &self.token {
            Some(token) => anyhow::ensure!(
                token.expose().len() >= MIN_TOKEN_LENGTH,
                "LAKE_BROWSER_TOKEN must be at least {MIN_TOKEN_LENGTH} characters"
            ),
            None => anyhow::ensure!(
                self.listen_addr.ip().is_loopback(),
                "LAKE_BROWSER_TOKEN is required when LISTEN_ADDR ({}) is not a loopback address",
                self.listen_addr
            ),
        }
        anyhow::ensure!(self.query_row_limit > 0, "QUERY_ROW_LIMIT must be positive");
        anyhow::ensure!(
            self.query_download_row_limit > 0,
            "QUERY_DOWNLOAD_ROW_LIMIT must be positive"
        );
        anyhow::ensure!(self.query_timeout_secs > 0, "QUERY_TIMEOUT_SECS must be positive");
        anyhow::ensure!(self.query_concurrency > 0, "QUERY_CONCURRENCY must be positive");
        anyhow::ensure!(
            self.query_memory_limit_mib > 0 && self.query_memory_limit_mib.checked_mul(MIB).is_some(),
            "QUERY_MEMORY_LIMIT_MIB must be positive (and fit in memory)"
        );
        Ok(())
    }

    /// The lake's location and object store.
    pub fn location(&self) -> LakeLocation {
        (&self.lake).into()
    }

    pub fn query_timeout(&self) -> Duration {
        Duration::from_secs(self.query_timeout_secs)
    }
}

impl From<&BrowserConfig> for Settings {
    fn from(config: &BrowserConfig) -> Self {
        Self {
            token: config.token.clone(),
            allow_restore: config.allow_restore,
            page_rows: config.query_row_limit,
            download_rows: config.query_download_row_limit,
            queries: QueryOptions {
                concurrency: config.query_concurrency,
                timeout: Some(config.query_timeout()),
                memory_limit_bytes: config.query_memory_limit_mib.saturating_mul(MIB),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> BrowserConfig {
        BrowserConfig::parse_from(std::iter::once("lakehouse-lake-browser").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_parse_and_listen_on_loopback_without_a_token() {
        let config = parse(&["--lake-uri=./data/lake"]);
        config.validate().expect("the defaults are valid");
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8501");
        assert!(config.token.is_none() && !config.allow_restore);
        assert_eq!(config.query_row_limit, 1_000);
        assert_eq!(config.query_timeout(), Duration::from_secs(30));
        let queries = Settings::from(&config).queries;
        assert_eq!(queries.concurrency, 2);
        assert_eq!(queries.memory_limit_bytes, 100 << 20);
        assert_eq!(config.location().uri, "./data/lake");
    }

    #[test]
    fn any_other_address_needs_a_long_enough_token() {
        let open = parse(&["--listen-addr=0.0.0.0:8501"]);
        let refused = open.validate().expect_err("no token");
        assert!(
            refused.to_string().contains("LAKE_BROWSER_TOKEN is required"),
            "{refused}"
        );
        let short = parse(&["--listen-addr=0.0.0.0:8501", "--token=short"]);
        let refused = short.validate().expect_err("a short token");
        assert!(refused.to_string().contains("at least 16"), "{refused}");
        let good = parse(&["--listen-addr=0.0.0.0:8501", "--token=0123456789abcdef"]);
        good.validate().expect("a token");
        assert!(!format!("{good:?}").contains("0123456789abcdef"));
    }
}
