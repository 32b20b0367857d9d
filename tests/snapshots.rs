//! Snapshots of every file `maze new`, `maze g socket` and `maze g channel`
//! write or change: the generated code is reviewed as text in
//! `tests/snapshots/`. After an intended change: `cargo insta review`
//! (or `INSTA_UPDATE=always cargo test --test snapshots`), then read the diff.

mod common;

use common::{maze, new_app, tree};
use std::collections::BTreeMap;
use std::path::Path;

/// The files that differ between two trees, each under a `=== path ===` header,
/// with the machine-specific runtime path masked.
fn changes(root: &Path, before: &BTreeMap<String, Vec<u8>>) -> String {
    let runtime = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime");
    let mut text = String::new();
    for (path, contents) in tree(root) {
        if before.get(&path) == Some(&contents) {
            continue;
        }
        let contents = String::from_utf8(contents).unwrap();
        text.push_str(&format!("=== {path} ===\n{}\n", contents.replace(runtime, "[RUNTIME]")));
    }
    text
}

#[test]
fn maze_new() {
    let (_dir, root) = new_app();
    insta::assert_snapshot!("new", changes(&root, &BTreeMap::new()));
}

#[test]
fn generate_socket_with_two_channels() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby"]).assert().success();
    insta::assert_snapshot!("g_socket", changes(&root, &before));
}

#[test]
fn generate_socket_with_presence_and_a_channel_without_a_socket_with_presence() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "--presence"]).assert().success();
    insta::assert_snapshot!("g_socket_presence", changes(&root, &before));

    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "channel", "Lobby", "--presence"]).assert().success();
    insta::assert_snapshot!("g_channel_no_socket_presence", changes(&root, &before));
}

#[test]
fn generate_channel_attached_to_a_socket() {
    let (_dir, root) = new_app();
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
    let before = tree(&root);
    maze(&root).args(["g", "channel", "Presence", "--topic", "presence"]).assert().success();
    insta::assert_snapshot!("g_channel", changes(&root, &before));
}

#[test]
fn generate_channel_without_a_socket() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "channel", "Lobby"]).assert().success();
    insta::assert_snapshot!("g_channel_no_socket", changes(&root, &before));
}

#[test]
fn maze_new_with_redis_then_a_socket() {
    for (flag, snapshot) in
        [("--redis", "new_redis_then_socket"), ("--redis-cluster", "new_redis_cluster_then_socket")]
    {
        new_with_then_a_socket(flag, snapshot);
    }
}

fn new_with_then_a_socket(flag: &str, snapshot: &str) {
    let dir = common::temp_dir();
    maze(dir.path()).args(["new", "chat", flag]).assert().success();
    let root = dir.path().join("chat");
    let plain = common::temp_dir();
    maze(plain.path()).args(["new", "chat"]).assert().success();
    // Only what the flag changes: Cargo.toml and maze.toml.
    let mut before = tree(&plain.path().join("chat"));
    before.retain(|path, _| path != "Cargo.toml" && path != "maze.toml");
    maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
    let after = changes(&root, &before);
    let configs: String = after
        .split("=== ")
        .filter(|part| part.starts_with("Cargo.toml") || part.starts_with("maze.toml"))
        .map(|part| format!("=== {part}"))
        .collect();
    insta::assert_snapshot!(snapshot, configs);
}

#[test]
fn generate_controller() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "controller", "Posts", "index", "show"]).assert().success();
    insta::assert_snapshot!("g_controller", changes(&root, &before));
}

#[test]
fn generate_resource() {
    let (_dir, root) = new_app();
    let before = tree(&root);
    maze(&root).args(["g", "resource", "Orders"]).assert().success();
    insta::assert_snapshot!("g_resource", changes(&root, &before));
}
