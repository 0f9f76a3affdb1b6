//! Which version a page reads — `?version=N`, `?as_of=TIME` or the latest — parsed with messages a
//! person can act on, and the chosen table opened there.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deltalake::DeltaTable;
use lakehouse_lake::{AsOf, NoTable, open_at, version_changes};

use crate::chosen::ChosenTable;
use crate::error::PageError;

/// A page's query parameters.
pub type Params = HashMap<String, String>;

/// The parameter `key`, unless absent or blank (an empty form field).
pub fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// A version number parameter.
pub fn version_param(params: &Params, key: &str) -> Result<Option<u64>, PageError> {
    param(params, key)
        .map(|text| {
            text.parse().map_err(|_| {
                PageError::BadRequest(format!(
                    "{key} must be a version number (0, 1, 2, ...), not {text:?}"
                ))
            })
        })
        .transpose()
}

/// A time parameter: RFC 3339, or a date and time without a zone (taken as UTC, what a
/// `datetime-local` field sends), or a date (midnight UTC).
pub fn time_param(params: &Params, key: &str) -> Result<Option<DateTime<Utc>>, PageError> {
    let Some(text) = param(params, key) else {
        return Ok(None);
    };
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(time.with_timezone(&Utc)));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(time.and_utc()));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).map(|time| time.and_utc()));
    }
    Err(PageError::BadRequest(format!(
        "{key} must be a time such as 2026-11-22T08:00:00Z (UTC unless a zone is given), not {text:?}"
    )))
}

/// `version` or `as_of` (the version wins); neither is the latest.
pub fn as_of(params: &Params) -> Result<AsOf, PageError> {
    Ok(AsOf {
        version: version_param(params, "version")?,
        as_of: time_param(params, "as_of")?,
    })
}

/// A table opened at a version, and the latest version.
#[derive(Debug)]
pub struct Opened {
    pub table: DeltaTable,
    pub version: u64,
    pub latest: u64,
}

/// Opens the latest version, then the one `at` selects: a version past the latest, or one the log
/// no longer holds, is a "not found" that says which versions there are.
pub async fn open(chosen: &ChosenTable, at: &AsOf) -> Result<Opened, PageError> {
    let mut table = open_at(&chosen.location, &AsOf::default())
        .await
        .map_err(|error| match error.operation::<NoTable>() {
            Some(none) => PageError::NoTable(format!(
                "{none}: the delta-writer creates it with its first commit"
            )),
            None => PageError::Lake(error),
        })?;
    let latest = table.version().unwrap_or(0);
    if let Some(version) = at.version {
        if version > latest {
            return Err(PageError::NotFound(format!(
                "there is no version {version}: the latest is {latest}"
            )));
        }
        if version < latest {
            table.load_version(version).await.map_err(|error| {
                PageError::NotFound(format!(
                    "version {version} cannot be read (cleaned from the log?): {error}"
                ))
            })?;
        }
    } else if let Some(time) = at.as_of {
        table
            .load_with_datetime(time)
            .await
            .map_err(|error| PageError::NotFound(format!("no version was committed by {time}: {error}")))?;
        // Delta answers a time before the table's creation with its first version.
        if table.version() == Some(0) {
            let created = version_changes(&table, 0, 1)
                .await?
                .first()
                .and_then(|c| c.timestamp);
            if created.is_some_and(|created| time < created) {
                return Err(PageError::NotFound(format!(
                    "no version was committed by {time}: the table was created at {}",
                    crate::layout::time(created)
                )));
            }
        }
    }
    let version = table.version().unwrap_or(0);
    Ok(Opened {
        table,
        version,
        latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn versions_and_times_parse_or_say_what_is_expected() {
        let at = as_of(&params(&[("version", " 3 "), ("as_of", "")])).expect("a version");
        assert_eq!((at.version, at.as_of), (Some(3), None));
        let error = as_of(&params(&[("version", "three")])).expect_err("not a number");
        assert!(
            error.to_string().contains("version must be a version number"),
            "{error}"
        );
        let error = as_of(&params(&[("version", "-1")])).expect_err("negative");
        assert!(matches!(error, PageError::BadRequest(_)));
        for text in [
            "2026-11-22T08:00:00Z",
            "2026-11-22T09:00:00+01:00",
            "2026-11-22T08:00",
            "2026-11-22 08:00:00",
        ] {
            let at = as_of(&params(&[("as_of", text)])).expect("a time");
            assert_eq!(
                at.as_of.map(|t| t.to_rfc3339()),
                Some("2026-11-22T08:00:00+00:00".into()),
                "{text}"
            );
        }
        let at = as_of(&params(&[("as_of", "2026-11-22")])).expect("a date");
        assert_eq!(
            at.as_of.map(|t| t.to_rfc3339()),
            Some("2026-11-22T00:00:00+00:00".into())
        );
        let error = as_of(&params(&[("as_of", "yesterday")])).expect_err("not a time");
        assert!(error.to_string().contains("as_of must be a time"), "{error}");
    }
}
