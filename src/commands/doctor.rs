//! `maze doctor`: checks that the app's maze dependency resolves, and with
//! `--maze-path DIR` repoints it (an app moved to another machine, or a
//! runtime checkout that moved).

use anyhow::{Context, Result, bail};
use std::path::Path;

use crate::args::DoctorArgs;
use crate::plan::{OnConflict, Plan, Settings};
use crate::project::Project;
use crate::runtime_dependency::{self, Dependency};

pub fn run(project: &Project, args: &DoctorArgs) -> Result<()> {
    if let Some(dir) = &args.maze_path {
        let runtime = runtime_dependency::runtime_at(Some(dir))?;
        let mut plan = Plan::new(&project.root);
        plan.edit_toml("Cargo.toml", |doc| runtime_dependency::repoint(doc, &runtime))?;
        plan.apply(Settings { on_conflict: OnConflict::Ask, dry_run: false, report: true }, None)?;
    }

    let manifest = project.root.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let doc: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;

    let Some(dependency) = runtime_dependency::read(&doc) else {
        bail!(
            "Cargo.toml has no `maze` dependency under [dependencies]: add `maze = \"0.1\"` (or run `maze new`)"
        );
    };
    check_dependency(&project.root, &dependency)?;
    println!("ok: the app's maze dependency resolves");
    Ok(())
}

/// A path dependency must lead to the maze runtime, at the version asked for.
fn check_dependency(root: &Path, dependency: &Dependency) -> Result<()> {
    let Some(path) = &dependency.path else {
        println!("maze comes from the registry ({})", dependency.version.as_deref().unwrap_or("any version"));
        return Ok(());
    };
    let fix =
        "repoint it with `maze doctor --maze-path DIR`, DIR being the runtime/ folder of a maze checkout";
    if !root.join(path).is_dir() {
        bail!("the maze dependency's path {path} does not exist (the app or the runtime moved):\n{fix}");
    }
    let runtime = runtime_dependency::runtime_at(Some(&root.join(path))).map_err(|error| {
        anyhow::anyhow!("the maze dependency's path {path} is not the runtime: {error:#}\n{fix}")
    })?;
    if let Some(version) = &dependency.version {
        // `0.1` and `^0.1.0` accept 0.1.x: the components given must match.
        let wanted = version.trim_start_matches(['^', '=', '~']).split('.');
        if !wanted.zip(runtime.version.split('.')).all(|(wanted, found)| wanted == found) {
            bail!(
                "the runtime at {path} is version {}, but Cargo.toml asks for {version}; {fix}",
                runtime.version
            );
        }
    }
    println!("maze comes from {path} (version {})", runtime.version);
    Ok(())
}
