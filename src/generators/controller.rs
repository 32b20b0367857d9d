//! `maze g controller NAME [ACTION...]`, `maze g resource NAME`, and their
//! `maze d`. The seven conventional actions get Rails' and Phoenix's verbs
//! and paths; any other action is `GET /NAME/ACTION`.

use anyhow::{Result, bail};
use serde::Serialize;

use super::{Generator, Mode, Outcome};
use crate::names::{self, Kind, Name};
use crate::plan::Plan;
use crate::project::Project;

/// What `maze g resource` generates.
pub const RESOURCE_ACTIONS: [&str; 7] = ["index", "show", "new", "create", "edit", "update", "destroy"];

/// One action as the templates see it.
#[derive(Serialize)]
struct Action {
    name: String,
    /// For its doc comment: `GET`, `PUT/PATCH`.
    verbs: String,
    /// Its route path, in axum's syntax: `/orders/{id}`.
    path: String,
    /// What its handler returns: `page` (HTML), `created` (201), `member` (text naming the id).
    kind: &'static str,
    /// The request its generated test makes, and the status it expects.
    test_verb: &'static str,
    test_path: String,
    status: u16,
}

/// One route line.
#[derive(Serialize)]
struct Route {
    verb: &'static str,
    path: String,
    action: String,
}

impl Action {
    /// `name`'s verbs and path under `base` (`/orders`).
    fn new(name: &str, base: &str) -> (Action, Vec<Route>) {
        let member = format!("{base}/{{id}}");
        let (verbs, path, kind): (&[&'static str], String, _) = match name {
            "index" => (&["get"], base.to_string(), "page"),
            "new" => (&["get"], format!("{base}/new"), "page"),
            "create" => (&["post"], base.to_string(), "created"),
            "show" => (&["get"], member, "member"),
            "edit" => (&["get"], format!("{member}/edit"), "member"),
            "update" => (&["put", "patch"], member, "member"),
            "destroy" => (&["delete"], member, "member"),
            _ => (&["get"], format!("{base}/{name}"), "page"),
        };
        let routes =
            verbs.iter().map(|&verb| Route { verb, path: path.clone(), action: name.to_string() }).collect();
        let action = Action {
            name: name.to_string(),
            verbs: verbs.iter().map(|v| v.to_uppercase()).collect::<Vec<_>>().join("/"),
            test_path: path.replace("{id}", "1"),
            path,
            kind,
            test_verb: verbs[0],
            status: if kind == "created" { 201 } else { 200 },
        };
        (action, routes)
    }
}

pub fn plan(project: &Project, name: &str, inputs: &[String], mode: Mode) -> Result<Outcome> {
    let controller = Name::parse(name, Kind::Controller)?;
    if project.is_embedded() {
        bail!(
            "controllers are generated into maze apps' own router (src/routes.rs); this is an axum app \
             `maze init` set up, whose routes are yours: add `.route(\"/{}\", get(handler))` to its router",
            controller.base
        );
    }
    let base_path = format!("/{}", controller.base);
    // No action named: `index`; a controller serves something.
    let inputs = if inputs.is_empty() { vec!["index".to_string()] } else { inputs.to_vec() };
    let mut actions: Vec<Action> = Vec::new();
    let mut routes: Vec<Route> = Vec::new();
    for input in &inputs {
        let name = names::action_name(input)?;
        if actions.iter().any(|a| a.name == name) {
            bail!("action {name} is named twice");
        }
        let (action, action_routes) = Action::new(&name, &base_path);
        actions.push(action);
        routes.extend(action_routes);
    }
    if mode == Mode::Generate {
        let served: Vec<(String, String)> =
            routes.iter().map(|r| (r.verb.to_uppercase(), r.path.clone())).collect();
        let own = format!("controllers::{}::", controller.base);
        super::refuse_routed(project, &served, |handler| handler.starts_with(&own), "choose another name")?;
    }
    let mut context = super::variables::app(project)?;
    context.insert("controller_type", &controller.type_name);
    context.insert("controller_file", &controller.base);
    context.insert("base_path", &base_path);
    context.insert("actions", &actions);
    context.insert("routes", &routes);

    let mut plan = Plan::new(&project.root);
    Generator::load("controller", Some(&project.root))?.apply(&mut plan, mode, &context)?;
    let next = (mode == Mode::Generate).then(|| {
        let page = actions.iter().find(|a| a.test_verb == "get");
        match page {
            Some(page) => format!(
                "Next: `cargo test` runs its tests; `cargo run`, then open http://127.0.0.1:3000{}",
                page.test_path
            ),
            None => "Next: `cargo test` runs its tests; `maze routes` lists its routes.".to_string(),
        }
    });
    Ok(Outcome { plan, next, preview: None })
}
