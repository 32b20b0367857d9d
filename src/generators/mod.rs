//! The generators. Each is data: its templates and `generator.toml` under
//! `templates/<name>/` (overridable per app in `.maze/templates/<name>/`).
//! The Rust here turns command-line arguments into template variables, then
//! [`Generator::apply`] records the files and insertions in a [`Plan`] —
//! forwards for `maze generate`, backwards for `maze destroy`.

pub mod channel;
pub mod controller;
mod generator_toml;
pub mod init;
pub mod new;
pub mod socket;
mod variables;

use anyhow::{Result, anyhow, bail};
use std::path::Path;
use tera::Context;

use crate::lexer::{Lang, TokenKind, tokenize};
use crate::names::{Kind, Name};
use crate::plan::{Need, Plan};
use crate::project::Project;
use crate::templates::{self, MANIFEST, Template};
use generator_toml::Manifest;

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
    /// Shown before the plan's report: the diff of a change to the app's own code.
    pub preview: Option<String>,
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
            match (mode, self.manifest.extend_files) {
                (Mode::Generate, false) => plan.create(file.path, file.contents)?,
                (Mode::Destroy, false) => plan.remove(file.path, file.contents)?,
                (Mode::Generate, true) => plan.create_or_extend(file.path, file.contents)?,
                (Mode::Destroy, true) => plan.remove_if_bare(file.path, file.contents)?,
            }
        }
        let manifest_name = format!("templates/{}/{MANIFEST}", self.name);
        for injection in &self.manifest.inject {
            let wanted = injection.when.as_ref().is_none_or(|variable| is_set(context, variable))
                && injection.unless.as_ref().is_none_or(|variable| !is_set(context, variable));
            if !wanted {
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
                let needed_by = match &injection.needed_by {
                    Some(path) => Some(templates::render_str(
                        &format!("{manifest_name} (needed_by)"),
                        path,
                        &item_context,
                    )?),
                    None => None,
                };
                match (mode, needed_by) {
                    (Mode::Generate, _) => plan.inject(&file, lang, &injection.marker, &lines)?,
                    (Mode::Destroy, None) => plan.subtract(&file, lang, &injection.marker, &lines)?,
                    (Mode::Destroy, Some(path)) => {
                        plan.subtract_unless_needed(&file, lang, &lines, vec![Need::File(path.into())])?
                    }
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
        let wanted = |edit: &&generator_toml::TomlEdit| {
            only.is_none_or(|file| edit.file == file)
                && edit.unless.as_ref().is_none_or(|variable| !is_set(context, variable))
        };
        for edit in self.manifest.toml.iter().filter(wanted) {
            let edit = edit.rendered(&manifest_name, context)?;
            match mode {
                Mode::Generate => plan.edit_toml(&edit.file, |doc| edit.apply(doc))?,
                Mode::Destroy => {
                    let needs = edit.shared_by.iter().map(|dir| Need::RustIn(dir.into())).collect();
                    let file = edit.file.clone();
                    plan.edit_toml_unless_needed(file, needs, move |doc| edit.undo(doc))?;
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

/// Refuses to route `wanted` (verb and path; a socket is `GET`) when the
/// app's router already serves one of them, unless by `own` (the handler
/// this command writes: running it again is not a clash). A socket serves
/// `GET` at its path and its path + `/websocket`.
pub(crate) fn refuse_routed(
    project: &Project,
    wanted: &[(String, String)],
    own: impl Fn(&str) -> bool,
    hint: &str,
) -> Result<()> {
    for route in crate::routes::collect(project)? {
        if own(&route.handler) {
            continue;
        }
        let verb = if route.verb == "WS" { "GET" } else { route.verb.as_str() };
        let mut served = vec![route.path.clone()];
        if route.verb == "WS" {
            served.push(format!("{}/websocket", route.path.trim_end_matches('/')));
        }
        if let Some((_, path)) =
            wanted.iter().find(|(wanted_verb, path)| wanted_verb == verb && served.contains(path))
        {
            bail!(
                "{path} is already routed: `{} {}` ({}). Nothing was written; {hint}",
                route.verb,
                route.path,
                route.handler,
            );
        }
    }
    Ok(())
}

/// Refuses to attach `channel` to `socket` when the app's channel of that
/// name is written for another of its sockets (`impl Channel<ChatSocket, _>`):
/// the socket's new line would not compile. Unless the channel's file is
/// kept as it is (`keep`: `--skip`), also when another socket maps it: the
/// channel written for `socket` would break that socket's line.
pub(crate) fn refuse_bound_elsewhere(
    project: &Project,
    channel: &Name,
    socket: &Name,
    keep: bool,
) -> Result<()> {
    let file = format!("src/channels/{}.rs", channel.file);
    let source = std::fs::read_to_string(project.root.join(&file)).ok();
    let sockets = project.sockets()?;
    if let Some(source) = &source {
        let types: Vec<String> = sockets
            .iter()
            .filter_map(|stem| Name::parse(stem, Kind::Socket).ok())
            .map(|name| name.type_name)
            .collect();
        let tokens: Vec<_> = tokenize(source, Lang::Rust).into_iter().filter(|t| !t.is_comment()).collect();
        let bound = tokens.windows(3).find_map(|item| {
            let named = item[0].kind == TokenKind::Ident
                && item[0].text(source) == "Channel"
                && item[1].is_punct('<');
            let other = item[2].text(source);
            (named && other != socket.type_name && types.iter().any(|t| t == other))
                .then(|| other.to_string())
        });
        if let Some(other) = bound {
            bail!(
                "{} is a channel of {other} ({file}): {} cannot map it. Nothing was written; name another \
                 channel, or make {} serve any socket (`impl<S: Socket<AppState>> Channel<S, AppState>`) first.",
                channel.type_name,
                socket.type_name,
                channel.type_name,
            );
        }
    }
    if keep && source.is_some() {
        return Ok(());
    }
    for other in sockets.iter().filter(|stem| **stem != socket.file) {
        let other_file = format!("src/sockets/{other}.rs");
        let other_source = std::fs::read_to_string(project.root.join(&other_file)).unwrap_or_default();
        let maps = crate::routes::channels_of(&other_source)
            .iter()
            .any(|mapped| mapped.channel.rsplit("::").next() == Some(channel.type_name.as_str()));
        if maps {
            bail!(
                "{} is mapped by another socket ({other_file}): written for {}, it would no longer serve \
                 that one. Nothing was written; name another channel (or, to map the one you have as it \
                 is, --skip).",
                channel.type_name,
                socket.type_name,
            );
        }
    }
    Ok(())
}

/// A topic pattern: `lobby`, `chat_room:*`. The runtime's grammar decides;
/// on top of it, maze writes the pattern into Rust and JavaScript string
/// literals and doc comments, so it refuses what would need escaping there.
pub(crate) fn validate_topic(pattern: &str) -> Result<()> {
    maze_routing::TopicPattern::parse(pattern).map_err(|reason| anyhow!("{reason}"))?;
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
