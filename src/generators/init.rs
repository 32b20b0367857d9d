//! `maze init`: maze's sockets in an existing axum app, and `maze d init`.
//!
//! What it writes is the `init` generator's templates (`maze.toml`,
//! `src/sockets/mod.rs` with the router that serves the sockets,
//! `src/channels/mod.rs`, `public/js/app.js`); what it changes in the
//! app's own files is code here: the `maze` dependency (and `tokio`'s test
//! macros) in Cargo.toml, `pub mod` lines in `src/lib.rs` (made when the
//! app has none, so that `tests/` can reach the sockets), and one call at
//! the end of the app's router chain, `.merge(<crate>::sockets::router())`.

use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use tera::Context;
use toml_edit::{DocumentMut, InlineTable, Item};

use super::{Generator, Mode, Outcome};
use crate::args::InitArgs;
use crate::lexer::{Lang, TokenKind, tokenize};
use crate::patch::{self, router::Chain};
use crate::plan::{Plan, Status};
use crate::project::Project;
use crate::runtime_dependency;

/// The library root `maze init` writes when the app has none.
const LIB: &str = "src/lib.rs";
/// What it holds then, and what it gets otherwise.
const MODULES: &str = "pub mod channels;\npub mod sockets;\n";
const LIB_HEADER: &str = "//! The app's library: its maze sockets and channels, which `src/main.rs`\n\
                          //! serves and the tests in `tests/` drive.\n\n";

pub fn plan(cwd: &Path, args: &InitArgs, mode: Mode) -> Result<Outcome> {
    let root = cargo_root(cwd)?;
    let manifest = read_manifest(&root)?;
    let crate_name = package_name(&manifest)?.replace('-', "_");
    let project = Project { root: root.clone() };
    if root.join("maze.toml").is_file() && !project.is_embedded() {
        bail!(
            "{} is a maze app already (maze new made it): `maze g socket` works in it as it is",
            root.display()
        );
    }
    check_axum(&manifest)?;
    if mode == Mode::Destroy {
        refuse_while_sockets_remain(&root)?;
    }
    let has_lib = root.join(LIB).is_file();
    let lib_is_ours = std::fs::read_to_string(root.join(LIB)).is_ok_and(|lib| lib == lib_template());

    let mut plan = Plan::new(&root);
    let mut context = Context::new();
    context.insert("app_name", &crate_name);
    context.insert("app_crate", &crate_name);
    Generator::load("init", None)?.apply(&mut plan, mode, &context)?;

    // The modules, in a library, for the app's binary and tests to reach.
    match (mode, has_lib) {
        (Mode::Generate, false) => plan.create(LIB, lib_template())?,
        (Mode::Generate, true) => plan.edit_text(LIB, Status::Insert, |lib| Ok(append_modules(lib)))?,
        (Mode::Destroy, _) if lib_is_ours => plan.remove(LIB, lib_template())?,
        (Mode::Destroy, _) => plan.edit_text(LIB, Status::Subtract, |lib| Ok(remove_modules(lib)))?,
    }

    let dependency = maze_dependency(args)?;
    let tests_need_tokio = !has_tokio_macros(&manifest);
    plan.edit_toml("Cargo.toml", |doc| {
        let edits = cargo_edits(dependency.clone(), tests_need_tokio);
        for (table, name, value) in edits {
            match mode {
                Mode::Generate => patch::toml::ensure_dependency(doc, table, name, value)?,
                Mode::Destroy => patch::toml::remove_dependency(doc, table, name, value)?,
            }
        }
        Ok(())
    })?;

    if root.join(".gitignore").is_file() {
        plan.edit_text(".gitignore", status_of(mode), |text| Ok(gitignore(text, mode)))?;
    }

    let mut preview = None;
    let sources = project.own_sources()?;
    let calls = MergeCall::new(&root, &crate_name);
    match mode {
        Mode::Generate if merged_already(&sources, &calls) => {}
        Mode::Generate => {
            let (file, chain, source) = locate_router(&root, args.router.as_deref(), &sources, &crate_name)?;
            let call = calls.for_file(&file);
            let edited = patch::router::append_call(&source, &chain, &call);
            preview = Some(diff(&file, &source, &edited));
            plan.edit_text(&file, Status::Insert, move |_| Ok(Some(edited)))?;
        }
        Mode::Destroy => {
            for (file, source) in &sources {
                if let Some(edited) = patch::router::remove_call(source, &calls.for_file(file)) {
                    preview = Some(diff(file, source, &edited));
                    plan.edit_text(file, Status::Subtract, move |_| Ok(Some(edited)))?;
                }
            }
        }
    }

    let next = (mode == Mode::Generate).then(|| {
        format!(
            "maze is set up: the app's router merges {crate_name}::sockets::router(). Next:\n  \
             maze g socket ChatSocket chat_room\n  cargo run\n\
             then connect maze.js (served at /maze.js; the generated scripts at /maze/js/app.js)\n\
             or the phoenix client to the socket's path. `maze d init` undoes this."
        )
    });
    Ok(Outcome { plan, next, preview })
}

