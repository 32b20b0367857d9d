//! Helpers shared by the integration tests: running `maze`, making apps in
//! temporary folders, and reading a whole app tree to compare before/after.

#![allow(dead_code)]

pub mod browser;
pub mod running;

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `maze` run in `dir`, with colours off so output can be matched.
pub fn maze(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maze"));
    command.current_dir(dir).env("NO_COLOR", "1").env_remove("MAZE_PATH");
    command
}

/// A fresh folder under the workspace's target/, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tmp");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// `maze new chat` in a fresh folder; returns the folder and the app's root.
pub fn new_app() -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    maze(dir.path()).args(["new", "chat"]).assert().success();
    let root = dir.path().join("chat");
    (dir, root)
}

/// Every file under `root` (target/ excluded), by relative path.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if relative != "target" {
                walk(root, &path, files);
            }
        } else {
            files.insert(relative, std::fs::read(&path).unwrap());
        }
    }
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}
