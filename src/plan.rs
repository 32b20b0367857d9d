//! Plan, then apply: a command records every file it creates, changes or
//! removes in memory; only when the whole plan holds (no error, no
//! unresolved conflict) is anything written, each file through a temporary
//! file and a rename.

use anyhow::{bail, Context, Result};
use console::{style, StyledObject};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use toml_edit::DocumentMut;

use crate::args::WriteOptions;
use crate::lexer::Lang;
use crate::patch::text::{self, Injected, MissingMarker};
use crate::prompt::{Answer, ConflictPrompt};

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

impl Status {
    fn styled(self) -> StyledObject<String> {
        let word = style(format!("{:>10}", self.to_string()));
        match self {
            Status::Create | Status::Insert => word.green(),
            Status::Update | Status::Force | Status::Skip => word.yellow(),
            Status::Identical | Status::Unchanged => word.blue(),
            Status::Remove | Status::Subtract => word.magenta(),
            Status::Conflict => word.red().bold(),
        }
    }
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
    /// For a generator's own file: the insertions made into it, so that a
    /// user's version kept with `--skip` still gets them.
    insertions: Vec<Insertion>,
}

/// Lines inserted above a marker.
struct Insertion {
    lang: Lang,
    marker: String,
    snippet: String,
}

/// Every change a command will make, in the order it reports them.
pub struct Plan {
    root: PathBuf,
    options: WriteOptions,
    files: HashMap<PathBuf, PlannedFile>,
    /// One report line per action; `None` status: decided when the plan is applied.
    rows: Vec<(Option<Status>, PathBuf)>,
}