fn status_of(mode: Mode) -> Status {
    match mode {
        Mode::Generate => Status::Insert,
        Mode::Destroy => Status::Subtract,
    }
}

fn lib_template() -> String {
    format!("{LIB_HEADER}{MODULES}")
}

/// The nearest folder at or above `cwd` whose Cargo.toml has a `[package]`.
fn cargo_root(cwd: &Path) -> Result<PathBuf> {
    for dir in cwd.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.parse::<DocumentMut>().is_ok_and(|doc| doc.contains_key("package"))
        {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "no Cargo package in {} or above it: run `maze init` in an axum app's folder \
         (`maze new NAME` makes a new app)",
        cwd.display()
    )
}

fn read_manifest(root: &Path) -> Result<DocumentMut> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse().with_context(|| format!("{} is not valid TOML", path.display()))
}

fn package_name(manifest: &DocumentMut) -> Result<&str> {
    manifest
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(Item::as_str)
        .context("Cargo.toml has no [package] name")
}

/// maze's runtime is built on axum 0.8: the app's router must be the same
/// crate's for the two to merge.
fn check_axum(manifest: &DocumentMut) -> Result<()> {
    let Some(axum) = manifest.get("dependencies").and_then(|deps| deps.get("axum")) else {
        bail!(
            "Cargo.toml has no axum dependency: `maze init` adds maze to an axum app \
             (`maze new NAME` makes a new maze app)"
        );
    };
    let version = axum.as_str().or_else(|| axum.get("version").and_then(Item::as_str));
    let Some(version) = version else {
        return Ok(()); // `workspace = true` or a path: cargo will tell
    };
    let bare = version.trim_start_matches(['^', '=', '~', ' ']);
    if bare != "0.8" && !bare.starts_with("0.8.") {
        bail!(
            "the app depends on axum {version}, and maze's runtime on axum 0.8: the two routers \
             merge only when they are the same crate. Upgrade the app to axum 0.8 first."
        );
    }
    Ok(())
}

/// The `maze` dependency: the runtime folder beside this CLI (or
/// `--maze-path`), or the published crate with `--maze-version`.
fn maze_dependency(args: &InitArgs) -> Result<InlineTable> {
    let mut table = InlineTable::new();
    match &args.maze_version {
        Some(version) => {
            runtime_dependency::check_version(version)?;
            table.insert("version", version.as_str().into());
        }
        None => {
            let runtime = runtime_dependency::runtime_at(args.maze_path.as_deref())?;
            table.insert("version", runtime.version.as_str().into());
            table.insert("path", runtime.path.to_string_lossy().as_ref().into());
        }
    }
    let mut features = toml_edit::Array::new();
    features.push("websockets");
    table.insert("features", features.into());
    Ok(table)
}

/// `(table, name, value)` for each dependency init adds: maze, maze with
/// `testing` for the tests, `tokio`'s test macros when the app lacks them.
fn cargo_edits(maze: InlineTable, tests_need_tokio: bool) -> Vec<(&'static str, &'static str, InlineTable)> {
    // The tests' maze::testing, compiled for tests only.
    let mut for_tests = maze.clone();
    let mut testing = toml_edit::Array::new();
    testing.push("testing");
    for_tests.insert("features", testing.into());
    let mut edits = vec![("dependencies", "maze", maze), ("dev-dependencies", "maze", for_tests)];
    if tests_need_tokio {
        let mut tokio = InlineTable::new();
        tokio.insert("version", "1".into());
        let mut features = toml_edit::Array::new();
        features.push("macros");
        features.push("rt-multi-thread");
        tokio.insert("features", features.into());
        edits.push(("dev-dependencies", "tokio", tokio));
    }
    edits
}

