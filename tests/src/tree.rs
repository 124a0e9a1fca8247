//! The project stores data in PostgreSQL only: after any start of the server,
//! no SQLite-looking file may exist anywhere in the repository.

use std::path::PathBuf;

use walkdir::WalkDir;

use crate::paths::repo_root;

/// Every `*.db`, `*.sqlite` or `*.sqlite3` file (and their `-journal`/`-wal`
/// companions) in the repository, skipping build output (`target/`) and the
/// local PostgreSQL clusters (`.local/`).
pub fn sqlite_files_in_repo() -> Vec<PathBuf> {
    let root = repo_root();
    WalkDir::new(&root)
        .into_iter()
        .filter_entry(|entry| {
            let skipped = entry.depth() == 1
                && entry.file_type().is_dir()
                && matches!(entry.file_name().to_str(), Some("target" | ".local"));
            !skipped
        })
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().to_lowercase();
            let name = name
                .trim_end_matches("-journal")
                .trim_end_matches("-wal")
                .trim_end_matches("-shm");
            name.ends_with(".db") || name.ends_with(".sqlite") || name.ends_with(".sqlite3")
        })
        .map(|entry| entry.into_path())
        .collect()
}

/// Fails the test when [`sqlite_files_in_repo`] finds anything.
pub fn assert_no_sqlite_files_in_repo() {
    let found = sqlite_files_in_repo();
    assert!(
        found.is_empty(),
        "SQLite-looking files exist in the repository (the project must use PostgreSQL only): {found:?}"
    );
}
