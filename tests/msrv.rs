//! `rust-version` is the minimum the code really needs. Only one toolchain
//! can be installed where maze is built, so it is checked in two parts:
//! maze's own code by clippy's `incompatible_msrv` lint (std APIs newer than
//! `rust-version` are errors under `.ci/run`'s `-D warnings`), and its
//! dependencies here: the newest `rust-version` among the locked crates the
//! runtime and the CLI build with (or their edition's, if newer) is exactly
//! the one they declare.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::Command;

fn version(text: &str) -> Vec<u32> {
    text.split('.').map(|part| part.parse().unwrap()).collect()
}

#[test]
fn rust_version_is_the_newest_any_locked_dependency_needs() {
    // This machine's platform: crates for others need not be downloaded.
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc.lines().find_map(|line| line.strip_prefix("host: ")).expect("rustc -vV names the host");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--all-features", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages: HashMap<&str, &Value> =
        metadata["packages"].as_array().unwrap().iter().map(|p| (p["id"].as_str().unwrap(), p)).collect();
    let nodes: HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| (node["id"].as_str().unwrap(), node))
        .collect();

    for member in metadata["workspace_members"].as_array().unwrap() {
        let member = member.as_str().unwrap();
        let declared = packages[member]["rust_version"].as_str().expect("every crate declares rust-version");
        // Everything the crate builds with (normal and build dependencies, not dev ones).
        let mut seen = HashSet::new();
        let mut queue = vec![member];
        // Its edition sets a floor of its own.
        let edition = packages[member]["edition"].as_str().unwrap();
        let floor = match edition {
            "2024" => "1.85",
            "2021" => "1.56",
            _ => "1.31",
        };
        let mut newest = (floor.to_string(), format!("edition {edition}"));
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            if id != member
                && let Some(needed) = packages[id]["rust_version"].as_str()
                && version(needed) > version(&newest.0)
            {
                newest = (needed.to_string(), packages[id]["name"].as_str().unwrap().to_string());
            }
            for dep in nodes[id]["deps"].as_array().unwrap() {
                let kinds = dep["dep_kinds"].as_array().unwrap();
                if kinds.iter().any(|kind| kind["kind"].as_str() != Some("dev")) {
                    queue.push(dep["pkg"].as_str().unwrap());
                }
            }
        }
        let name = packages[member]["name"].as_str().unwrap();
        assert_eq!(
            version(declared)[..2],
            version(&newest.0)[..2],
            "{name} declares rust-version {declared}, but the newest its dependencies need is {} ({})",
            newest.0,
            newest.1
        );
    }
}