/// Whether `#[tokio::test]` already works in the app's tests.
fn has_tokio_macros(manifest: &DocumentMut) -> bool {
    ["dependencies", "dev-dependencies"].iter().any(|table| {
        let Some(tokio) = manifest.get(table).and_then(|deps| deps.get("tokio")) else { return false };
        let features: Vec<&str> = tokio
            .get("features")
            .and_then(Item::as_array)
            .map(|features| features.iter().filter_map(|f| f.as_str()).collect())
            .unwrap_or_default();
        features.contains(&"full") || (features.contains(&"macros") && features.contains(&"rt-multi-thread"))
    })
}

/// The development session secret maze makes at the first start stays out of git.
const IGNORED: &str = "/.maze/secret";

fn gitignore(text: &str, mode: Mode) -> Option<String> {
    let present = text.lines().any(|line| line.trim() == IGNORED);
    match mode {
        Mode::Generate if present => None,
        Mode::Generate => {
            let separator = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            Some(format!("{text}{separator}{IGNORED}\n"))
        }
        Mode::Destroy if present => {
            let kept: String = text.split_inclusive('\n').filter(|line| line.trim() != IGNORED).collect();
            Some(kept)
        }
        Mode::Destroy => None,
    }
}

/// `lib` with the `pub mod` lines at its end (they sort apart from the
/// file's own, after a blank line); `None` if they are there.
fn append_modules(lib: &str) -> Option<String> {
    if patch::text::remove(lib, Lang::Rust, MODULES).is_some() {
        return None;
    }
    let body = lib.trim_end_matches('\n');
    Some(if body.is_empty() { MODULES.to_string() } else { format!("{body}\n\n{MODULES}") })
}

/// The reverse of [`append_modules`].
fn remove_modules(lib: &str) -> Option<String> {
    patch::text::remove(lib, Lang::Rust, &format!("\n{MODULES}"))
        .or_else(|| patch::text::remove(lib, Lang::Rust, MODULES))
}

/// A socket or channel file is left: the modules init writes are theirs.
fn refuse_while_sockets_remain(root: &Path) -> Result<()> {
    for folder in ["src/sockets", "src/channels"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
        let mut files: Vec<String> = entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().to_string())
            .filter(|name| name.ends_with(".rs") && name != "mod.rs")
            .collect();
        if !files.is_empty() {
            files.sort();
            bail!(
                "{folder} still holds {}: destroy them first (`maze d socket NAME CHANNEL...`, \
                 `maze d channel NAME`), then `maze d init`",
                files.join(", ")
            );
        }
    }
    Ok(())
}

fn read(root: &Path, file: &Path) -> Result<String> {
    std::fs::read_to_string(root.join(file)).with_context(|| format!("cannot read {}", file.display()))
}

/// Whether a file of the app merges maze's router already (a second
/// `maze init`, or the call added by hand).
fn merged_already(sources: &[(PathBuf, String)], calls: &MergeCall) -> bool {
    sources.iter().any(|(file, source)| {
        let code = tokenize(source, Lang::Rust).into_iter().filter(|t| !t.is_comment());
        let text: String = code.map(|t| t.text(source)).collect();
        text.contains(&calls.for_file(file))
    })
}

