//! The generators' guarantee, as a property: any sequence of `maze g` and
//! `maze d` commands (sockets, channels, controllers, actions, resources,
//! presence, overlapping names, `--skip`, `--force`), mixed with the user's
//! own edits, leaves an app that compiles clippy-clean and rustfmt-clean,
//! whose routes name handlers that exist. A refused command writes nothing;
//! and `g` of something new to the app, then `d` of it, restores the tree
//! byte for byte.
//!
//! Each case compiles its app once, at the end (in the shared target
//! folder), so the cases are few and long: `PROPTEST_CASES=200` for more,
//! `SEQUENCES_SEED=random` (or a number) for other sequences than CI's.

mod common;

use common::running::cargo;
use common::{maze, stderr, stdout, temp_dir, tree};
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::Path;

/// One thing a user does to the app.
#[derive(Clone, Debug)]
enum Step {
    /// `maze g ...` or `maze d ...`.
    Maze { destroy: bool, args: Vec<String> },
    /// Appends a comment to the `n`th of the app's generated Rust files
    /// (sockets, channels, controllers): generated files become the user's.
    Note(usize),
    /// Rewrites the page actions of the `n`th controller: an edited action.
    EditActions(usize),
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn flag() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![4 => Just(vec![]), 1 => Just(strings(&["--skip"])), 1 => Just(strings(&["--force"]))]
}

fn generator() -> impl Strategy<Value = Vec<String>> {
    let socket = (
        prop::sample::select(vec!["Chat", "Admin"]),
        subsequence(vec!["room", "lobby"], 0..=2),
        any::<bool>(),
    )
        .prop_map(|(name, channels, presence)| {
            let mut args = strings(&["socket", name]);
            args.extend(strings(&channels));
            if presence {
                args.push("--presence".into());
            }
            args
        });
    let channel = (
        prop::sample::select(vec!["room", "lobby", "bid"]),
        prop::option::of(prop::sample::select(vec!["Chat", "Admin"])),
        prop::option::of(prop::sample::select(vec!["bid:*", "room:*", "lobby"])),
    )
        .prop_map(|(name, socket, topic)| {
            let mut args = strings(&["channel", name]);
            if let Some(socket) = socket {
                args.extend(strings(&["--socket", socket]));
            }
            if let Some(topic) = topic {
                args.extend(strings(&["--topic", topic]));
            }
            args
        });
    let controller = (
        prop::sample::select(vec!["posts", "session", "home"]),
        subsequence(vec!["index", "show", "create", "update", "destroy", "me", "new"], 0..=3),
    )
        .prop_map(|(name, actions)| {
            let mut args = strings(&["controller", name]);
            args.extend(strings(&actions));
            args
        });
    let resource =
        prop::sample::select(vec!["orders", "posts"]).prop_map(|name| strings(&["resource", name]));
    prop_oneof![3 => socket, 3 => channel, 3 => controller, 1 => resource]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (any::<bool>(), generator(), flag()).prop_map(|(destroy, mut args, flag)| {
            args.extend(flag);
            Step::Maze { destroy, args }
        }),
        1 => (0..8usize).prop_map(Step::Note),
        1 => (0..4usize).prop_map(Step::EditActions),
    ]
}

/// The app's generated Rust files a user may edit, in a stable order.
fn editable(root: &Path, folder: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root.join(folder))
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| !p.ends_with("mod.rs")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// How many commands did what, over all cases.
#[derive(Default)]
struct Tally {
    applied: usize,
    refused: usize,
    undone: usize,
}

