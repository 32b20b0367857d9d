//! The generators' Tera templates, embedded in the binary.
//!
//! `templates/<generator>/` mirrors what the generator writes into an app:
//! each file's path, minus its `.tera` ending, is itself a template
//! (`src/sockets/{{ socket_file }}.rs.tera` → `src/sockets/chat_socket.rs`).

use anyhow::{anyhow, Context as _, Result};
use include_dir::{include_dir, Dir, File};
use std::path::PathBuf;
use tera::{Context, Tera};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// One rendered file: where it goes in the app, and what it holds.
pub struct Rendered {
    pub path: PathBuf,
    pub contents: String,
}

/// Renders every template of `generator` with `context`, in path order.
pub fn render_all(generator: &str, context: &Context) -> Result<Vec<Rendered>> {
    let dir =
        TEMPLATES.get_dir(generator).ok_or_else(|| anyhow!("no templates for generator {generator:?}"))?;
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort_by_key(|file| file.path());
    files.into_iter().map(|file| render_file(generator, file, context)).collect()
}

fn collect_files<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a File<'a>>) {
    out.extend(dir.files());
    for child in dir.dirs() {
        collect_files(child, out);
    }
}

fn render_file(generator: &str, file: &File, context: &Context) -> Result<Rendered> {
    let name = file.path().to_string_lossy();
    let template = file.contents_utf8().ok_or_else(|| anyhow!("template {name} is not UTF-8"))?;
    let relative = name
        .strip_prefix(&format!("{generator}/"))
        .unwrap_or(&name)
        .strip_suffix(".tera")
        .ok_or_else(|| anyhow!("template {name} must end in .tera"))?;
    let path = render_str(&format!("{name} (its path)"), relative, context)?;
    let contents = render_str(&name, template, context)?;
    Ok(Rendered { path: PathBuf::from(path), contents })
}

/// Renders `template` (named `name` in errors) without autoescaping: the output is code.
pub fn render_str(name: &str, template: &str, context: &Context) -> Result<String> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(name, template).with_context(|| format!("template {name} does not parse"))?;
    tera.render(name, context)
        .map_err(|error| anyhow!("template {name} does not render: {}", error_chain(&error)))
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
