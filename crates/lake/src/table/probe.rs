//! Commit safety: Delta commits are safe beside other writers only where the object store refuses
//! to overwrite an existing object (`If-None-Match: *`, object_store's `PutMode::Create`). Some
//! S3-compatible stores accept the header and overwrite anyway; two writers there would silently
//! replace each other's commits. The probe writes one object twice with `PutMode::Create` and
//! expects the second write to be refused.

use deltalake::DeltaTable;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{self, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::location::LakeLocation;

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalPut {
    /// The second create was refused: commits are safe beside other writers.
    Honoured,
    /// The second create overwrote the first, or the store does not support it.
    Ignored,
}

/// Writes `<prefix>/_lakehouse_probe/<uuid>` twice with `PutMode::Create`, then deletes it.
pub async fn conditional_put(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> Result<ConditionalPut, object_store::Error> {
    let path = prefix
        .clone()
        .join("_lakehouse_probe")
        .join(uuid::Uuid::new_v4().to_string());
    let create = || PutOptions::from(PutMode::Create);
    store
        .put_opts(&path, PutPayload::from_static(b"first"), create())
        .await?;
    let second = store
        .put_opts(&path, PutPayload::from_static(b"second"), create())
        .await;
    let _ = store.delete(&path).await;
    match second {
        Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => {
            Ok(ConditionalPut::Honoured)
        }
        Ok(_) | Err(object_store::Error::NotImplemented { .. }) => Ok(ConditionalPut::Ignored),
        Err(error) => Err(error),
    }
}

/// A store that would let two writers overwrite each other's commits.
#[derive(Debug, thiserror::Error)]
#[error(
    "the object store at {0} ignores conditional writes (If-None-Match): two writers \
     could overwrite each other's commits. Use a store that honours them (AWS S3, MinIO), \
     or, if this is the table's only writer, set LAKE_SINGLE_WRITER=true"
)]
pub struct UnsafeStore(pub String);

fold_into_lake_error!(UnsafeStore);

/// Probes the table's store; refuses one that ignores conditional writes unless the location says
/// this is the table's single writer (then warns).
pub async fn ensure_safe_commits(table: &DeltaTable, location: &LakeLocation) -> Result<(), LakeError> {
    let probe = conditional_put(table.object_store().as_ref(), &Path::default())
        .await
        .map_err(deltalake::DeltaTableError::from)?;
    if probe == ConditionalPut::Ignored {
        let url = table.table_url();
        if !location.single_writer {
            return Err(UnsafeStore(url.to_string()).into());
        }
        tracing::warn!(table = %url, "the object store ignores conditional writes; running as the single writer");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::logstore::object_store::memory::InMemory;
    use deltalake::logstore::object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, PutMultipartOptions,
        PutResult, Result,
    };
    use futures::stream::BoxStream;

    /// A store that accepts `PutMode::Create` and overwrites anyway, like the stores we refuse.
    #[derive(Debug, Default)]
    struct IgnoresConditions(InMemory);

    impl std::fmt::Display for IgnoresConditions {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "IgnoresConditions")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for IgnoresConditions {
        async fn put_opts(&self, location: &Path, payload: PutPayload, _: PutOptions) -> Result<PutResult> {
            self.0.put_opts(location, payload, PutOptions::default()).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            options: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.0.put_multipart_opts(location, options).await
        }
        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            self.0.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.0.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.0.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.0.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_store_that_refuses_a_second_create_is_safe() {
        let store = InMemory::new();
        let found = conditional_put(&store, &Path::from("table")).await.unwrap();
        assert_eq!(found, ConditionalPut::Honoured);
        assert!(
            store.list_with_delimiter(None).await.unwrap().objects.is_empty(),
            "the probe cleans up"
        );
    }

    #[tokio::test]
    async fn a_store_that_overwrites_is_found_out() {
        let store = IgnoresConditions::default();
        let found = conditional_put(&store, &Path::from("table")).await.unwrap();
        assert_eq!(found, ConditionalPut::Ignored);
    }
}
