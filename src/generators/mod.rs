//! The generators. Each is data: its templates and `generator.toml` under
//! `templates/<name>/` (overridable per app in `.maze/templates/<name>/`).
//! The Rust here turns command-line arguments into template variables, then
//! [`Generator::apply`] records the files and insertions in a [`Plan`] —
//! forwards for `maze generate`, backwards for `maze destroy`.

pub mod channel;
pub mod controller;
mod manifest;
pub mod new;
pub mod socket;
mod variables;

use anyhow::{Result, anyhow, bail};
use std::path::Path;
use tera::Context;

use crate::lexer::Lang;
use crate::plan::Plan;
use crate::project::Project;
use crate::templates::{self, MANIFEST, Template};
use manifest::Manifest;

/// Forwards (generate) or backwards (destroy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Generate,
    Destroy,
}

/// What a generator command leaves to do: apply the plan, then say what's next.
pub struct Outcome {
    pub plan: Plan,
    pub next: Option<String>,
}

/// One generator: its templates (built-in or overridden) and its manifest.
pub struct Generator {
    name: String,
    templates: Vec<Template>,
    manifest: Manifest,
}

impl Generator {
    /// Loads `name`, with the overrides of the app at `app`.
    pub fn load(name: &str, app: Option<&Path>) -> Result<Generator> {
        let templates = templates::load(name, app)?;
        let manifest = templates
            .iter()
            .find(|t| t.relative == MANIFEST)
            .ok_or_else(|| anyhow!("generator {name} has no {MANIFEST}"))?;
        let manifest = Manifest::parse(&manifest.display_name(name), &manifest.source)?;
        Ok(Generator { name: name.to_string(), templates, manifest })
    }

    pub fn description(&self) -> &str {
        &self.manifest.description
    }

    /// Its template files, built-in or overridden.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Records in `plan` what this generator writes (or, destroying, removes)
    /// for the variables in `context`.
    pub fn apply(&self, plan: &mut Plan, mode: Mode, context: &Context) -> Result<()> {
        self.apply_files(plan, mode, context)?;
        self.edit_toml(plan, mode, context, None)
    }

    /// Records this generator's files and insertions, not its TOML edits.
    pub fn apply_files(&self, plan: &mut Plan, mode: Mode, context: &Context) -> Result<()> {
        for file in templates::render_files(&self.name, &self.templates, context)? {
            match mode {
                Mode::Generate => plan.create(file.path, file.contents)?,
                Mode::Destroy => plan.remove(file.path, file.contents)?,
            }
        }
        let manifest_name = format!("templates/{}/{MANIFEST}", self.name);
        for injection in &self.manifest.inject {
            if let Some(variable) = &injection.when
                && !is_set(context, variable)
            {
                continue;
            }
            for item_context in each_item(context, injection.for_each.as_deref(), &manifest_name)? {
                let file = templates::render_str(
                    &format!("{manifest_name} (file)"),
                    &injection.file,
                    &item_context,
                )?;
                let lines = templates::render_str(
                    &format!("{manifest_name} (lines)"),
                    &injection.lines,
                    &item_context,
                )?;
                let lang = language_of(&file)?;
                match mode {
                    Mode::Generate => plan.inject(&file, lang, &injection.marker, &lines)?,
                    Mode::Destroy => plan.subtract(&file, lang, &injection.marker, &lines)?,
                }
            }
        }
        Ok(())
    }