/// The router chain to merge maze's routes into: the one on `--router
/// FILE:LINE`, else the only `Router::new()` under `src/`.
fn locate_router(
    root: &Path,
    chosen: Option<&str>,
    sources: &[(PathBuf, String)],
    crate_name: &str,
) -> Result<(PathBuf, Chain, String)> {
    let by_hand = format!(
        "\n\n    .merge({crate_name}::sockets::router())\n\n\
         (`crate::sockets::router()` where the router is in the app's library), \
         then run `maze init` again to write the rest"
    );
    if let Some(chosen) = chosen {
        let (file, line) = chosen
            .rsplit_once(':')
            .and_then(|(file, line)| Some((PathBuf::from(file), line.parse::<usize>().ok()?)))
            .with_context(|| format!("--router {chosen:?}: give FILE:LINE, e.g. src/main.rs:12"))?;
        let source = read(root, &file)?;
        let mut on_line = patch::router::chains(&source).into_iter().filter(|chain| chain.line == line);
        return match (on_line.next(), on_line.next()) {
            (Some(chain), None) => Ok((file, chain, source)),
            (None, _) => bail!(
                "--router {chosen}: line {line} of {} has no `Router::new()` (maze adds its call at the end \
                 of the chain that starts there)",
                file.display()
            ),
            (Some(_), Some(_)) => {
                bail!("--router {chosen}: line {line} starts two routers; split them over two lines")
            }
        };
    }
    let mut found = Vec::new();
    for (file, source) in sources {
        for chain in patch::router::chains(source) {
            found.push((file.clone(), chain, source.clone()));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no `Router::new()` under src/, so maze cannot tell where the app's router is. \
             Name the line that starts it with --router FILE:LINE, or add this at the end of \
             the router's chain by hand:{by_hand}"
        ),
        _ => {
            let places: Vec<String> =
                found.iter().map(|(file, chain, _)| format!("  {}:{}", file.display(), chain.line)).collect();
            bail!(
                "{} routers under src/, and maze will not guess which one the app serves:\n{}\n\
                 Name it with --router FILE:LINE (e.g. --router {}:{}), or add this at the end of \
                 its chain by hand:{by_hand}",
                found.len(),
                places.join("\n"),
                found[0].0.display(),
                found[0].1.line
            )
        }
    }
}

/// The call that merges maze's router, as a file of the app writes it:
/// `.merge(crate::sockets::router())` in the app's library (a module
/// `src/lib.rs` declares), `.merge(<crate>::sockets::router())` in its binary.
struct MergeCall<'a> {
    crate_name: &'a str,
    /// `src/lib.rs`, read once (empty when there is none).
    library: String,
}

impl<'a> MergeCall<'a> {
    fn new(root: &Path, crate_name: &'a str) -> MergeCall<'a> {
        MergeCall { crate_name, library: std::fs::read_to_string(root.join(LIB)).unwrap_or_default() }
    }

    fn for_file(&self, file: &Path) -> String {
        let in_library = match file.strip_prefix("src").ok().and_then(|f| f.components().next()) {
            _ if file == Path::new(LIB) => true,
            _ if file == Path::new("src/main.rs") || file.starts_with("src/bin") => false,
            Some(first) => {
                let module = Path::new(first.as_os_str()).file_stem().unwrap_or_default().to_string_lossy();
                declares_module(&self.library, &module)
            }
            None => false,
        };
        let path = if in_library { "crate" } else { self.crate_name };
        format!(".merge({path}::sockets::router())")
    }
}

/// Whether `source` has `mod name` in its code.
fn declares_module(source: &str, name: &str) -> bool {
    let tokens: Vec<_> = tokenize(source, Lang::Rust).into_iter().filter(|t| !t.is_comment()).collect();
    tokens.windows(2).any(|pair| {
        pair[0].kind == TokenKind::Ident
            && pair[0].text(source) == "mod"
            && pair[1].kind == TokenKind::Ident
            && pair[1].text(source) == name
    })
}

/// A unified diff of `file`, to show what changes in the app's own code.
fn diff(file: &Path, before: &str, after: &str) -> String {
    let name = file.display().to_string();
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(2)
        .header(&name, &name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_go_at_the_end_of_a_library_once() {
        let lib = "pub mod routes;\n";
        let added = append_modules(lib).unwrap();
        assert_eq!(added, "pub mod routes;\n\npub mod channels;\npub mod sockets;\n");
        assert_eq!(append_modules(&added), None);
        assert_eq!(remove_modules(&added).unwrap(), lib);
    }

    #[test]
    fn the_secret_is_ignored_once_and_unignored() {
        let added = gitignore("/target", Mode::Generate).unwrap();
        assert_eq!(added, "/target\n/.maze/secret\n");
        assert_eq!(gitignore(&added, Mode::Generate), None);
        assert_eq!(gitignore(&added, Mode::Destroy).unwrap(), "/target\n");
    }

    #[test]
    fn a_module_is_in_the_library_when_lib_rs_declares_it() {
        assert!(declares_module("pub mod routes;\nmod app;", "app"));
        assert!(!declares_module("// mod app;\npub mod routes;", "app"));
    }
}
