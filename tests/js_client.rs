//! maze.d.ts checked by the TypeScript compiler against a program that uses
//! maze.js as an app would (tests/js/types_check.ts), in strict mode.

use std::path::Path;
use std::process::Command;

/// maze.js itself, type-checked by tsc (`--allowJs --checkJs`): a wrong
/// property or call in the client fails here, not in a user's browser.
#[test]
fn maze_js_type_checks() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let tsc = js.join("node_modules/typescript/bin/tsc");
    assert!(tsc.is_file(), "typescript is not installed: run `npm ci --prefix tests/js` (.ci/run does)");
    let maze_js = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/js/maze.js");
    let output = Command::new("node")
        .arg(&tsc)
        .args(["--noEmit", "--allowJs", "--checkJs", "--target", "es2022", "--module", "es2022"])
        .args(["--lib", "es2022,dom"])
        .arg(&maze_js)
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tsc found errors in maze.js:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_typescript_declarations_describe_maze_js() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let tsc = js.join("node_modules/typescript/bin/tsc");
    assert!(tsc.is_file(), "typescript is not installed: run `npm ci --prefix tests/js` (.ci/run does)");
    let output = Command::new("node")
        .arg(&tsc)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
        ])
        .args(["--lib", "es2022,dom", "types_check.ts"])
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tsc found errors:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
