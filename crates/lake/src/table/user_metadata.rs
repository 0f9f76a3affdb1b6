//! Who made a commit and why, in its `commitInfo.userMetadata`: the administrative operations
//! (restore, vacuum, optimize, delete-user) carry their audit record there, so that the lake's
//! own history says who restored or vacuumed even where the warehouse's audit log is out of reach.

use deltalake::kernel::transaction::CommitProperties;
use serde_json::Value;

use crate::table::conflict::COMMIT_ATTEMPTS;

/// The commit properties that put `user_metadata` (when given) into the commit's
/// `commitInfo.userMetadata`, and let the commit pass as many concurrent commits as a writer's.
pub(crate) fn commit_properties(user_metadata: Option<&str>) -> CommitProperties {
    commit_properties_with(user_metadata, [])
}

/// [`commit_properties`] with more entries for the `commitInfo` (`readVersion`,
/// `operationMetrics`).
pub(crate) fn commit_properties_with(
    user_metadata: Option<&str>,
    metadata: impl IntoIterator<Item = (String, Value)>,
) -> CommitProperties {
    let user = user_metadata.map(|text| ("userMetadata".to_string(), Value::from(text)));
    CommitProperties::default()
        .with_max_retries(COMMIT_ATTEMPTS)
        .with_metadata(metadata.into_iter().chain(user))
}
