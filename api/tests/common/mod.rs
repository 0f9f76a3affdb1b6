//! What more than one of the api's integration tests needs: the warehouse's schema, where the
//! stored keys live.

use lakehouse_warehouse::Warehouse;

/// The warehouse's schema, `api_keys` included, made as the stream-processor makes it.
pub async fn migrate(database_url: &str) {
    Warehouse::connect_lazy(database_url, "lakehouse-warehouse")
        .expect("a pool")
        .migrate(&Default::default())
        .await
        .expect("the warehouse's migrations");
}
