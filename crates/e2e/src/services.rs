//! The workspace's service binaries as the end-to-end tests start them: where each is built, a
//! free port for the api, waiting until the api is ready, and stopping a service with SIGTERM.

use std::time::Duration;

pub use lakehouse_testkit::child::{binary, terminate};
use lakehouse_testkit::wait_until;

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
