//! The workspace's service binaries as the end-to-end tests start them: where each is built, a
//! free port for the api, waiting until the api is ready, and stopping a service with SIGTERM.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lakehouse_testkit::wait_until;

/// A service binary of this workspace: from `SCENARIO_BIN_DIR` (`scripts/soak` copies them there,
/// so that a build during a long run does not change what a restart starts), else built beside
/// the test (`cargo test --workspace` builds every binary first).
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("SCENARIO_BIN_DIR").map_or_else(
        || {
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe.parent().and_then(Path::parent).expect("the target directory");
            dir.to_path_buf()
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test and scripts/soak do)",
        path.display()
    );
    path
}

/// Sends SIGTERM to `child` (named `name` in failures) and waits until it exits, which must be
/// cleanly and within a minute: a service drains, commits and leaves its group on SIGTERM.
pub async fn terminate(child: &mut tokio::process::Child, name: &str) {
    let pid = child.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => assert!(
            status.expect("the exit status").success(),
            "{name} exits cleanly on SIGTERM"
        ),
        Err(_) => panic!("{name} did not stop within 60 s of SIGTERM"),
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (up to a minute) until the api at `base_url` (`http://host:port`) answers `/ready`
/// with a success.
pub async fn wait_until_ready(base_url: &str) {
    let ready = format!("{base_url}/ready");
    wait_until("the api is ready", Duration::from_secs(60), || {
        let ready = ready.clone();
        async move {
            match reqwest::get(&ready).await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(response.status().to_string()),
                Err(error) => Err(error.to_string()),
            }
        }
    })
    .await;
}
