//! Where things are: the repository root, its `config/` folder and the
//! `todo-server` binary that `scripts/test.sh` builds before the tests run,
//! which the suite refuses to use when a source it was built from changed
//! since.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// The root of the repository (the workspace folder).
pub fn repo_root() -> PathBuf {
    test_support::cluster::repo_root()
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

/// What to run to get a fresh server binary.
const BUILD_COMMAND: &str = "cargo build --bin todo-server";

/// The `todo-server` binary under test.
///
/// `TODO_SERVER_BIN` wins; otherwise it sits next to this test binary's
/// `deps/` folder (`<target>/debug/todo-server`), which also holds when
/// `CARGO_TARGET_DIR` points elsewhere. The tests never build it themselves.
///
/// # Panics
/// When the binary does not exist, or is older than a source file of this
/// repository it was built from (a stale binary would test old code), with
/// the command that builds it.
pub fn server_binary() -> PathBuf {
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let path = std::env::var_os("TODO_SERVER_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| profile_dir().join("todo-server"));
            assert!(
                path.is_file(),
                "the server binary {} does not exist: build it first with `{BUILD_COMMAND}` \
                 (scripts/test.sh does this before running the tests)",
                path.display()
            );
            if let Some(stale) = stale_because(&path, &repo_root()) {
                panic!(
                    "the server binary {} is stale: {stale}. Run `{BUILD_COMMAND}` first \
                     (scripts/test.sh does this before running the tests)",
                    path.display()
                );
            }
            path
        })
        .clone()
}

/// Why `binary` is older than what it was built from, if it is: Cargo's
/// dep-info file next to it (`todo-server.d`) lists every source file of
/// the build, and each one inside `root` must be as old as the binary and
/// still exist. `None` without a dep-info file (a binary built elsewhere).
fn stale_because(binary: &Path, root: &Path) -> Option<String> {
    let dep_info = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let built = modified(binary)?;
    for source in dep_info_sources(&dep_info) {
        let source = root.join(source);
        // Build output (generated code) is not a source someone edits.
        if !source.starts_with(root) || source.starts_with(root.join("target")) {
            continue;
        }
        match modified(&source) {
            None => return Some(format!("{} is gone since the build", source.display())),
            Some(changed) if changed > built => {
                return Some(format!("{} changed after the build", source.display()))
            }
            Some(_) => {}
        }
    }
    None
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The prerequisites of the first rule of a Makefile-style dep-info file
/// (`target: a.rs b\ c.rs`), with `\ ` read as a space in a name.
fn dep_info_sources(dep_info: &str) -> Vec<PathBuf> {
    let Some(line) = dep_info.lines().find(|line| line.contains(": ")) else {
        return Vec::new();
    };
    let (_, prerequisites) = line.split_once(": ").expect("found above");
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = prerequisites.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    sources.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        sources.push(PathBuf::from(current));
    }
    sources
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dep_info_prerequisites_are_split_on_unescaped_spaces() {
        let sources = dep_info_sources("/t/todo-server: /r/a.rs /r/b\\ c.rs rel.rs\n\n/r/a.rs:\n");
        assert_eq!(
            sources,
            [
                PathBuf::from("/r/a.rs"),
                PathBuf::from("/r/b c.rs"),
                PathBuf::from("rel.rs")
            ]
        );
    }

    /// A binary and its dep-info in a fresh folder, one source inside it and
    /// one outside; the source's mtime is set relative to the binary's.
    fn fixture(source_age: i64) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("stale-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let binary = dir.join("todo-server");
        let source = dir.join("src").join("main.rs");
        std::fs::write(&source, "fn main() {}").unwrap();
        std::fs::write(&binary, "binary").unwrap();
        std::fs::write(
            dir.join("todo-server.d"),
            format!(
                "{}: {} /usr/lib/outside.rs\n",
                binary.display(),
                source.display()
            ),
        )
        .unwrap();
        let built = modified(&binary).unwrap();
        let at = if source_age >= 0 {
            built - Duration::from_secs(source_age.unsigned_abs())
        } else {
            built + Duration::from_secs(source_age.unsigned_abs())
        };
        std::fs::File::options()
            .write(true)
            .open(&source)
            .unwrap()
            .set_modified(at)
            .unwrap();
        (dir, binary)
    }

    #[test]
    fn a_binary_newer_than_its_sources_is_fresh() {
        let (dir, binary) = fixture(60);
        assert_eq!(stale_because(&binary, &dir), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_source_changed_after_the_build_makes_it_stale() {
        let (dir, binary) = fixture(-60);
        let why = stale_because(&binary, &dir).expect("stale");
        assert!(why.contains("main.rs changed after the build"), "{why}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_source_gone_since_the_build_makes_it_stale() {
        let (dir, binary) = fixture(60);
        std::fs::remove_file(dir.join("src").join("main.rs")).unwrap();
        let why = stale_because(&binary, &dir).expect("stale");
        assert!(why.contains("is gone since the build"), "{why}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_dep_info_nothing_is_claimed() {
        let (dir, binary) = fixture(-60);
        std::fs::remove_file(dir.join("todo-server.d")).unwrap();
        assert_eq!(stale_because(&binary, &dir), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
