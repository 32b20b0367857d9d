//! The `embedded` example (runtime/examples/embedded.rs), a plain axum app
//! served by `axum::serve` that is not a maze app, serves its own routes and a
//! maze socket: the official phoenix client and maze.js join, push, get a
//! refusal's reason and receive each other's messages and the app's own
//! announcement (tests/js/embedded.mjs).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The running example; killed when dropped.
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Builds the example (a no-op when `cargo test` built it already) and starts
/// it on a free port under `server` (`axum` or `maze`); returns it and the port.
fn start_example(server: &str) -> (Example, u16) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let built = Command::new(env!("CARGO"))
        // The workspace's features, as `cargo test --workspace --all-features`
        // resolved them: nothing is built twice.
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            "--example",
            "embedded",
            "--manifest-path",
        ])
        .arg(&manifest)
        .status()
        .unwrap();
    assert!(built.success(), "the example does not build");
    // target/debug/deps/<this test> → target/debug/examples/embedded
    let test = std::env::current_exe().unwrap();
    let binary = test.parent().unwrap().parent().unwrap().join("examples/embedded");
    let mut child =
        Command::new(binary).env("PORT", "0").env("SERVER", server).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().and_then(|port| port.parse().ok());
    let port = port.unwrap_or_else(|| panic!("the example did not say where it listens: {line:?}"));
    (Example(child), port)
}

#[test]
fn a_plain_axum_app_serves_a_maze_socket_to_the_phoenix_client_and_maze_js() {
    check_with_both_clients("axum");
}

#[test]
fn the_same_app_under_maze_serve() {
    check_with_both_clients("maze");
}

/// Runs tests/js/embedded.mjs against the example served by `server`.
fn check_with_both_clients(server: &str) {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    assert!(
        js.join("node_modules/phoenix").is_dir(),
        "the npm clients are not installed: run `npm ci --prefix tests/js` (.ci/run does)"
    );
    let (_example, port) = start_example(server);
    let output =
        Command::new("node").arg("embedded.mjs").arg(port.to_string()).current_dir(&js).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["pushed"], serde_json::json!(["ok", "ok"]), "{report}");
    assert_eq!(report["refused"]["status"], "error", "{report}");
    assert_eq!(report["refused"]["response"]["reason"], "empty message", "{report}");
    assert_eq!(report["announced"], 200, "{report}");
    let everything = serde_json::json!(["from phoenix", "from maze.js", "from the app"]);
    assert_eq!(report["phoenix"], everything, "{report}");
    assert_eq!(report["maze"], everything, "{report}");
    assert_eq!(report["home"], "an axum app; 2 messages relayed", "the app's own route and state: {report}");
}
