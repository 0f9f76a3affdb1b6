//! The warehouse schema on real PostgreSQL: the roles get exactly their privileges, retention
//! removes what is past its period and nothing else, and later migrations derive their tables from
//! the events stored before them.

use chrono::{Duration, Utc};
use std::collections::BTreeMap;

use lakehouse_testkit::{
    Stack, TempDatabase, derived_mismatches, empty_derived_tables, reference_event, rows_and_offsets,
};
use lakehouse_warehouse::grants::Roles;
use lakehouse_warehouse::retention::Retention;
use lakehouse_warehouse::{EventRow, Warehouse};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};

async fn migrated(database: &TempDatabase) -> Warehouse {
    let warehouse = Warehouse::connect_lazy(&database.url, "g").expect("a pool");
    warehouse.migrate(&Roles::default()).await.expect("migrations");
    warehouse
}

#[tokio::test]
async fn grafanas_role_reads_every_table_and_writes_none() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    migrated(&database).await;
    // `scripts/stack` makes `lakehouse_grafana`, a login in `lakehouse_reader`, as a DBA would.
    let grafana: PgConnectOptions = database.url.parse::<PgConnectOptions>().expect("the URL");
    let mut grafana = grafana
        .username("lakehouse_grafana")
        .password("lakehouse_grafana")
        .connect()
        .await
        .expect("Grafana's role logs in");
    for table in [
        "events",
        "event_rollups_minute",
        "event_dimensions_hourly",
        "unique_ids_hourly",
        "funnel_progress",
    ] {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut grafana)
            .await
            .unwrap_or_else(|e| panic!("the reader reads {table}: {e}"));
        assert_eq!(rows, 0);
    }
    let refused = sqlx::query("DELETE FROM event_rollups_minute")
        .execute(&mut grafana)
        .await
        .expect_err("the reader cannot write");
    assert_eq!(
        refused.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{refused}"
    );

    let pool = PgPool::connect(&database.url).await.expect("the test database");
    let writer_may: bool = sqlx::query_scalar(
        "SELECT bool_and(has_table_privilege('lakehouse_writer', t, 'SELECT, INSERT, UPDATE, DELETE'))
         FROM unnest(ARRAY['events', 'kafka_offsets', 'event_rollups_minute', 'funnel_progress']) AS t",
    )
    .fetch_one(&pool)
    .await
    .expect("the writer's privileges");
    assert!(writer_may);
}

#[tokio::test]
async fn the_apis_login_reads_the_keys_and_nothing_else_and_grafana_not_the_keys() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    migrated(&database).await;
    let login = |user: &str, password: String| {
        let options: PgConnectOptions = database.url.parse::<PgConnectOptions>().expect("the URL");
        options.username(user).password(&password)
    };
    // `scripts/stack` makes `lakehouse_api`, a login in `lakehouse_key_reader`, as a DBA would.
    let mut api = login(
        "lakehouse_api",
        lakehouse_testkit::stack::setting("LAKEHOUSE_API_DB_PASSWORD"),
    )
    .connect()
    .await
    .expect("the api's login");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut api)
        .await
        .expect("the api reads the stored keys");
    assert_eq!(keys, 0);
    for refused in [
        "SELECT count(*) FROM events",
        "SELECT count(*) FROM audit_log",
        "INSERT INTO api_keys (id, project_id, key_hash, key_prefix) VALUES (gen_random_uuid(), 'p', '\\x00', 'lh_')",
    ] {
        let error = sqlx::query(refused).execute(&mut api).await.expect_err(refused);
        assert_eq!(
            error.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{refused}: {error}"
        );
    }
    let mut grafana = login(
        "lakehouse_grafana",
        lakehouse_testkit::stack::setting("LAKEHOUSE_GRAFANA_DB_PASSWORD"),
    )
    .connect()
    .await
    .expect("Grafana's login");
    let error = sqlx::query("SELECT count(*) FROM api_keys")
        .execute(&mut grafana)
        .await
        .expect_err("the dashboards' role does not read key hashes");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501"),
        "{error}"
    );
}

#[tokio::test]
async fn roles_that_do_not_exist_are_reported_not_fatal() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let warehouse = migrated(&database).await;
    let roles = Roles {
        reader: "lakehouse_no_such_reader".into(),
        writer: "lakehouse_writer".into(),
        key_reader: "lakehouse_no_such_key_reader".into(),
    };
    let granted = lakehouse_warehouse::grants::grant(warehouse.pool(), &roles)
        .await
        .expect("grants");
    assert_eq!(
        granted.missing,
        ["lakehouse_no_such_reader", "lakehouse_no_such_key_reader"]
    );
    assert_eq!(granted.granted, ["lakehouse_writer"]);
}