/// Runs `steps` on a new app, checking each command as it goes; returns the
/// app's folder (kept alive) for the final compile.
fn run(steps: &[Step], tally: &mut Tally) -> Result<(tempfile::TempDir, std::path::PathBuf), TestCaseError> {
    let dir = temp_dir();
    maze(dir.path()).args(["new", "seq"]).assert().success();
    let root = dir.path().join("seq");
    for (index, step) in steps.iter().enumerate() {
        match step {
            Step::Note(n) => {
                let mut files = editable(&root, "src/sockets");
                files.extend(editable(&root, "src/channels"));
                files.extend(editable(&root, "src/controllers"));
                if let Some(file) = files.get(n % files.len().max(1)) {
                    let text = std::fs::read_to_string(file).unwrap();
                    std::fs::write(file, format!("{text}// a note of the user's ({index})\n")).unwrap();
                }
            }
            Step::EditActions(n) => {
                let files = editable(&root, "src/controllers");
                if let Some(file) = files.get(n % files.len().max(1)) {
                    let text = std::fs::read_to_string(file).unwrap();
                    std::fs::write(file, text.replace("</h1>\")", "</h1><p>edited</p>\")")).unwrap();
                }
            }
            Step::Maze { destroy, args } => {
                let command = if *destroy { "d" } else { "g" };
                let before = tree(&root);
                let output = maze(&root).arg(command).args(args).output().unwrap();
                let report = format!(
                    "step {index}: maze {command} {}\n{}{}",
                    args.join(" "),
                    stdout(&output),
                    stderr(&output)
                );
                match output.status.code() {
                    Some(0) => tally.applied += 1,
                    Some(1) => {
                        prop_assert_eq!(tree(&root), before, "a refused command wrote something: {}", report);
                        tally.refused += 1;
                        continue;
                    }
                    _ => return Err(TestCaseError::fail(format!("maze crashed: {report}"))),
                }
                // Something new to the app, generated: destroying it restores the tree.
                let out = stdout(&output);
                let statuses: Vec<&str> = out
                    .lines()
                    .filter(|l| l.starts_with(' '))
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                let all_new = !*destroy
                    && statuses.contains(&"create")
                    && statuses.iter().all(|s| ["create", "insert", "update"].contains(s));
                if all_new {
                    tally.undone += 1;
                    let after = tree(&root);
                    let undo = maze(&root).arg("d").args(args).output().unwrap();
                    prop_assert!(undo.status.success(), "{report}\nits destroy failed: {}", stderr(&undo));
                    prop_assert_eq!(
                        tree(&root),
                        before,
                        "{}\nits destroy left the tree changed:\n{}",
                        report,
                        stdout(&undo)
                    );
                    maze(&root).arg("g").args(args).assert().success();
                    prop_assert_eq!(tree(&root), after, "{}: generating again differs", report);
                }
            }
        }
    }
    Ok((dir, root))
}

/// What the route table names exists: each controller action is a function of its file.
fn check_routes(root: &Path) {
    let listed = maze(root).args(["routes", "--json"]).output().unwrap();
    let routes: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    for route in routes.as_array().unwrap() {
        let handler = route["handler"].as_str().unwrap();
        if let ["controllers", module, function] = handler.split("::").collect::<Vec<_>>().as_slice() {
            let source = std::fs::read_to_string(root.join(format!("src/controllers/{module}.rs")))
                .unwrap_or_else(|_| panic!("{handler} is routed, but its file is gone"));
            assert!(source.contains(&format!("fn {function}(")), "{handler} is routed, but not defined");
        }
    }
}

#[test]
fn any_sequence_of_commands_leaves_an_app_that_compiles() {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(8);
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 0, ..Config::default() };
    // The same sequences on every run (a CI run is never decided by luck);
    // `SEQUENCES_SEED=N` explores others, `SEQUENCES_SEED=random` new ones each time.
    let seed = std::env::var("SEQUENCES_SEED").unwrap_or_else(|_| "2026".into());
    let mut runner = match seed.parse::<u64>() {
        Ok(seed) => {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
        }
        Err(_) => TestRunner::new(config),
    };
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner.run(&prop::collection::vec(step(), 15..30), |steps| {
        let (_dir, root) = run(&steps, &mut tally.borrow_mut())?;
        check_routes(&root);
        // Compiled at the end: clippy-clean and rustfmt-clean, tests included.
        cargo(&root, &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]);
        cargo(&root, &["fmt", "--check"]);
        Ok(())
    });
    let tally = tally.into_inner();
    eprintln!(
        "{cases} sequences: {} commands applied, {} refused (nothing written), {} generated things destroyed and regenerated",
        tally.applied, tally.refused, tally.undone
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}
