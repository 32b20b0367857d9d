//! maze.d.ts checked by the TypeScript compiler against a program that uses
//! maze.js as an app would (tests/js/types_check.ts), in strict mode.

use std::path::Path;
use std::process::Command;

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