impl Plan {
    pub fn new(root: &Path, options: WriteOptions) -> Plan {
        Plan { root: root.to_path_buf(), options, files: HashMap::new(), rows: Vec::new() }
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
        let file = PlannedFile { on_disk, contents, own, keep: false, delete: false, insertions: Vec::new() };
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
        let status = match text::inject(&file.contents, lang, marker, snippet) {
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
            return Ok(());
        }
        if self.read(&path)?.is_none() && !self.files.contains_key(&path) {
            return Ok(()); // nothing to take the lines out of
        }
        let file = self.current(&path)?;
        let status = match text::remove(&file.contents, lang, snippet) {
            Some(contents) => {
                file.contents = contents;
                Status::Subtract
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

    /// Files with `extension` in the folder `dir` that will remain once the plan is applied.
    pub fn remaining(&self, dir: &str, extension: &str) -> Result<Vec<PathBuf>> {
        let full = self.root.join(dir);
        let Ok(entries) = std::fs::read_dir(&full) else { return Ok(Vec::new()) };
        let mut left = Vec::new();
        for entry in entries {
            let relative = Path::new(dir).join(entry?.file_name());
            let removed = self.files.get(&relative).is_some_and(|file| file.own == Own::Remove);
            if relative.extension().is_some_and(|ext| ext == extension) && !removed {
                left.push(relative);
            }
        }
        Ok(left)
    }

    /// Decides every generated file's fate (asking `prompt` about conflicts,
    /// when there is one), prints the report and, unless this is a dry run or
    /// a conflict is unresolved, writes the changes.
    pub fn apply(mut self, mut prompt: Option<&mut dyn ConflictPrompt>) -> Result<()> {
        let mut conflicts = Vec::new();
        let mut overwrite_all = false;
        let mut kept_with_insertions = Vec::new();
        for index in 0..self.rows.len() {
            if self.rows[index].0.is_some() {
                continue;
            }
            let path = self.rows[index].1.clone();
            let file = self.files.get_mut(&path).expect("rows name planned files");
            let differs = match (&file.on_disk, file.own) {
                (None, Own::Create) => {
                    self.rows[index].0 = Some(Status::Create);
                    continue;
                }
                (None, _) => {
                    // Nothing to remove.
                    file.keep = true;
                    self.rows[index].0 = Some(Status::Skip);
                    continue;
                }
                (Some(old), _) => *old != file.contents,
            };
            let done = if file.own == Own::Remove { Status::Remove } else { Status::Identical };
            let answer = if !differs || self.options.force || overwrite_all {
                Answer::Overwrite
            } else if self.options.skip {
                Answer::Skip
            } else if let Some(prompt) = prompt.as_deref_mut() {
                let planned = (file.own == Own::Create).then_some(file.contents.as_str());
                prompt.ask(&path, file.on_disk.as_deref().unwrap_or(""), planned)?
            } else {
                Answer::Conflict
            };
            let status = match answer {
                Answer::Overwrite if differs => Status::Force,
                Answer::Overwrite => done,
                Answer::All => {
                    overwrite_all = true;
                    Status::Force
                }
                Answer::Skip => {
                    // The user's version stays, but still gets the lines this
                    // command inserts (a new channel's line in a kept socket).
                    match with_insertions(&path, file)? {
                        Some(kept) => {
                            file.contents = kept;
                            kept_with_insertions.push((Some(Status::Insert), path.clone()));
                        }
                        None => file.keep = true,
                    }
                    Status::Skip
                }
                Answer::Quit => bail!("stopped at {}: nothing was written", path.display()),
                Answer::Conflict => {
                    conflicts.push(path.clone());
                    Status::Conflict
                }
            };
            if file.own == Own::Remove && !file.keep {
                file.delete = true;
            }
            self.rows[index].0 = Some(status);
        }
        self.rows.extend(kept_with_insertions);
        if !self.options.quiet {
            let mut out = std::io::stdout().lock();
            for (status, path) in &self.rows {
                writeln!(out, "{} {}", status.expect("decided above").styled(), path.display())?;
            }
        }
        if !conflicts.is_empty() {
            bail!(
                "{} file(s) differ from what maze would generate: {}. Nothing was written.\n\
                 Rerun with --force to overwrite them, or --skip to keep your versions (maze still \
                 inserts its new lines into them); in a terminal, maze asks file by file and can show the diff.",
                conflicts.len(),
                conflicts.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        if self.options.dry_run {
            if !self.options.quiet {
                println!("dry run: nothing was written");
            }
            return Ok(());
        }
        self.write()
    }

    /// Stages every changed file beside its target, renames them all into
    /// place, then deletes what is removed (and folders that left empty).
    fn write(self) -> Result<()> {
        let mut staged = Vec::new();
        let mut deleted = Vec::new();
        let mut paths: Vec<_> = self.files.iter().collect();
        paths.sort_by(|a, b| a.0.cmp(b.0));
        for (path, file) in paths {
            let target = self.root.join(path);
            if file.delete {
                deleted.push(target);
                continue;
            }
            if file.keep || file.own == Own::Remove || file.on_disk.as_deref() == Some(file.contents.as_str())
            {
                continue;
            }
            let dir = target.parent().expect("files live in a folder");
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let mut temp = tempfile::Builder::new()
                .prefix(".maze-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            temp.write_all(file.contents.as_bytes())?;
            keep_permissions(temp.as_file(), &target)?;
            staged.push((temp, target));
        }
        for (temp, target) in staged {
            temp.persist(&target).with_context(|| format!("cannot write {}", target.display()))?;
        }
        for target in deleted {
            std::fs::remove_file(&target).with_context(|| format!("cannot remove {}", target.display()))?;
            let mut dir = target.parent();
            while let Some(folder) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
                // Only folders the removal emptied; remove_dir refuses any other.
                if std::fs::remove_dir(folder).is_err() {
                    break;
                }
                dir = folder.parent();
            }
        }
        Ok(())
    }
}

/// A generator's own file kept as the user has it, plus the lines this plan
/// inserts into it; `None` when that changes nothing.
fn with_insertions(path: &Path, file: &PlannedFile) -> Result<Option<String>> {
    let Some(mut text) = file.on_disk.clone().filter(|_| file.own == Own::Create) else { return Ok(None) };
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

/// Temporary files are private (0600); the written file gets the permissions
/// the old one had, or the usual 0644 for a new one.
fn keep_permissions(temp: &std::fs::File, target: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = match std::fs::metadata(target) {
            Ok(old) => old.permissions(),
            Err(_) => std::fs::Permissions::from_mode(0o644),
        };
        temp.set_permissions(permissions)?;
    }
    #[cfg(not(unix))]
    let _ = (temp, target);
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect::<String>().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::ScriptedPrompt;

    fn options() -> WriteOptions {
        WriteOptions { dry_run: false, force: false, skip: false, quiet: true }
    }

    /// A folder with a.txt and b.txt edited by the user, and a plan that would rewrite both.
    fn conflicting() -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "mine a\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "mine b\n").unwrap();
        let mut plan = Plan::new(dir.path(), options());
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
        plan.apply(Some(&mut prompt)).unwrap();
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
        plan.apply(Some(&mut prompt)).unwrap();
        assert_eq!(prompt.asked, ["a.txt"]);
        assert_eq!((read(&dir, "a.txt"), read(&dir, "b.txt")), ("maze a\n".into(), "maze b\n".into()));
    }

    #[test]
    fn quit_writes_nothing() {
        let (dir, plan) = conflicting();
        let mut prompt = ScriptedPrompt { answers: vec![Answer::Overwrite, Answer::Quit], asked: Vec::new() };
        assert!(plan.apply(Some(&mut prompt)).is_err());
        assert_eq!(
            (read(&dir, "a.txt"), read(&dir, "b.txt"), read(&dir, "c.txt")),
            ("mine a\n".into(), "mine b\n".into(), String::new())
        );
    }

    #[test]
    fn without_a_prompt_a_conflict_writes_nothing() {
        let (dir, plan) = conflicting();
        assert!(plan.apply(None).is_err());
        assert_eq!(read(&dir, "c.txt"), "");
    }

    #[test]
    fn the_diff_shows_both_sides() {
        console::set_colors_enabled(false);
        let diff = crate::prompt::unified_diff(Path::new("a.txt"), "one\ntwo\n", "one\nthree\n");
        assert!(diff.contains("-two") && diff.contains("+three") && diff.contains("@@"), "{diff}");
    }
}
