//! Keys stored in PostgreSQL, on the stack's real database: a key made as `lakehouse keys create`
//! makes it is accepted by a running api, and once revoked it is refused (403) within the refresh
//! interval. (The command itself is tested in cli/tests/keys.rs.)

mod common;

use std::time::Duration;

use clap::Parser;
use common::migrate;
use lakehouse_api::ApiConfig;
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, wait_until};
use lakehouse_warehouse::api_keys as stored_keys;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_key_works_until_it_is_revoked_and_only_its_hash_is_kept() {
    let stack = Stack::from_env();
    let topic = TestTopic::create(&stack, 1).await;
    let database = TempDatabase::create(&stack).await;
    migrate(&database.url).await;
    let pool = sqlx::PgPool::connect(&database.url).await.expect("the database");
    let created = stored_keys::create(&pool, "blog", "web app")
        .await
        .expect("a key");
    assert!(created.key.starts_with(&created.stored.key_prefix));

    let stored: Vec<(Vec<u8>, String)> = sqlx::query_as("SELECT key_hash, key_prefix FROM api_keys")
        .fetch_all(&pool)
        .await
        .expect("the rows");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0.len(), 32, "a SHA-256");
    assert!(
        created.key.len() > stored[0].1.len() + 30,
        "the prefix is a small part of the key"
    );
    let row_text = format!("{stored:?}");
    assert!(
        !row_text.contains(&created.key[3..]),
        "the key itself is not stored"
    );

    let mut args = vec!["lakehouse-api".to_string()];
    args.extend(topic.flags(&stack));
    args.extend([
        "--api-keys=shop:static-key".to_string(),
        "--visitor-id-secret-ephemeral".into(),
        format!("--database-url={}", database.url),
        "--api-keys-refresh-secs=1".into(),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/analytics", listener.local_addr().expect("an address"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(lakehouse_api::serve(
        ApiConfig::parse_from(args),
        listener,
        shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let post = |key: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(&url)
                .header("x-api-key", key)
                .json(&json!({"event_type": "page_view", "session_id": "s"}))
                .send()
                .await
                .expect("an answer")
                .status()
                .as_u16()
        }
    };
    let key: &'static str = Box::leak(created.key.clone().into_boxed_str());
    assert_eq!(post(key).await, 202, "the stored key is accepted");
    assert_eq!(post("static-key").await, 202, "beside the static keys");

    assert!(
        stored_keys::revoke(&pool, created.stored.id)
            .await
            .expect("revoke")
    );
    wait_until("the revoked key refused", Duration::from_secs(10), || async {
        match post(key).await {
            403 => Ok(()),
            status => Err(format!("status {status}")),
        }
    })
    .await;
    assert_eq!(post("static-key").await, 202);
    let listed = stored_keys::list(&pool).await.expect("list");
    assert!(listed[0].revoked_at.is_some());
    assert!(
        !stored_keys::revoke(&pool, created.stored.id)
            .await
            .expect("revoke"),
        "already revoked"
    );
    shutdown.cancel();
    server.await.expect("the server").expect("a clean shutdown");
}
