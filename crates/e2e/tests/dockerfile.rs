//! The `Dockerfile` (not built here: there is no Docker engine): a build stage and a runtime stage,
//! every binary of the workspace built and copied, `lakehouse`'s man pages installed, and a runtime user that is not root and is the
//! one the chart's security context runs as.

use lakehouse_e2e::tools;

/// The binaries of the workspace: every member folder with a `src/main.rs`, by binary name.
fn workspace_binaries() -> Vec<String> {
    let mut binaries = Vec::new();
    let folders = [
        ("api", "lakehouse-api"),
        ("stream-processor", "lakehouse-stream-processor"),
        ("delta-writer", "lakehouse-delta-writer"),
        ("lake-browser", "lakehouse-lake-browser"),
        ("cli", "lakehouse"),
    ];
    for (folder, binary) in folders {
        let dir = tools::repo().join(folder);
        assert!(dir.join("src/main.rs").exists(), "{folder} has no main.rs");
        binaries.push(binary.to_string());
    }
    // A new deployable folder with a main.rs must be added above (and to the Dockerfile).
    for entry in std::fs::read_dir(tools::repo()).expect("the repository") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        if path.join("src/main.rs").exists() && name != "bench" {
            assert!(
                folders.iter().any(|(folder, _)| *folder == name),
                "{name} is a binary the test does not know"
            );
        }
    }
    binaries
}

#[test]
fn the_image_builds_every_binary_and_runs_as_the_charts_user() {
    let dockerfile = std::fs::read_to_string(tools::repo().join("Dockerfile")).expect("the Dockerfile");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 2, "not multi-stage: {stages:?}");
    let runtime = dockerfile.rsplit("\nFROM ").next().expect("a last stage");
    for binary in workspace_binaries() {
        assert!(
            dockerfile.contains(&format!("--bin {binary}")),
            "{binary} is not built"
        );
        assert!(
            dockerfile.contains(&format!("target/release/{binary}")),
            "{binary} is not copied"
        );
    }
    // The man pages `lakehouse man-pages` writes are installed where `man` looks.
    assert!(
        dockerfile.contains("lakehouse man-pages --out /out/man/man1")
            && runtime.contains("COPY --from=build /out/man/ /usr/local/share/man/"),
        "the man pages are not installed"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid >= 10_000),
        "runtime user {user:?}: numeric, not root, not a system uid"
    );
    let values = tools::yaml("helm/lakehouse/values.yaml");
    assert_eq!(
        values["podSecurityContext"]["runAsUser"].to_string(),
        uid,
        "the chart runs as another user than the image's"
    );
    assert!(
        !runtime.contains("cargo"),
        "the runtime stage carries the toolchain"
    );
}

#[test]
fn the_build_context_leaves_out_artefacts_and_local_data() {
    let ignore = std::fs::read_to_string(tools::repo().join(".dockerignore")).expect(".dockerignore");
    for excluded in ["target", ".stack", "data", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            "{excluded} is sent to the builder"
        );
    }
}