#[tokio::test]
async fn retention_removes_what_is_past_its_period_and_nothing_else() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let warehouse = migrated(&database).await;
    let now = Utc::now();
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    // Events that arrived (and happened) 100, 40 and 1 days ago.
    let events: Vec<_> = [100, 100, 40, 40, 1, 1]
        .into_iter()
        .enumerate()
        .map(|(index, age)| {
            let mut event = reference_event(seed, index as u64);
            event.timestamp = now - Duration::days(age);
            event.received_at = event.timestamp;
            event
        })
        .collect();
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .enumerate()
        .map(|(index, event)| EventRow {
            event,
            partition: 0,
            offset: index as i64,
        })
        .collect();
    warehouse
        .write("t", &BTreeMap::from([(0, events.len() as i64)]), &rows)
        .await
        .expect("the batch");
    warehouse.fold().await.expect("the derived rows");
    let pool = warehouse.pool().clone();

    let retention = Retention {
        events: Some(Duration::days(90)),
        derived: Some(Duration::days(30)),
    };
    let removed = retention
        .apply(&pool, now)
        .await
        .expect("retention")
        .expect("no other replica holds the lock");
    assert!(removed.contains(&("events", 2)), "{removed:?}");
    let (rows, _, offsets) = rows_and_offsets(&pool).await.expect("counts");
    assert_eq!(
        (rows, offsets),
        (4, 6),
        "raw events of 40 days stay; offsets stay"
    );
    let oldest_rollup: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT min(bucket) FROM event_rollups_minute")
            .fetch_one(&pool)
            .await
            .expect("rollups");
    assert!(oldest_rollup > now - Duration::days(2), "{oldest_rollup}");
    for table in ["event_dimensions_hourly", "unique_ids_hourly"] {
        let old: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE bucket < now() - interval '30 days'"
        ))
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!(old, 0, "{table}");
    }

    // With the derived tables kept as long as the raw events, the two agree again.
    let matching = Retention {
        events: Some(Duration::days(30)),
        derived: Some(Duration::days(30)),
    };
    matching
        .apply(&pool, now)
        .await
        .expect("retention")
        .expect("the lock");
    assert_eq!(rows_and_offsets(&pool).await.expect("counts").0, 2);
    assert_eq!(derived_mismatches(&pool).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_migrations_derive_their_tables_from_events_stored_before_them() {
    let stack = Stack::from_env();
    let database = TempDatabase::create(&stack).await;
    let pool = PgPool::connect(&database.url).await.expect("the test database");
    // A database migrated before the rollups and breakdowns existed, holding events.
    sqlx::raw_sql(include_str!("../migrations/0001_events.sql"))
        .execute(&pool)
        .await
        .expect("the first migration");
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    for index in 0..400 {
        let e = reference_event(seed, index);
        sqlx::query(
            r#"INSERT INTO events (event_id, project_id, event_type, event_name, session_id, visitor_id,
                   "timestamp", received_at, path, referrer, value, properties, browser, os, device_type,
                   country, schema_version, kafka_partition, kafka_offset)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, 0, $17)"#,
        )
        .bind(e.event_id)
        .bind(&e.project_id)
        .bind(&e.event_type)
        .bind(&e.event_name)
        .bind(&e.session_id)
        .bind(&e.visitor_id)
        .bind(e.timestamp)
        .bind(e.received_at)
        .bind(&e.path)
        .bind(&e.referrer)
        .bind(e.value)
        .bind(serde_json::Value::Object(e.properties.clone()))
        .bind(&e.browser)
        .bind(&e.os)
        .bind(&e.device_type)
        .bind(&e.country)
        .bind(index as i64)
        .execute(&pool)
        .await
        .expect("an old event");
    }
    // Only the later migrations are left to apply: record the first as applied, as sqlx would.
    let migrator = sqlx::migrate!("./migrations");
    let first = migrator.iter().next().expect("a first migration");
    sqlx::query(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("the migrations table");
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, true, $3, 0)")
        .bind(first.version)
        .bind(&*first.description)
        .bind(&*first.checksum)
        .execute(&pool)
        .await
        .expect("record the first migration");

    lakehouse_warehouse::Warehouse::connect_lazy(&database.url, "g")
        .expect("a pool")
        .migrate(&Default::default())
        .await
        .expect("the remaining migrations");
    assert_eq!(empty_derived_tables(&pool).await, Vec::<&str>::new());
    assert_eq!(derived_mismatches(&pool).await, vec![]);
    let hosts: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT value FROM event_dimensions_hourly WHERE dimension = 'referrer_host' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("referrer hosts");
    assert_eq!(
        hosts,
        [
            "news.ycombinator.com",
            "shop.example",
            "t.co",
            "www.bing.com",
            "www.google.com"
        ]
    );
}
