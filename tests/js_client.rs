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
