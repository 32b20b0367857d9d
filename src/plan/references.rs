//! A removal that would leave a dangling reference is refused: destroying a
//! socket while a channel of it remains, a module whose `pub mod` line stays,
//! a JavaScript file another still imports. Read as tokens, like the routes.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

use super::Plan;
use crate::lexer::{Lang, TokenKind, tokenize};

/// What a deleted file provides that others may name.
struct Provided {
    file: PathBuf,
    /// `["sockets", "chat_socket"]`: its module path in the crate.
    module: Vec<String>,
    /// Public types it defines: `ChatSocket`.
    types: Vec<String>,
}

impl Plan {
    /// Refuses the plan when a file it leaves (as the plan leaves it) still
    /// names a Rust module or type, or imports a JavaScript file, that the
    /// plan deletes.
    pub(super) fn refuse_dangling_references(&self) -> Result<()> {
        let deleted: Vec<&PathBuf> = self.files.iter().filter(|(_, f)| f.delete).map(|(p, _)| p).collect();
        if deleted.is_empty() {
            return Ok(());
        }
        let rust: Vec<Provided> = deleted.iter().filter_map(|path| self.provided(path)).collect();
        // A script by the end of its path (`sockets/chat_socket.js`), as imports name it.
        let scripts: Vec<(String, &PathBuf)> = deleted
            .iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "js"))
            .filter_map(|path| {
                let mut parts = path.iter().rev().take(2).collect::<Vec<_>>();
                parts.reverse();
                Some((parts.iter().map(|p| p.to_str()).collect::<Option<Vec<_>>>()?.join("/"), *path))
            })
            .collect();
        for path in self.files_left()? {
            let Some(source) = self.text_left(&path)? else { continue };
            let used = match path.extension().and_then(|ext| ext.to_str()) {
                Some("rs") => rust.iter().find_map(|provided| uses(&source, &path, provided)),
                Some("js" | "mjs") => scripts
                    .iter()
                    .find(|(tail, _)| imports(&source, tail))
                    .map(|(_, script)| script.display().to_string()),
                _ => None,
            };
            if let Some(used) = used {
                bail!(
                    "{} still uses {used}, which this command removes. Nothing was written: \
                     destroy what uses it first (or in the same command), or remove the use by hand.",
                    path.display(),
                );
            }
        }
        Ok(())
    }

    /// A deleted `src/**.rs` file's module path and types.
    fn provided(&self, path: &Path) -> Option<Provided> {
        let inside = path.strip_prefix("src").ok()?;
        if path.extension()? != "rs" {
            return None;
        }
        let module: Vec<String> =
            inside.with_extension("").iter().map(|part| part.to_string_lossy().to_string()).collect();
        let source = self.files[path].on_disk.clone().unwrap_or_default();
        let tokens: Vec<_> = tokenize(&source, Lang::Rust).into_iter().filter(|t| !t.is_comment()).collect();
        let types = tokens
            .windows(3)
            .filter(|item| {
                item[0].kind == TokenKind::Ident
                    && item[0].text(&source) == "pub"
                    && ["struct", "enum", "trait", "type"].contains(&item[1].text(&source))
                    && item[2].kind == TokenKind::Ident
            })
            .map(|item| item[2].text(&source).to_string())
            .collect();
        Some(Provided { file: path.to_path_buf(), module, types })
    }

    /// The app's sources the plan leaves: Rust under src/ and tests/, JavaScript under public/.
    fn files_left(&self) -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for dir in ["src", "tests", "public"] {
            walk(&self.root, Path::new(dir), &mut found)?;
        }
        let planned: Vec<PathBuf> = self.files.keys().filter(|path| !found.contains(path)).cloned().collect();
        found.extend(planned);
        found.retain(|path| !self.files.get(path).is_some_and(|file| file.delete));
        found.sort();
        Ok(found)
    }

    /// A file's text as the plan leaves it.
    fn text_left(&self, path: &Path) -> Result<Option<String>> {
        match self.files.get(path) {
            Some(file) if file.keep => Ok(file.on_disk.clone()),
            Some(file) => Ok(Some(file.contents.clone())),
            None => self.read(path),
        }
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else { return Ok(()) };
    for entry in entries {
        let entry = entry?;
        let relative = dir.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            walk(root, &relative, found)?;
        } else if relative.extension().is_some_and(|ext| ext == "rs" || ext == "js" || ext == "mjs") {
            found.push(relative);
        }
    }
    Ok(())
}

/// Whether `source` (the file `path`) names `provided`: one of its types,
/// its module path (`sockets::chat_socket`), or, in its folder's `mod.rs`,
/// `mod chat_socket`. Says which, and where it is defined.
fn uses(source: &str, path: &Path, provided: &Provided) -> Option<String> {
    let tokens: Vec<_> = tokenize(source, Lang::Rust).into_iter().filter(|t| !t.is_comment()).collect();
    let ident = |at: usize| tokens.get(at).filter(|t| t.kind == TokenKind::Ident).map(|t| t.text(source));
    let path_sep = |at: usize| {
        tokens.get(at).is_some_and(|t| t.is_punct(':')) && tokens.get(at + 1).is_some_and(|t| t.is_punct(':'))
    };
    let stem = provided.module.last()?;
    let parent = provided.module.len().checked_sub(2).map(|at| provided.module[at].as_str());
    let sibling_mod = path.file_name().is_some_and(|name| name == "mod.rs" || name == "lib.rs")
        && path.parent() == provided.file.parent();
    // A type of the same name defined here is this file's own (an axum app's `AppState`).
    let own_types: Vec<&str> = (1..tokens.len())
        .filter(|&at| ident(at - 1).is_some_and(|kw| ["struct", "enum", "trait", "type"].contains(&kw)))
        .filter_map(ident)
        .collect();
    for at in 0..tokens.len() {
        let Some(word) = ident(at) else { continue };
        if provided.types.iter().any(|t| t == word) && !own_types.contains(&word) {
            return Some(format!("`{word}` (defined in {})", provided.file.display()));
        }
        let names_module = match parent {
            Some(parent) => word == parent && path_sep(at + 1) && ident(at + 3) == Some(stem.as_str()),
            None => word == stem && path_sep(at + 1),
        };
        let declares_module = sibling_mod && word == "mod" && ident(at + 1) == Some(stem.as_str());
        if names_module || declares_module {
            return Some(format!(
                "the module `{}` ({})",
                provided.module.join("::"),
                provided.file.display()
            ));
        }
    }
    None
}

/// Whether JavaScript `source` imports a file whose path ends in `script` (`sockets/chat_socket.js`).
fn imports(source: &str, script: &str) -> bool {
    tokenize(source, Lang::JavaScript)
        .iter()
        .filter(|t| t.kind == TokenKind::Str)
        .any(|t| t.string_value(source).ends_with(script))
}
