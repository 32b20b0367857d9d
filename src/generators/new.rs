//! `maze new NAME`: a new app that builds and runs.

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use tera::Context;

use super::{Generator, Mode, Outcome};
use crate::args::NewArgs;
use crate::names;
use crate::plan::Plan;

/// The runtime beside this CLI's source, for apps made from a checkout.
const DEFAULT_RUNTIME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runtime");

pub fn plan(cwd: &Path, args: &NewArgs) -> Result<Outcome> {
    let name = names::app_name(&args.name)?;
    let root = cwd.join(&name);
    let runtime = runtime_path(args.maze_path.as_deref())?;
    let mut context = Context::new();
    context.insert("app_name", &name);
    context.insert("maze_path", &toml_edit::Value::from(runtime.to_string_lossy().as_ref()).to_string());
    context.insert("secret", &session_secret(&root)?);
    context.insert("redis", &args.redis);

    let mut plan = Plan::new(&root);
    // A new app has no overrides of its own yet.
    Generator::load("new", None)?.apply(&mut plan, Mode::Generate, &context)?;
    if args.redis {
        // The [websockets] table as `maze g socket` writes it, for Redis.
        Generator::load("socket", None)?.edit_toml(&mut plan, Mode::Generate, &context, Some("maze.toml"))?;
    }
    let next = format!("Next:\n  cd {name}\n  maze g socket ChatSocket chat_room\n  cargo run");
    Ok(Outcome { plan, next: Some(next) })
}

/// The runtime crate the app depends on by path, checked to be one.
fn runtime_path(chosen: Option<&Path>) -> Result<PathBuf> {
    let path = chosen.unwrap_or(Path::new(DEFAULT_RUNTIME));
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "no maze runtime at {}: pass --maze-path DIR (or set MAZE_PATH) to the runtime/ folder of a maze checkout",
            path.display()
        )
    })?;
    let doc: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    if doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()) != Some("maze") {
        bail!("{} is not the maze runtime (its package is not named maze)", manifest.display());
    }
    Ok(std::path::absolute(path)?)
}

/// Re-running `maze new` keeps the app's secret, so the run stays idempotent.
fn session_secret(root: &Path) -> Result<String> {
    let existing = std::fs::read_to_string(root.join("maze.toml"))
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|doc| doc.get("session")?.get("secret")?.as_str().map(str::to_owned));
    if let Some(secret) = existing {
        return Ok(secret);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("no randomness for the session secret: {error}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