    /// Records this generator's TOML edits (of `only` that file, if given),
    /// with their values rendered for `context`.
    pub fn edit_toml(
        &self,
        plan: &mut Plan,
        mode: Mode,
        context: &Context,
        only: Option<&str>,
    ) -> Result<()> {
        let manifest_name = format!("templates/{}/{MANIFEST}", self.name);
        for edit in self.manifest.toml.iter().filter(|edit| only.is_none_or(|file| edit.file == file)) {
            let edit = edit.rendered(&manifest_name, context)?;
            match mode {
                Mode::Generate => plan.edit_toml(&edit.file, |doc| edit.apply(doc))?,
                Mode::Destroy => {
                    let mut still_needed = false;
                    for dir in &edit.shared_by {
                        still_needed |=
                            plan.remaining(dir, "rs")?.iter().any(|path| !path.ends_with("mod.rs"));
                    }
                    if !still_needed {
                        plan.edit_toml(&edit.file, |doc| edit.undo(doc))?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_set(context: &Context, variable: &str) -> bool {
    !matches!(
        context.get(variable),
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false))
    )
}

/// The context once, or once per element of the list `for_each` (as `item`).
fn each_item(context: &Context, for_each: Option<&str>, manifest: &str) -> Result<Vec<Context>> {
    let Some(list) = for_each else { return Ok(vec![context.clone()]) };
    let Some(serde_json::Value::Array(items)) = context.get(list) else {
        bail!("{manifest}: `for_each = {list:?}` names no list variable of this generator");
    };
    Ok(items
        .iter()
        .map(|item| {
            let mut item_context = context.clone();
            item_context.insert("item", item);
            item_context
        })
        .collect())
}

fn language_of(file: &str) -> Result<Lang> {
    match Path::new(file).extension().and_then(|ext| ext.to_str()) {
        Some("rs") => Ok(Lang::Rust),
        Some("js" | "mjs" | "ts") => Ok(Lang::JavaScript),
        _ => bail!("maze inserts lines only into Rust and JavaScript files, not {file}"),
    }
}

/// A socket's URL path: `/chat`, `/admin/live`.
pub(crate) fn validate_path(path: &str) -> Result<()> {
    let valid = path.starts_with('/')
        && !path.contains("//")
        && path.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.~".contains(c));
    if !valid {
        bail!(
            "{path:?} is not a socket path: it must start with / and hold only letters, digits and / _ - . ~ (e.g. /chat)"
        );
    }
    Ok(())
}

/// Refuses to route `paths` (served on GET, as sockets are) when the app's
/// router already serves one of them, unless by `own` (the handler this
/// command writes: running it again is not a clash). A socket serves its path
/// and its path + `/websocket`.
pub(crate) fn refuse_routed(
    project: &Project,
    paths: &[String],
    own: impl Fn(&str) -> bool,
    hint: &str,
) -> Result<()> {
    for route in crate::routes::collect(project)? {
        if !(route.verb == "GET" || route.verb == "WS") || own(&route.handler) {
            continue;
        }
        let mut served = vec![route.path.clone()];
        if route.verb == "WS" {
            served.push(format!("{}/websocket", route.path.trim_end_matches('/')));
        }
        if let Some(path) = paths.iter().find(|path| served.contains(path)) {
            bail!(
                "{path} is already routed: `{} {}` ({}) in src/routes.rs. Nothing was written; {hint}",
                route.verb,
                route.path,
                route.handler,
            );
        }
    }
    Ok(())
}

/// The runtime's topic-pattern grammar, included rather than depended on.
#[path = "../../runtime/src/topic_pattern.rs"]
#[allow(dead_code)] // the CLI parses and compares; the runtime also matches
pub(crate) mod topic_pattern;

/// A topic pattern: `lobby`, `chat_room:*`. The runtime's grammar decides;
/// on top of it, maze writes the pattern into Rust and JavaScript string
/// literals and doc comments, so it refuses what would need escaping there.
pub(crate) fn validate_topic(pattern: &str) -> Result<()> {
    topic_pattern::TopicPattern::parse(pattern).map_err(|reason| anyhow!("{reason}"))?;
    if let Some(c) = pattern.chars().find(|c| c.is_whitespace() || "\"'`\\".contains(*c)) {
        bail!(
            "topic pattern {pattern:?}: maze writes it into source code, where {c:?} would need escaping; \
             leave out quotes, backslashes, backticks and spaces"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_topics_are_checked() {
        assert!(validate_path("/chat").is_ok());
        assert!(validate_path("/admin/live").is_ok());
        for bad in ["chat", "/a b", "/\"x", "//x", ""] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        for good in ["chat_room:*", "lobby", "*", "room:ü"] {
            assert!(validate_topic(good).is_ok(), "{good:?}");
        }
        for (bad, reason) in [
            ("a*b*", "`*` may only end a pattern"),
            ("", "cannot be empty"),
            ("a\u{7}", "control characters"),
            ("a\"", "would need escaping"),
            ("a b:*", "would need escaping"),
            ("a`", "would need escaping"),
        ] {
            let error = validate_topic(bad).unwrap_err().to_string();
            assert!(error.contains(reason), "{bad:?}: {error}");
        }
    }

    #[test]
    fn every_built_in_generator_loads() {
        for name in templates::generators() {
            Generator::load(name, None).unwrap();
        }
    }
}
