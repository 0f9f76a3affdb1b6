//! `lakehouse keys`, as an operator runs it on the stack's real database, made with `lakehouse
//! warehouse migrate`: making and revoking a key are audited without the key, the database holds
//! only its hash, and `list` never shows it.

use lakehouse_testkit::{Stack, TempDatabase};
use serde_json::json;

/// `lakehouse warehouse migrate` on an empty database: the tables `keys` needs, and its record.
async fn migrate(database_url: &str) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .args(["warehouse", "migrate", "--log-format=pretty", "--actor=dba"])
        .env("DATABASE_URL", database_url)
        .output()
        .expect("lakehouse runs");
    assert!(
        output.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON result");
    assert_eq!(result["migrated"], true, "{result}");
    let pool = sqlx::PgPool::connect(database_url).await.expect("the database");
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = 'dba'")
        .fetch_all(&pool)
        .await
        .expect("the audit log the migrations made");
    assert_eq!(actions, ["warehouse.migrate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn making_and_revoking_a_key_are_audited_without_the_key() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    migrate(&database.url).await;
    let (stdout, _) = keys_cli(
        &database.url,
        &["create", "--project-id=shop", "--name=checkout", "--actor=sre-7"],
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

/// Runs `lakehouse keys <args>` against `database_url`, as an operator would, and returns its
/// standard output and error.
fn keys_cli(database_url: &str, args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "pretty")
        .output()
        .expect("lakehouse runs");
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
    let (stdout, _) = keys_cli(&database.url, &["create", "--project-id=audit", "--name=web app"]);
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
