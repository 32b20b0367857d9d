//! The generators' templates: built into the binary, overridable per app.
//!
//! `templates/<generator>/` mirrors what a generator writes into an app: each
//! file's path, minus its `.tera` ending, is itself a template
//! (`src/sockets/{{ socket_file }}.rs.tera` → `src/sockets/chat_socket.rs`).
//! `generator.toml` beside them says what else the generator changes.
//!
//! An app overrides a built-in file by putting its own at the same relative
//! path under `.maze/templates/<generator>/`; `maze templates eject` copies
//! the built-ins there to start from.

mod fast;

use anyhow::{Context as _, Result, anyhow, bail};
use include_dir::{Dir, File, include_dir};
use std::path::{Path, PathBuf};
use tera::{Context, Tera};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Where an app keeps its template overrides.
pub const OVERRIDES: &str = ".maze/templates";

/// The manifest beside each generator's templates.
pub const MANIFEST: &str = "generator.toml";

/// One template file of a generator, built-in or overridden.
pub struct Template {
    /// Path inside the generator's folder: `src/sockets/{{ socket_file }}.rs.tera`.
    pub relative: String,
    pub source: String,
    /// The override file, when the app has one.
    pub overridden_by: Option<PathBuf>,
}

impl Template {
    /// How errors name this file.
    pub fn display_name(&self, generator: &str) -> String {
        match &self.overridden_by {
            Some(path) => path.display().to_string(),
            None => format!("templates/{generator}/{} (built in)", self.relative),
        }
    }
}

/// One rendered file: where it goes in the app, and what it holds.
pub struct Rendered {
    pub path: PathBuf,
    pub contents: String,
}

/// The generators with built-in templates, by name.
pub fn generators() -> Vec<&'static str> {
    let mut names: Vec<&str> = TEMPLATES.dirs().filter_map(|dir| dir.path().to_str()).collect();
    names.sort();
    names
}

/// `generator`'s templates, with the app's overrides (if `app` is given) in
/// place of the built-ins they replace. An override of no built-in is an error.
pub fn load(generator: &str, app: Option<&Path>) -> Result<Vec<Template>> {
    let dir = TEMPLATES.get_dir(generator).ok_or_else(|| anyhow!("there is no generator {generator:?}"))?;
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    let mut templates: Vec<Template> = files
        .into_iter()
        .map(|file| {
            let relative = file.path().strip_prefix(generator).unwrap_or(file.path());
            Ok(Template {
                relative: relative.to_string_lossy().into_owned(),
                source: file
                    .contents_utf8()
                    .ok_or_else(|| anyhow!("template {} is not UTF-8", file.path().display()))?
                    .to_string(),
                overridden_by: None,
            })
        })
        .collect::<Result<_>>()?;
    templates.sort_by(|a, b| a.relative.cmp(&b.relative));
    if let Some(app) = app {
        apply_overrides(generator, app, &mut templates)?;
    }
    Ok(templates)
}

fn collect_files<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a File<'a>>) {
    out.extend(dir.files());
    for child in dir.dirs() {
        collect_files(child, out);
    }
}

fn apply_overrides(generator: &str, app: &Path, templates: &mut [Template]) -> Result<()> {
    let root = app.join(OVERRIDES).join(generator);
    if !root.is_dir() {
        return Ok(());
    }
    let mut found = Vec::new();
    walk(&root, &mut found)?;
    for path in found {
        let relative = path.strip_prefix(&root).expect("walked below root").to_string_lossy().into_owned();
        let shown = path.strip_prefix(app).unwrap_or(&path).to_path_buf();
        let Some(template) = templates.iter_mut().find(|t| t.relative == relative) else {
            bail!(
                "{} overrides no built-in template of `{generator}`: its files are {}",
                shown.display(),
                templates.iter().map(|t| t.relative.as_str()).collect::<Vec<_>>().join(", ")
            );
        };
        template.source =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", shown.display()))?;
        template.overridden_by = Some(shown);
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Renders every template of `templates` but the manifest, with `context`.
pub fn render_files(generator: &str, templates: &[Template], context: &Context) -> Result<Vec<Rendered>> {
    templates
        .iter()
        .filter(|template| template.relative != MANIFEST)
        .map(|template| {
            let name = template.display_name(generator);
            let relative = template
                .relative
                .strip_suffix(".tera")
                .ok_or_else(|| anyhow!("template {name} must end in .tera"))?;
            Ok(Rendered {
                path: PathBuf::from(render_str(&format!("{name} (its path)"), relative, context)?),
                contents: render_str(&name, &template.source, context)?,
            })
        })
        .collect()
}

/// Renders `template` (named `name` in errors) without autoescaping: the
/// output is code. Errors say which file and, where Tera knows or the
/// variable can be found, which line.
pub fn render_str(name: &str, template: &str, context: &Context) -> Result<String> {
    if let Some(rendered) = fast::render(template, context) {
        return Ok(rendered);
    }
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    if let Err(error) = tera.add_raw_template(name, template) {
        bail!("template {name} has a syntax error: {}", error_chain(&error));
    }
    tera.render(name, context).map_err(|error| {
        let chain = error_chain(&error);
        let line = missing_variable(&chain).and_then(|variable| line_of(template, variable));
        match line {
            Some(line) => anyhow!("template {name}, line {line}: {chain}"),
            None => anyhow!("template {name} does not render: {chain}"),
        }
    })
}

/// Tera puts the useful part (which variable, which line) in the error's sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Variable `foo.bar` not found ...` → `foo.bar`.
fn missing_variable(message: &str) -> Option<&str> {
    let rest = &message[message.find("Variable `")? + "Variable `".len()..];
    Some(&rest[..rest.find('`')?])
}

/// The first line (1-based) that uses `variable` inside a Tera tag.
fn line_of(template: &str, variable: &str) -> Option<usize> {
    template
        .lines()
        .position(|line| (line.contains("{{") || line.contains("{%")) && line.contains(variable))
        .map(|index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let error =
            render_str("x.tera", "ok\n{{ name + }}\nrest\n", &Context::new()).unwrap_err().to_string();
        assert!(error.contains("x.tera") && error.contains("2:"), "{error}");
    }

    #[test]
    fn unknown_variables_name_the_file_and_line() {
        let mut context = Context::new();
        context.insert("name", "chat");
        let error =
            render_str("x.tera", "{{ name }}\n\nhello {{ nmae }}\n", &context).unwrap_err().to_string();
        assert!(error.contains("x.tera, line 3") && error.contains("nmae"), "{error}");
    }

    #[test]
    fn the_fast_path_renders_as_tera_does() {
        let mut context = Context::new();
        context.insert("name", "chat");
        context.insert("count", &3);
        context.insert("socket", &serde_json::json!({"socket_type": "ChatSocket"}));
        for template in [
            "src/{{ name }}.rs",
            "{{name}}-{{ count }}: {{ socket.socket_type }}",
            "no tags at all",
            "{{ name | upper }}",
            "{% if name %}x{% endif %}",
        ] {
            let tera = Tera::one_off(template, &context, false).unwrap();
            assert_eq!(render_str("t", template, &context).unwrap(), tera, "{template}");
        }
        assert!(fast::render("{{ missing }}", &context).is_none(), "missing variables go to Tera's error");
        assert!(render_str("t", "{{ missing }}", &context).is_err());
    }

    #[test]
    fn every_generator_has_a_manifest() {
        for generator in generators() {
            let templates = load(generator, None).unwrap();
            assert!(templates.iter().any(|t| t.relative == MANIFEST), "{generator}");
        }
    }
}
