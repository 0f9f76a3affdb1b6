//! Keys stored in PostgreSQL, on the stack's real database: a key made with the `keys` commands
//! is accepted by a running api, only its hash (and a short prefix) is stored, and once revoked
//! it is refused (403) within the refresh interval.

mod common;

use std::time::Duration;

use clap::Parser;
use common::migrate;
use lakehouse_api::{ApiConfig, stored_keys};
use lakehouse_testkit::{Stack, TempDatabase, TestTopic, wait_until};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn making_and_revoking_a_key_are_audited_without_the_key() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    migrate(&database.url).await;
    let (stdout, _) = keys_cli(
        &database.url,
        &["create", "--project=shop", "--name=checkout", "--actor=sre-7"],
    );
    let created: serde_json::Value = serde_json::from_str(&stdout).expect("the CLI prints JSON");
    let (key, id) = (
        created["key"].as_str().expect("a key"),
        created["id"].as_str().expect("an id"),
    );
    keys_cli(&database.url, &["revoke", id, "--actor=sre-7"]);

    let pool = sqlx::PgPool::connect(&database.url).await.expect("the database");
    let filter = lakehouse_audit::Filter {
        action: Some("api.keys.".into()),
        limit: 10,
        ..Default::default()
    };
    let records = lakehouse_audit::list(&pool, &filter)
        .await
        .expect("the audit log");
    let seen: Vec<(&str, &str, bool)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.actor.as_str(), r.ok))
        .collect();
    assert_eq!(
        seen,
        [
            ("api.keys.revoke", "sre-7", true),
            ("api.keys.create", "sre-7", true)
        ],
        "newest first"
    );
    assert_eq!(
        records[1].arguments,
        json!({"project_id": "shop", "name": "checkout"})
    );
    assert_eq!(records[1].result["id"].as_str(), Some(id), "{:?}", records[1]);
    assert_eq!(records[0].arguments, json!({"id": id}));
    let text = serde_json::to_string(&records).expect("JSON");
    assert!(!text.contains(&key[9..]), "the audit log holds the key: {text}");
}

/// Runs `lakehouse-api keys <args>` against `database_url`, as an operator would, and returns its
/// standard output and error.
fn keys_cli(database_url: &str, args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse-api"))
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "pretty")
        .output()
        .expect("the api binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "keys {args:?} failed: {stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_holds_only_the_hash_of_a_key_made_with_the_cli() {
    use sha2::Digest;
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    migrate(&database.url).await;
    let (stdout, _) = keys_cli(&database.url, &["create", "--project=audit", "--name=web app"]);
    let created: serde_json::Value = serde_json::from_str(&stdout).expect("the CLI prints JSON");
    let key = created["key"].as_str().expect("the key is printed once");
    let id = created["id"].as_str().expect("an id");
    let sha256_hex = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    // What a key would have to look like not to be found below: long and unlike a hash.
    assert!(key.len() >= 40 && !key.contains(&sha256_hex), "{key}");

    let pool = sqlx::PgPool::connect(&database.url).await.expect("the database");
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM api_keys t")
        .fetch_all(&pool)
        .await
        .expect("every row as text");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert!(row.contains(id), "the row read is the key's: {row}");
    assert!(row.contains(&sha256_hex), "its SHA-256 is stored: {row}");
    // The prefix (`lh_` and 6 characters) is kept to recognise the key in a list; the rest never.
    assert!(!row.contains(key), "the key is stored: {row}");
    assert!(!row.contains(&key[9..]), "most of the key is stored: {row}");

    let (listed, _) = keys_cli(&database.url, &["list"]);
    assert!(listed.contains(id), "{listed}");
    assert!(!listed.contains(&key[9..]), "list shows the key: {listed}");
    let (_, revoke_log) = keys_cli(&database.url, &["revoke", id]);
    assert!(!revoke_log.contains(&key[9..]), "{revoke_log}");
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM api_keys t")
        .fetch_all(&pool)
        .await
        .expect("every row as text");
    assert!(rows.iter().all(|row| !row.contains(&key[9..])), "{rows:?}");
}
