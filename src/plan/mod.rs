//! Plan, then apply: a command records every file it creates, changes or
//! removes in memory; only when the whole plan holds (no error, no
//! unresolved conflict) is anything written, each file through a temporary
//! file and a rename.
//!
//! This module records. Then [`Plan::apply`] (`apply.rs`) decides each file's
//! fate under [`Settings`], asking about conflicts, and makes the edits that
//! wait on those fates (a `pub mod` line goes only with its file);
//! `references.rs` refuses a removal that something left behind still uses;
//! `report.rs` prints the result; `write.rs` writes it atomically.

mod apply;
mod references;
mod report;
mod write;

pub use apply::{OnConflict, Settings};

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml_edit::DocumentMut;

use crate::lexer::Lang;
use crate::patch::text::{self, Injected, MissingMarker};

/// What happened (or would happen) to one file, in Thor's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Create,
    Identical,
    Conflict,
    Force,
    Skip,
    Insert,
    Unchanged,
    Update,
    Remove,
    Subtract,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Create => "create",
            Status::Identical => "identical",
            Status::Conflict => "conflict",
            Status::Force => "force",
            Status::Skip => "skip",
            Status::Insert => "insert",
            Status::Unchanged => "unchanged",
            Status::Update => "update",
            Status::Remove => "remove",
            Status::Subtract => "subtract",
        })
    }
}

/// What the plan does with a generator's own file (as opposed to a user's
/// file it patches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    /// Not a generator's own file: patched in place.
    No,
    /// Written with the planned contents.
    Create,
    /// Deleted, if it still holds the planned contents.
    Remove,
}

/// A file as the plan will leave it.
struct PlannedFile {
    /// What is on disk now (`None`: no such file).
    on_disk: Option<String>,
    /// What the plan will write, or (for removals) what the generator wrote.
    contents: String,
    own: Own,
    /// Decided when the plan is applied: leave the file as it is.
    keep: bool,
    /// Decided when the plan is applied: delete the file.
    delete: bool,
    /// For a generator's own file: the insertions made into it (or, being
    /// removed, taken out of it), so that a user's version kept with
    /// `--skip` still gets (or loses) them.
    insertions: Vec<Insertion>,
    /// For a file that grows by insertions (a controller and its actions):
    /// what it holds with none left, when it is deleted.
    bare: Option<String>,
}

/// Lines inserted above a marker.
struct Insertion {
    lang: Lang,
    marker: String,
    snippet: String,
}

/// Lines a snippet would add or take out that define a function the file
/// already defines otherwise (an action the user edited): a conflict of its
/// own, decided when the plan is applied.
struct Clash {
    row: usize,
    path: PathBuf,
    functions: Vec<String>,
    destroying: bool,
}

/// What an edit waits on: it is made only if none of it remains.
#[derive(Debug, Clone)]
pub enum Need {
    /// This file.
    File(PathBuf),
    /// Any `.rs` file but `mod.rs` in this folder.
    RustIn(PathBuf),
}

/// An edit made only if nothing that needs the lines it takes out remains
/// once the plan's removals are decided (a `pub mod` line, a shared feature).
struct Conditional {
    row: usize,
    path: PathBuf,
    needs: Vec<Need>,
    status: Status,
    edit: Edit,
}

/// A file's text → its edited text, or `None` when the edit changes nothing.
type Edit = Box<dyn FnOnce(&str) -> Result<Option<String>>>;

/// Every change a command will make, in the order it reports them.
pub struct Plan {
    root: PathBuf,
    files: HashMap<PathBuf, PlannedFile>,
    /// One report line per action; `None` status: decided when the plan is
    /// applied (a row still `None` after that is not reported).
    rows: Vec<(Option<Status>, PathBuf)>,
    clashes: Vec<Clash>,
    conditionals: Vec<Conditional>,
    /// Rows of files deleted if they end bare.
    bare_rows: Vec<usize>,
}

impl Plan {
    pub fn new(root: &Path) -> Plan {
        Plan {
            root: root.to_path_buf(),
            files: HashMap::new(),
            rows: Vec::new(),
            clashes: Vec::new(),
            conditionals: Vec::new(),
            bare_rows: Vec::new(),
        }
    }

