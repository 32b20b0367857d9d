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

/// Replaces `from` (which must be there) with `to` in the app's file `path`.
pub fn edit(root: &Path, path: &str, from: &str, to: &str) {
    let file = root.join(path);
    let source = std::fs::read_to_string(&file).unwrap();
    assert!(source.contains(from), "{path} no longer holds {from:?}: update this test's edit");
    std::fs::write(&file, source.replacen(from, to, 1)).unwrap();
}

/// Signing in and kicking out, in an app with `ChatSocket`: `maze g
/// controller Auth sign_in kick`, written so that `/auth/sign_in?id=ID`
/// signs in and `/auth/kick?id=ID` disconnects that user everywhere; the
/// socket's id becomes its signed-in user (`user:ID`).
pub fn add_sign_in_and_kick(root: &Path) {
    maze(root).args(["g", "controller", "Auth", "sign_in", "kick"]).assert().success();
    edit(
        root,
        "src/sockets/chat_socket.rs",
        "        true\n    }\n}",
        "        true\n    }\n\n    fn id(&self) -> Option<String> {\n        self.user_id.map(|id| format!(\"user:{id}\"))\n    }\n}",
    );
    std::fs::write(
        root.join("src/controllers/auth.rs"),
        r#"use maze::axum::extract::Query;
use maze::prelude::*;
use std::collections::HashMap;

pub async fn sign_in(session: Session, Query(query): Query<HashMap<String, i64>>) -> &'static str {
    session.insert("user_id", query["id"]);
    "signed in"
}

pub async fn kick(Query(query): Query<HashMap<String, i64>>) -> &'static str {
    maze::disconnect(&format!("user:{}", query["id"]));
    "kicked"
}
"#,
    )
    .unwrap();
}
