//! Where the repository is, found at run time: from the package directory cargo gives a test
//! (`CARGO_MANIFEST_DIR` in its environment; its working directory otherwise), up to the
//! workspace root, the folder holding `scripts/stack`. Not a path compiled into this crate: with a
//! build cache shared between checkouts, that would name another checkout and its stack.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root of the checkout the test runs in.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let start = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .expect("a package directory or a working directory");
        workspace_root(&start).unwrap_or_else(|| {
            panic!(
                "no folder holding scripts/stack at or above {} (run the tests inside the repository)",
                start.display()
            )
        })
    })
}

/// `relative` (e.g. `scripts/stack`) under the workspace root.
pub fn path(relative: impl AsRef<Path>) -> PathBuf {
    root().join(relative)
}

/// The nearest folder at or above `start` that holds `scripts/stack`.
fn workspace_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("scripts/stack").is_file())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_from_a_package_below_it() {
        let root = std::env::temp_dir().join(crate::unique("repo"));
        let package = root.join("crates/some-crate");
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(root.join("scripts/stack"), "").unwrap();
        assert_eq!(workspace_root(&package), Some(root.clone()));
        assert_eq!(workspace_root(&root), Some(root.clone()));
        assert_eq!(workspace_root(root.parent().unwrap()), None);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn this_checkout_is_the_one_the_test_runs_in() {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
        assert!(manifest.starts_with(root()));
        assert!(path("scripts/stack").is_file());
    }
}
