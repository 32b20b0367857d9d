//! `maze new NAME`: a new app that builds and runs.

use anyhow::Result;
use std::path::Path;
use tera::Context;

use super::{Generator, Mode, Outcome};
use crate::args::NewArgs;
use crate::names;
use crate::plan::Plan;
use crate::runtime_dependency;

pub fn plan(cwd: &Path, args: &NewArgs) -> Result<Outcome> {
    let name = names::app_name(&args.name)?;
    let root = cwd.join(&name);
    let mut context = Context::new();
    context.insert("app_name", &name);
    // A registry dependency, or the version and path of a runtime folder.
    let runtime = match &args.maze_version {
        Some(version) => {
            runtime_dependency::check_version(version)?;
            context.insert("maze_version", version);
            None
        }
        None => {
            let runtime = runtime_dependency::runtime_at(args.maze_path.as_deref())?;
            context.insert("maze_version", &runtime.version);
            let path = toml_edit::Value::from(runtime.path.to_string_lossy().as_ref()).to_string();
            context.insert("maze_path", &path);
            Some(runtime)
        }
    };
    context.insert("redis", &args.redis);
    context.insert("redis_cluster", &args.redis_cluster);

    let mut plan = Plan::new(&root);
    // A new app has no overrides of its own yet.
    Generator::load("new", None)?.apply(&mut plan, Mode::Generate, &context)?;
    if args.redis || args.redis_cluster {
        // The [websockets] table as `maze g socket` writes it, for Redis.
        Generator::load("socket", None)?.edit_toml(&mut plan, Mode::Generate, &context, Some("maze.toml"))?;
    }
    // Run again on an app that has sockets, it suggests none.
    let has_sockets = std::fs::read_dir(root.join("src/sockets"))
        .map(|entries| entries.flatten().any(|e| e.file_name() != "mod.rs"))
        .unwrap_or(false);
    let mut next = match has_sockets {
        false => format!("Next:\n  cd {name}\n  maze g socket ChatSocket chat_room\n  cargo run"),
        true => format!("Next:\n  cd {name}\n  cargo run"),
    };
    if let Some(runtime) = runtime {
        next.push_str(&format!(
            "\n\nThe app depends on the maze runtime by its absolute path, {}: if either moves,\n\
             `maze doctor` finds the broken path and `maze doctor --maze-path DIR` repoints it.",
            runtime.path.display()
        ));
    }
    Ok(Outcome { plan, next: Some(next), preview: None })
}