    fn read(&self, path: &Path) -> Result<Option<String>> {
        let full = self.root.join(path);
        match std::fs::read_to_string(&full) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", full.display())),
        }
    }

    /// The file as the plan has it so far, loading it on first use.
    fn current(&mut self, path: &Path) -> Result<&mut PlannedFile> {
        if !self.files.contains_key(path) {
            let Some(on_disk) = self.read(path)? else {
                bail!(
                    "{} does not exist; maze apps keep generated wiring there: restore it, or run this in a maze app",
                    path.display()
                );
            };
            let file = PlannedFile {
                contents: on_disk.clone(),
                on_disk: Some(on_disk),
                own: Own::No,
                keep: false,
                delete: false,
                insertions: Vec::new(),
                bare: None,
            };
            self.files.insert(path.to_path_buf(), file);
        }
        Ok(self.files.get_mut(path).expect("inserted above"))
    }

    fn own(&mut self, path: PathBuf, contents: String, own: Own) -> Result<()> {
        if self.files.contains_key(&path) {
            bail!("two templates write {}", path.display());
        }
        let on_disk = self.read(&path)?;
        let file = PlannedFile {
            on_disk,
            contents,
            own,
            keep: false,
            delete: false,
            insertions: Vec::new(),
            bare: None,
        };
        self.files.insert(path.clone(), file);
        self.rows.push((None, path));
        Ok(())
    }

    /// A generator writes `path` with `contents` (later insertions may add to it).
    pub fn create(&mut self, path: impl Into<PathBuf>, contents: String) -> Result<()> {
        self.own(path.into(), contents, Own::Create)
    }

    /// The reverse of [`Plan::create`]: deletes `path` if it holds `contents`
    /// (as the same generator call would have written it).
    pub fn remove(&mut self, path: impl Into<PathBuf>, contents: String) -> Result<()> {
        self.own(path.into(), contents, Own::Remove)
    }

    /// A file that grows by insertions (a controller, its actions inserted
    /// above a marker): written with `contents` when it does not exist,
    /// otherwise kept as it is, later insertions going into it.
    pub fn create_or_extend(&mut self, path: impl Into<PathBuf>, contents: String) -> Result<()> {
        let path = path.into();
        match self.read(&path)? {
            Some(_) => self.current(&path).map(|_| ()),
            None => self.create(path, contents),
        }
    }

    /// The reverse of [`Plan::create_or_extend`]: the file loses the lines
    /// later subtractions take out, and is deleted if what is left is
    /// `contents` (as the same generator call would have written it bare).
    pub fn remove_if_bare(&mut self, path: impl Into<PathBuf>, contents: String) -> Result<()> {
        let path = path.into();
        if self.read(&path)?.is_none() {
            self.rows.push((Some(Status::Skip), path));
            return Ok(());
        }
        self.current(&path)?.bare = Some(contents);
        self.bare_rows.push(self.rows.len());
        self.rows.push((None, path));
        Ok(())
    }

    /// Inserts `snippet` above `marker` in `path`, unless it is there already.
    pub fn inject(
        &mut self,
        path: impl Into<PathBuf>,
        lang: Lang,
        marker: &str,
        snippet: &str,
    ) -> Result<()> {
        let path = path.into();
        let file = self.current(&path)?;
        let injected = text::inject(&file.contents, lang, marker, snippet);
        if let Ok(Injected::Inserted(_)) = injected
            && let Some(functions) = redefined(&file.contents, lang, snippet)
        {
            return self.clash(path, functions, false);
        }
        let status = match injected {
            Ok(Injected::Inserted(contents)) => {
                file.contents = contents;
                Status::Insert
            }
            Ok(Injected::Present) => Status::Unchanged,
            Err(MissingMarker) => bail!(
                "{} has no `{marker}` marker: maze inserts generated lines above that comment, on a line of its own \
                 (not inside a block comment or string).\nAdd the marker where such lines belong, or add this by hand:\n\n{}\n",
                path.display(),
                indent(snippet)
            ),
        };
        if file.own == Own::No {
            self.rows.push((Some(status), path));
        } else {
            file.insertions.push(Insertion {
                lang,
                marker: marker.to_string(),
                snippet: snippet.to_string(),
            });
        }
        Ok(())
    }

    /// The reverse of [`Plan::inject`]: takes `snippet` out of `path` if it is there.
    pub fn subtract(
        &mut self,
        path: impl Into<PathBuf>,
        lang: Lang,
        marker: &str,
        snippet: &str,
    ) -> Result<()> {
        let path = path.into();
        if let Some(file) = self.files.get_mut(&path).filter(|file| file.own == Own::Remove) {
            // The whole file goes, if it is what generation left: its template
            // plus the lines generation inserted into it.
            if let Ok(Injected::Inserted(expected)) = text::inject(&file.contents, lang, marker, snippet) {
                file.contents = expected;
            }
            let insertion = Insertion { lang, marker: marker.to_string(), snippet: snippet.to_string() };
            file.insertions.push(insertion);
            return Ok(());
        }
        if self.read(&path)?.is_none() && !self.files.contains_key(&path) {
            return Ok(()); // nothing to take the lines out of
        }
        let file = self.current(&path)?;
        let removed = text::remove(&file.contents, lang, snippet);
        if removed.is_none()
            && let Some(functions) = redefined(&file.contents, lang, snippet)
        {
            return self.clash(path, functions, true);
        }
        let status = match removed {
            Some(contents) => {
                file.contents = contents;
                Status::Subtract
            }
            None => Status::Unchanged,
        };
        self.rows.push((Some(status), path));
        Ok(())
    }

    /// [`Plan::subtract`], made only if nothing in `needs` remains once the
    /// plan is applied: `pub mod chat_socket;` stays while the socket's file
    /// does (kept with `--skip`, or never generated by this call).
    pub fn subtract_unless_needed(
        &mut self,
        path: impl Into<PathBuf>,
        lang: Lang,
        snippet: &str,
        needs: Vec<Need>,
    ) -> Result<()> {
        let path = path.into();
        if self.read(&path)?.is_none() && !self.files.contains_key(&path) {
            return Ok(());
        }
        self.current(&path)?;
        let snippet = snippet.to_string();
        self.conditional(path, needs, Status::Subtract, move |text| Ok(text::remove(text, lang, &snippet)))
    }

    /// [`Plan::edit_toml`], made only if nothing in `needs` remains once the
    /// plan is applied (a feature every socket and channel shares).
    pub fn edit_toml_unless_needed(
        &mut self,
        path: impl Into<PathBuf>,
        needs: Vec<Need>,
        edit: impl FnOnce(&mut DocumentMut) -> Result<()> + 'static,
    ) -> Result<()> {
        let path = path.into();
        self.current(&path)?;
        let name = path.display().to_string();
        self.conditional(path, needs, Status::Update, move |text| {
            let mut doc: DocumentMut = text.parse().with_context(|| format!("{name} is not valid TOML"))?;
            edit(&mut doc).with_context(|| format!("cannot update {name}"))?;
            let updated = doc.to_string();
            Ok((updated != text).then_some(updated))
        })
    }

    fn conditional(
        &mut self,
        path: PathBuf,
        needs: Vec<Need>,
        status: Status,
        edit: impl FnOnce(&str) -> Result<Option<String>> + 'static,
    ) -> Result<()> {
        let row = self.rows.len();
        self.rows.push((None, path.clone()));
        self.conditionals.push(Conditional { row, path, needs, status, edit: Box::new(edit) });
        Ok(())
    }

    fn clash(&mut self, path: PathBuf, functions: Vec<String>, destroying: bool) -> Result<()> {
        let row = self.rows.len();
        self.rows.push((None, path.clone()));
        self.clashes.push(Clash { row, path, functions, destroying });
        Ok(())
    }

    /// Edits the text of `path`, a file the app owns, with `edit`: `None`
    /// changes nothing (reported `unchanged`), else it is reported `status`.
    pub fn edit_text(
        &mut self,
        path: impl Into<PathBuf>,
        status: Status,
        edit: impl FnOnce(&str) -> Result<Option<String>>,
    ) -> Result<()> {
        let path = path.into();
        let file = self.current(&path)?;
        let status = match edit(&file.contents)? {
            Some(edited) => {
                file.contents = edited;
                status
            }
            None => Status::Unchanged,
        };
        self.rows.push((Some(status), path));
        Ok(())
    }

    /// Edits the TOML file `path` with `edit`, keeping its formatting.
    pub fn edit_toml(
        &mut self,
        path: impl Into<PathBuf>,
        edit: impl FnOnce(&mut DocumentMut) -> Result<()>,
    ) -> Result<()> {
        let path = path.into();
        let file = self.current(&path)?;
        let mut doc: DocumentMut =
            file.contents.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
        edit(&mut doc).with_context(|| format!("cannot update {}", path.display()))?;
        let updated = doc.to_string();
        let status = if updated == file.contents { Status::Unchanged } else { Status::Update };
        file.contents = updated;
        self.rows.push((Some(status), path));
        Ok(())
    }

    /// Whether `need` is met once the plan's removals are decided.
    fn remains(&self, need: &Need) -> Result<bool> {
        let file_remains = |path: &Path| match self.files.get(path) {
            Some(file) => !file.delete && (file.on_disk.is_some() || file.own == Own::Create),
            None => self.root.join(path).is_file(),
        };
        match need {
            Need::File(path) => Ok(file_remains(path)),
            Need::RustIn(dir) => {
                let is_rust = |path: &Path| {
                    path.starts_with(dir)
                        && path.parent() == Some(dir.as_path())
                        && path.extension().is_some_and(|ext| ext == "rs")
                        && !path.ends_with("mod.rs")
                };
                let mut candidates: Vec<PathBuf> =
                    self.files.keys().filter(|p| is_rust(p)).cloned().collect();
                if let Ok(entries) = std::fs::read_dir(self.root.join(dir)) {
                    for entry in entries {
                        candidates.push(dir.join(entry?.file_name()));
                    }
                }
                Ok(candidates.iter().any(|path| is_rust(path) && file_remains(path)))
            }
        }
    }
}

