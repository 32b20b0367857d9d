//! `maze g controller NAME [ACTION...]` and its `maze d controller`.

use anyhow::{Result, bail};
use serde_json::json;

use super::{Generator, Mode, Outcome};
use crate::args::ControllerArgs;
use crate::names::{self, Kind, Name};
use crate::plan::Plan;
use crate::project::Project;

pub fn plan(project: &Project, args: &ControllerArgs, mode: Mode) -> Result<Outcome> {
    let controller = Name::parse(&args.name, Kind::Controller)?;
    let base_path = format!("/{}", controller.base);
    let mut actions = Vec::new();
    for input in &args.actions {
        let action = names::action_name(input)?;
        if actions.iter().any(|a: &serde_json::Value| a["name"] == action) {
            bail!("action {action} is named twice");
        }
        let path = if action == "index" { base_path.clone() } else { format!("{base_path}/{action}") };
        actions.push(json!({"name": action, "path": path}));
    }
    if mode == Mode::Generate {
        let paths: Vec<String> =
            actions.iter().filter_map(|a| a["path"].as_str().map(str::to_string)).collect();
        let own = format!("controllers::{}::", controller.base);
        super::refuse_routed(project, &paths, |handler| handler.starts_with(&own), "choose another name")?;
        let file = project.root.join(format!("src/controllers/{}.rs", controller.base));
        if file.is_file() && !args.write.force && !args.write.skip && !generated_by_maze(&file, &controller) {
            bail!(
                "a controller `{}` exists: src/controllers/{}.rs. Nothing was written; choose another name, \
                 or --force to replace it",
                controller.base,
                controller.base
            );
        }
    }
    let mut context = super::variables::app(project)?;
    context.insert("controller_type", &controller.type_name);
    context.insert("controller_file", &controller.base);
    context.insert("base_path", &base_path);
    context.insert("actions", &actions);

    let mut plan = Plan::new(&project.root);
    Generator::load("controller", Some(&project.root))?.apply(&mut plan, mode, &context)?;
    let next = (mode == Mode::Generate && !actions.is_empty()).then(|| {
        format!(
            "Next: `cargo run`, then open http://127.0.0.1:3000{}",
            actions[0]["path"].as_str().unwrap_or("/")
        )
    });
    Ok(Outcome { plan, next })
}

/// Whether `file` is a controller `maze g controller` wrote (perhaps with
/// other actions), rather than one of the app's own (`home`).
fn generated_by_maze(file: &std::path::Path, controller: &Name) -> bool {
    std::fs::read_to_string(file)
        .is_ok_and(|source| source.starts_with(&format!("//! `{}`:", controller.type_name)))
}
