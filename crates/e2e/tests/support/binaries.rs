//! The workspace's service binaries, built beside the test binaries (`cargo test --workspace`
//! builds them all), and free loopback ports to run them on.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The path of binary `name` of this workspace.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("the target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// A loopback address no one listens on now.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}
