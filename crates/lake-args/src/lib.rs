//! The lake's command-line arguments (clap), shared by every binary that opens the table, so that
//! `LAKE_URI`, the S3 settings, `--version`/`--as-of`, `--user-id` and the erasure's flags mean the same everywhere. The lake library
//! itself (`lakehouse-lake`) takes the plain [`LakeLocation`], [`AsOf`] and [`User`] these convert
//! into.

use chrono::{DateTime, Utc};
use lakehouse_lake::{AsOf, DEFAULT_AWS_REGION, DEFAULT_LAKE_URI, LakeLocation, RESTORE_WINDOW_HOURS};
#[cfg(feature = "query")]
use lakehouse_lake::{EraseOptions, User};
use lakehouse_telemetry::Secret;

/// Where the lake is and how to reach its object store.
#[derive(Debug, Clone, clap::Args)]
pub struct LakeArgs {
    /// The lake root: `s3://bucket/prefix`, `file:///path` or a local path. The events table is
    /// `<LAKE_URI>/events`.
    #[arg(long, env = "LAKE_URI", default_value = DEFAULT_LAKE_URI)]
    pub lake_uri: String,
    /// An S3-compatible endpoint (MinIO, moto); unset for AWS S3.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = DEFAULT_AWS_REGION)]
    pub aws_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub aws_access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<Secret>,
    /// Write to a store that ignores conditional writes (If-None-Match), which is only safe when
    /// this is the table's one and only writer.
    #[arg(long, env = "LAKE_SINGLE_WRITER")]
    pub single_writer: bool,
}

impl From<&LakeArgs> for LakeLocation {
    fn from(args: &LakeArgs) -> Self {
        Self {
            uri: args.lake_uri.clone(),
            aws_endpoint_url: args.aws_endpoint_url.clone(),
            aws_region: args.aws_region.clone(),
            aws_access_key_id: args.aws_access_key_id.clone(),
            aws_secret_access_key: args.aws_secret_access_key.clone(),
            single_writer: args.single_writer,
        }
    }
}

/// `--version N` or `--as-of <RFC 3339 time>`: the lake as it was; neither means the latest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct AsOfArgs {
    /// Read the table as of this version (see the delta-writer's `history`).
    #[arg(long, conflicts_with = "as_of")]
    pub version: Option<u64>,
    /// Read the table as it was at this time (RFC 3339, e.g. 2026-11-22T00:00:00Z): the last
    /// version committed by then.
    #[arg(long = "as-of")]
    pub as_of: Option<DateTime<Utc>>,
}

impl From<AsOfArgs> for AsOf {
    fn from(args: AsOfArgs) -> Self {
        Self {
            version: args.version,
            as_of: args.as_of,
        }
    }
}

/// Whose rows: a `user_id`, optionally only within one project (the GDPR commands).
#[derive(Debug, Clone, clap::Args)]
pub struct UserArgs {
    /// The `user_id` the app sent.
    #[arg(long)]
    pub user_id: String,
    /// Only this project's rows of the user.
    #[arg(long)]
    pub project_id: Option<String>,
}

#[cfg(feature = "query")]
impl From<&UserArgs> for User {
    fn from(args: &UserArgs) -> Self {
        Self {
            user_id: args.user_id.clone(),
            project_id: args.project_id.clone(),
        }
    }
}

/// A GDPR erasure: whose rows, how long the lake's history keeps them, or only a count.
#[derive(Debug, Clone, clap::Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub user: UserArgs,
    /// The lake's restore window: vacuum removes the rows from the lake's history this long after
    /// the erasure.
    #[arg(long, env = "RESTORE_WINDOW_HOURS", default_value_t = RESTORE_WINDOW_HOURS)]
    pub restore_window_hours: i64,
    /// Only count the rows; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(feature = "query")]
impl From<&EraseArgs> for EraseOptions {
    fn from(args: &EraseArgs) -> Self {
        Self {
            restore_window: chrono::Duration::hours(args.restore_window_hours),
            dry_run: args.dry_run,
            user_metadata: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        lake: LakeArgs,
        #[command(flatten)]
        at: AsOfArgs,
    }

    #[test]
    fn the_flags_become_the_location_and_the_version() {
        let cli = Cli::try_parse_from([
            "x",
            "--lake-uri=s3://bucket/prefix",
            "--aws-endpoint-url=http://127.0.0.1:9000",
            "--aws-secret-access-key=hidden",
            "--single-writer",
            "--version=3",
        ])
        .expect("valid flags");
        let location = LakeLocation::from(&cli.lake);
        assert_eq!(location.uri, "s3://bucket/prefix");
        assert_eq!(
            location.aws_endpoint_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert!(location.single_writer);
        assert!(
            !format!("{:?}", cli.lake).contains("hidden"),
            "the secret is redacted"
        );
        assert_eq!(AsOf::from(cli.at).version, Some(3));
    }

    #[test]
    fn a_version_and_a_time_together_are_refused() {
        let error = Cli::try_parse_from(["x", "--version=3", "--as-of=2026-11-22T00:00:00Z"])
            .expect_err("conflicting flags");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
