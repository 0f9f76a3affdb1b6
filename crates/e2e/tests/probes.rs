//! A service that cannot serve its probes refuses to start: each binary that serves `/health`,
//! started with its listening address already taken, exits non-zero within seconds and names the
//! address (DESIGN.md §10). Without it a consumer would consume unprobed and unscraped.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Starts `name` with `variable` set to an address another socket holds: it must exit non-zero,
/// naming the address.
async fn refuses(name: &str, variable: &str, extra: &[(&str, &str)]) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let lake = std::env::temp_dir().join(format!("probes-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new(lakehouse_e2e::services::binary(name));
    command
        .env(variable, &addr)
        .env("LOG_FORMAT", "json")
        .env("LAKE_URI", &lake)
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().unwrap_or_else(|e| panic!("{name} starts: {e}"));
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} still runs 30 s after starting on the taken {variable}={addr}"))
        .expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{name} exited successfully on a taken {variable}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{name}'s error does not name {variable}={addr}: {stderr}"
    );
    drop(taken);
    let _ = std::fs::remove_dir_all(lake);
}

#[tokio::test]
async fn the_api_refuses_a_taken_listen_addr() {
    refuses(
        "lakehouse-api",
        "LISTEN_ADDR",
        &[
            ("API_KEYS", "probes:probes-key"),
            ("VISITOR_ID_SECRET_EPHEMERAL", "true"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_stream_processor_refuses_a_taken_metrics_addr() {
    refuses("lakehouse-stream-processor", "METRICS_ADDR", &[]).await;
}

#[tokio::test]
async fn the_delta_writer_refuses_a_taken_metrics_addr() {
    refuses("lakehouse-delta-writer", "METRICS_ADDR", &[]).await;
}

#[tokio::test]
async fn the_lake_browser_refuses_a_taken_listen_addr() {
    refuses("lakehouse-lake-browser", "LISTEN_ADDR", &[]).await;
}
