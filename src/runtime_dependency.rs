//! The app's dependency on the maze runtime: where `maze new` points it, and
//! what `maze doctor` checks and repoints.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Value};

/// The runtime beside this CLI's source, for apps made from a checkout.
pub const DEFAULT_RUNTIME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime");

/// A maze runtime folder: its absolute path and its package version.
pub struct Runtime {
    pub path: PathBuf,
    pub version: String,
}

/// The runtime at `path` (default: [`DEFAULT_RUNTIME`]), checked to be one.
pub fn runtime_at(chosen: Option<&Path>) -> Result<Runtime> {
    let path = chosen.unwrap_or(Path::new(DEFAULT_RUNTIME));
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "no maze runtime at {}: pass --maze-path DIR (or set MAZE_PATH) to the runtime/ folder of a maze checkout",
            path.display()
        )
    })?;
    let doc: DocumentMut =
        text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let package = doc.get("package");
    if package.and_then(|p| p.get("name")).and_then(Item::as_str) != Some("maze") {
        bail!("{} is not the maze runtime (its package is not named maze)", manifest.display());
    }
    let version = package
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .with_context(|| format!("{} has no package version", manifest.display()))?;
    Ok(Runtime { path: std::path::absolute(path)?, version: version.to_string() })
}

/// A version requirement for the registry dependency (`0.1`, `=0.1.2`, `^0.2`).
pub fn check_version(version: &str) -> Result<()> {
    let valid = version.starts_with(|c: char| c.is_ascii_digit() || "^~=".contains(c))
        && version.chars().all(|c| c.is_ascii_alphanumeric() || "^~=.-+".contains(c));
    if !valid {
        bail!("{version:?} is not a version of the maze crate: give one such as 0.1 or =0.1.0");
    }
    Ok(())
}

/// What the app's `Cargo.toml` says of its `maze` dependency.
pub struct Dependency {
    pub version: Option<String>,
    /// As written: relative paths are relative to the app.
    pub path: Option<String>,
}

/// `[dependencies].maze` of the app's manifest, in any of its shapes.
pub fn read(doc: &DocumentMut) -> Option<Dependency> {
    let maze = doc.get("dependencies")?.get("maze")?;
    if let Some(version) = maze.as_str() {
        return Some(Dependency { version: Some(version.to_string()), path: None });
    }
    let field = |name: &str| maze.get(name).and_then(Item::as_str).map(str::to_string);
    Some(Dependency { version: field("version"), path: field("path") })
}

/// Points the `maze` dependency at `runtime` (path and version), keeping its
/// features and the file's formatting; the dev-dependency too (the tests'
/// `maze::testing`), when there is one.
pub fn repoint(doc: &mut DocumentMut, runtime: &Runtime) -> Result<()> {
    if doc.get("dependencies").and_then(|deps| deps.get("maze")).is_none() {
        bail!("Cargo.toml has no `maze` dependency under [dependencies]");
    }
    for table in ["dependencies", "dev-dependencies"] {
        if let Some(maze) = doc.get_mut(table).and_then(|deps| deps.get_mut("maze")) {
            repoint_one(maze, runtime)?;
        }
    }
    Ok(())
}

fn repoint_one(maze: &mut Item, runtime: &Runtime) -> Result<()> {
    if let Some(version) = maze.as_str().map(str::to_owned) {
        let mut table = toml_edit::InlineTable::new();
        table.insert("version", Value::from(version));
        *maze = Item::Value(Value::InlineTable(table));
    }
    let Some(table) = maze.as_table_like_mut() else {
        bail!("the `maze` dependency in Cargo.toml is neither a version nor a table");
    };
    table.insert("version", Item::Value(Value::from(runtime.version.as_str())));
    table.insert("path", Item::Value(Value::from(runtime.path.to_string_lossy().as_ref())));
    Ok(())
}
