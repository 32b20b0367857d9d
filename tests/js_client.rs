//! The JavaScript client under the TypeScript compiler: maze.js itself, and
//! maze.d.ts against a program that uses maze.js as an app would
//! (tests/js/types_check.ts), in strict mode; and maze.js against maze.d.ts.

use std::path::Path;
use std::process::Command;

/// Runs tsc (`tests/js`'s own) with `args`, from `tests/js`; fails the test on any error.
fn tsc(args: &[&str]) {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let tsc = js.join("node_modules/typescript/bin/tsc");
    assert!(tsc.is_file(), "typescript is not installed: run `npm ci --prefix tests/js` (.ci/run does)");
    let output = Command::new("node")
        .arg(&tsc)
        .args(["--noEmit", "--target", "es2022", "--module", "es2022", "--lib", "es2022,dom"])
        .args(args)
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tsc {args:?} found errors:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// maze.js itself, type-checked (`--allowJs --checkJs`): a wrong property or
/// call in the client fails here, not in a user's browser.
#[test]
fn maze_js_type_checks() {
    tsc(&["--allowJs", "--checkJs", "../../runtime/js/maze.js"]);
}

/// What maze.js exports conforms to maze.d.ts (see tests/js/conformance/check.ts).
#[test]
fn maze_js_implements_what_maze_d_ts_declares() {
    let runtime_js = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/js");
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/conformance");
    std::fs::copy(runtime_js.join("maze.js"), conformance.join("impl.js")).unwrap();
    std::fs::copy(runtime_js.join("maze.d.ts"), conformance.join("maze.d.ts")).unwrap();
    tsc(&["--strict", "--allowJs", "--moduleResolution", "bundler", "conformance/check.ts"]);
}

#[test]
fn the_typescript_declarations_describe_maze_js() {
    tsc(&["--strict", "--moduleResolution", "bundler", "types_check.ts"]);
}

/// After a drop, maze.js tries again fast (many times within a 2 s outage),
/// with jitter (ten sockets do not retry in step); tests/js/reconnect.mjs.
#[test]
fn maze_js_reconnects_fast_and_with_jitter() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let output = Command::new("node").arg("reconnect.mjs").current_dir(&js).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for tries in report["tries_in_2s"].as_array().unwrap() {
        // 50–100 ms, then 1.5x: at least 6 tries start within 2 s (the old 500 ms doubling made 3).
        assert!(tries.as_u64().unwrap() >= 6, "{report}");
    }
    let first: Vec<u64> =
        report["first_retry_ms"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    assert!(
        first.iter().all(|&d| d <= 150),
        "the first retry waits at most 100 ms (and a little for the failed try): {report}"
    );
}
