//! Where things are: the repository root, its `config/` folder and the
//! `todo-server` binary that `scripts/test.sh` builds before the tests run.

use std::path::{Path, PathBuf};

/// The root of the repository (the workspace folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e-tests crate lives one folder below the repository root")
        .to_path_buf()
}

/// The folder of this crate; the server runs with it as working directory so
/// that a stray `.env` at the repository root cannot leak into a test.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `config/` folder the server reads its layered settings from.
pub fn config_dir() -> PathBuf {
    repo_root().join("config")
}

/// The `todo-server` binary under test.
///
/// `TODO_SERVER_BIN` wins; otherwise it sits next to this test binary's
/// `deps/` folder (`<target>/debug/todo-server`), which also holds when
/// `CARGO_TARGET_DIR` points elsewhere. The tests never build it themselves.
///
/// # Panics
/// When the binary does not exist, with the command that builds it.
pub fn server_binary() -> PathBuf {
    let path = std::env::var_os("TODO_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| profile_dir().join("todo-server"));
    assert!(
        path.is_file(),
        "the server binary {} does not exist: build it first with `cargo build --bin todo-server` \
         (scripts/test.sh does this before running the tests)",
        path.display()
    );
    path
}

/// `<target>/debug`: the test binary runs from `<target>/debug/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let deps = exe.parent().expect("the test binary sits in a folder");
    let profile = if deps.file_name().is_some_and(|name| name == "deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    profile.to_path_buf()
}
