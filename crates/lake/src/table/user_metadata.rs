//! Who made a commit and why, in its `commitInfo.userMetadata`: the administrative operations
//! (restore, vacuum, optimize, delete-user) carry their audit record there, so that the lake's
//! own history says who restored or vacuumed even where the warehouse's audit log is out of reach.

use deltalake::kernel::transaction::CommitProperties;

use crate::table::conflict::COMMIT_ATTEMPTS;

/// The commit properties that put `user_metadata` (when given) into the commit's
/// `commitInfo.userMetadata`, and let the commit pass as many concurrent commits as a writer's.
pub(crate) fn commit_properties(user_metadata: Option<&str>) -> CommitProperties {
    let properties = CommitProperties::default().with_max_retries(COMMIT_ATTEMPTS);
    match user_metadata {
        Some(text) => properties.with_metadata([("userMetadata".to_string(), text.into())]),
        None => properties,
    }
}