/// The functions `snippet` defines that `source` already defines, when any:
/// inserting it would define them twice; its absence in `source` means the
/// user rewrote them.
fn redefined(source: &str, lang: Lang, snippet: &str) -> Option<Vec<String>> {
    let existing = text::defined_functions(source, lang);
    let clashing: Vec<String> =
        text::defined_functions(snippet, lang).into_iter().filter(|f| existing.contains(f)).collect();
    (!clashing.is_empty()).then_some(clashing)
}

/// A generator's own file kept as the user has it, plus the lines this plan
/// inserts into it (or, removing it, minus the lines it takes out: a kept
/// socket loses the line of a channel destroyed with it); `None` when that
/// changes nothing.
fn with_insertions(path: &Path, file: &PlannedFile) -> Result<Option<String>> {
    let Some(mut text) = file.on_disk.clone() else { return Ok(None) };
    if file.own == Own::Remove {
        for insertion in &file.insertions {
            text = text::remove(&text, insertion.lang, &insertion.snippet).unwrap_or(text);
        }
        return Ok((file.on_disk.as_deref() != Some(text.as_str())).then_some(text));
    }
    for insertion in &file.insertions {
        match text::inject(&text, insertion.lang, &insertion.marker, &insertion.snippet) {
            Ok(Injected::Inserted(updated)) => text = updated,
            Ok(Injected::Present) => {}
            Err(MissingMarker) => bail!(
                "{} is kept as you have it, but has no `{}` marker for maze's new lines.\n\
                 Add the marker, or add this by hand:\n\n{}\n",
                path.display(),
                insertion.marker,
                indent(&insertion.snippet)
            ),
        }
    }
    Ok((file.on_disk.as_deref() != Some(text.as_str())).then_some(text))
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect::<String>().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Answer, ScriptedPrompt};

    const ASK: Settings = Settings { on_conflict: OnConflict::Ask, dry_run: false, report: false };

    /// A folder with a.txt and b.txt edited by the user, and a plan that would rewrite both.
    fn conflicting() -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "mine a\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "mine b\n").unwrap();
        let mut plan = Plan::new(dir.path());
        plan.create("a.txt", "maze a\n".into()).unwrap();
        plan.create("b.txt", "maze b\n".into()).unwrap();
        plan.create("c.txt", "maze c\n".into()).unwrap();
        (dir, plan)
    }

    fn read(dir: &tempfile::TempDir, name: &str) -> String {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_default()
    }

    #[test]
    fn the_prompt_decides_file_by_file() {
        let (dir, plan) = conflicting();
        let mut prompt = ScriptedPrompt { answers: vec![Answer::Skip, Answer::Overwrite], asked: Vec::new() };
        plan.apply(ASK, Some(&mut prompt)).unwrap();
        assert_eq!(prompt.asked, ["a.txt", "b.txt"]);
        assert_eq!(
            (read(&dir, "a.txt"), read(&dir, "b.txt"), read(&dir, "c.txt")),
            ("mine a\n".into(), "maze b\n".into(), "maze c\n".into())
        );
    }

    #[test]
    fn all_overwrites_the_rest_without_asking() {
        let (dir, plan) = conflicting();
        let mut prompt = ScriptedPrompt { answers: vec![Answer::All], asked: Vec::new() };
        plan.apply(ASK, Some(&mut prompt)).unwrap();
        assert_eq!(prompt.asked, ["a.txt"]);
        assert_eq!((read(&dir, "a.txt"), read(&dir, "b.txt")), ("maze a\n".into(), "maze b\n".into()));
    }

    #[test]
    fn quit_writes_nothing() {
        let (dir, plan) = conflicting();
        let mut prompt = ScriptedPrompt { answers: vec![Answer::Overwrite, Answer::Quit], asked: Vec::new() };
        assert!(plan.apply(ASK, Some(&mut prompt)).is_err());
        assert_eq!(
            (read(&dir, "a.txt"), read(&dir, "b.txt"), read(&dir, "c.txt")),
            ("mine a\n".into(), "mine b\n".into(), String::new())
        );
    }

    #[test]
    fn without_a_prompt_a_conflict_writes_nothing() {
        let (dir, plan) = conflicting();
        assert!(plan.apply(ASK, None).is_err());
        assert_eq!(read(&dir, "c.txt"), "");
    }

    #[test]
    fn the_diff_shows_both_sides() {
        console::set_colors_enabled(false);
        let diff = crate::prompt::unified_diff(Path::new("a.txt"), "one\ntwo\n", "one\nthree\n");
        assert!(diff.contains("-two") && diff.contains("+three") && diff.contains("@@"), "{diff}");
    }
}
