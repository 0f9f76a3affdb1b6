//! Where the lake is and how to reach its object store: the lake root, the S3 endpoint and
//! credentials, and whether a store that ignores conditional writes is accepted.

use std::collections::HashMap;

use deltalake::DeltaTable;
use lakehouse_telemetry::Secret;
use url::Url;

use crate::error::{LakeError, fold_into_lake_error};

/// The lake root when none is given: a folder beside the process.
pub const DEFAULT_LAKE_URI: &str = "./data/lake";

/// The S3 region when none is given.
pub const DEFAULT_AWS_REGION: &str = "us-east-1";

/// The events table's name under the lake root.
pub const EVENTS_TABLE: &str = "events";

/// The lake root and its object store. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    /// `s3://bucket/prefix`, `file:///path` or a local path; the events table is `<uri>/events`.
    pub uri: String,
    /// An S3-compatible endpoint (MinIO, moto); `None` for AWS S3.
    pub aws_endpoint_url: Option<String>,
    pub aws_region: String,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    /// Accept a store that ignores conditional writes (If-None-Match), which is only safe when
    /// this is the table's one and only writer (the writer probes the store when it opens).
    pub single_writer: bool,
}

impl Default for LakeLocation {
    fn default() -> Self {
        Self {
            uri: DEFAULT_LAKE_URI.into(),
            aws_endpoint_url: None,
            aws_region: DEFAULT_AWS_REGION.into(),
            aws_access_key_id: None,
            aws_secret_access_key: None,
            single_writer: false,
        }
    }
}

/// A lake root that cannot be a table location.
#[derive(Debug, thiserror::Error)]
#[error("LAKE_URI {uri:?} is not a usable location: {reason}")]
pub struct LocationError {
    pub uri: String,
    pub reason: String,
}

fold_into_lake_error!(LocationError);

impl LakeLocation {
    /// A location at `uri` with the default store options.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            ..Self::default()
        }
    }

    /// Options for the object store, passed explicitly so that nothing deeper reads the environment.
    pub fn storage_options(&self) -> HashMap<String, String> {
        let mut options = HashMap::from([("AWS_REGION".to_string(), self.aws_region.clone())]);
        if let Some(endpoint) = &self.aws_endpoint_url {
            options.insert("AWS_ENDPOINT_URL".into(), endpoint.clone());
            if endpoint.starts_with("http://") {
                options.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
            // S3-compatible servers address buckets by path, not by virtual host.
            options.insert("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(), "false".into());
        }
        if let Some(key) = &self.aws_access_key_id {
            options.insert("AWS_ACCESS_KEY_ID".into(), key.clone());
        }
        if let Some(secret) = &self.aws_secret_access_key {
            options.insert("AWS_SECRET_ACCESS_KEY".into(), secret.expose().to_string());
        }
        options
    }

    /// The URL of the events table.
    pub fn events_url(&self) -> Result<Url, LocationError> {
        table_url(&self.uri, EVENTS_TABLE)
    }
}

/// The URL of `<lake root>/<table>` (the root itself for `""`); a plain path is made absolute
/// and created.
pub fn table_url(lake_uri: &str, table: &str) -> Result<Url, LocationError> {
    let location = |reason: String| LocationError {
        uri: lake_uri.into(),
        reason,
    };
    if lake_uri.contains("://") {
        let mut url = Url::parse(lake_uri).map_err(|e| location(e.to_string()))?;
        let root = url.path().trim_end_matches('/');
        let path = if table.is_empty() {
            format!("{root}/")
        } else {
            format!("{root}/{table}/")
        };
        url.set_path(&path);
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| location("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| location(e.to_string()))?;
        }
        return Ok(url);
    }
    let dir = std::path::Path::new(lake_uri).join(table);
    std::fs::create_dir_all(&dir).map_err(|e| location(e.to_string()))?;
    let dir = dir.canonicalize().map_err(|e| location(e.to_string()))?;
    Url::from_directory_path(&dir).map_err(|()| location("not an absolute path".into()))
}

/// The object store at `url`, without reading a table there: for listing the lake's folders,
/// where loading each table's log (as [`open_table`] does) would read every log of the lake.
pub(crate) fn object_store(
    url: Url,
    location: &LakeLocation,
) -> Result<deltalake::logstore::ObjectStoreRef, LakeError> {
    deltalake::aws::register_handlers(None);
    Ok(deltalake::DeltaTableBuilder::from_url(url)?
        .with_storage_options(location.storage_options())
        .build()?
        .object_store())
}

/// Opens the table at `url`, whatever its state (no version yet when it was never created).
pub async fn open_table(url: Url, location: &LakeLocation) -> Result<DeltaTable, LakeError> {
    deltalake::aws::register_handlers(None);
    Ok(DeltaTable::try_from_url_with_storage_options(url, location.storage_options()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_uris_get_the_table_appended() {
        let url = table_url("s3://lake-bucket/prod/", "events").unwrap();
        assert_eq!(url.as_str(), "s3://lake-bucket/prod/events/");
        let url = table_url("s3://lake-bucket", "events").unwrap();
        assert_eq!(url.as_str(), "s3://lake-bucket/events/");
    }

    #[test]
    fn a_plain_path_becomes_an_absolute_file_url() {
        let dir = std::env::temp_dir().join(format!("lake-{}", std::process::id()));
        let url = table_url(dir.to_str().unwrap(), "events").unwrap();
        assert_eq!(url.scheme(), "file");
        assert!(url.path().ends_with("/events/"));
        assert!(dir.join("events").is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_http_endpoint_allows_http_and_path_style_requests() {
        let location = LakeLocation {
            aws_endpoint_url: Some("http://127.0.0.1:9000".into()),
            aws_secret_access_key: Some(Secret::new("hush")),
            ..LakeLocation::default()
        };
        let options = location.storage_options();
        assert_eq!(options["AWS_ALLOW_HTTP"], "true");
        assert_eq!(options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"], "false");
        assert_eq!(options["AWS_ENDPOINT_URL"], "http://127.0.0.1:9000");
        assert_eq!(options["AWS_SECRET_ACCESS_KEY"], "hush");
        assert!(!format!("{location:?}").contains("hush"));
    }
}
