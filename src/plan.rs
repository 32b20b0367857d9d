//! Plan, then apply: a command records every file it creates or changes in
//! memory; only when the whole plan holds (no error, no unresolved conflict)
//! is anything written, each file through a temporary file and a rename.

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
}

impl Status {
    fn styled(self) -> StyledObject<String> {
        let word = style(format!("{:>10}", self.to_string()));
        match self {
            Status::Create | Status::Insert => word.green(),
            Status::Update | Status::Force => word.yellow(),
            Status::Identical | Status::Unchanged => word.blue(),
            Status::Skip => word.yellow(),
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
        })
    }
}

/// A file as the plan will leave it.
struct PlannedFile {
    /// What is on disk now (`None`: no such file).
    on_disk: Option<String>,
    /// What the plan will write.
    contents: String,
    /// The file is a generator's own output (create/identical/conflict),
    /// rather than a user's file the plan patches (insert/update).
    generated: bool,
    /// Resolved at the end for generated files: write it or not.
    skip: bool,
}

/// Every change a command will make, in the order it reports them.
pub struct Plan {
    root: PathBuf,
    options: WriteOptions,
    files: HashMap<PathBuf, PlannedFile>,
    /// One report line per action; `None` status: decided when the plan is finished.
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
                bail!("{} does not exist; it is where maze apps keep this, so restore it or run this in a maze app", path.display());
            };
            self.files.insert(
                path.to_path_buf(),
                PlannedFile {
                    contents: on_disk.clone(),
                    on_disk: Some(on_disk),
                    generated: false,
                    skip: false,
                },
            );
        }
        Ok(self.files.get_mut(path).expect("inserted above"))
    }

    /// A generator writes `path` with `contents` (later patches may add to it).
    pub fn create(&mut self, path: impl Into<PathBuf>, contents: String) -> Result<()> {
        let path = path.into();
        if self.files.contains_key(&path) {
            bail!("two templates write {}", path.display());
        }
        let on_disk = self.read(&path)?;
        self.files.insert(path.clone(), PlannedFile { on_disk, contents, generated: true, skip: false });
        self.rows.push((None, path));
        Ok(())
    }

    /// Inserts `snippet` above `marker` in `path`, unless it is there already.
    /// `manual` is the advice printed when the marker is missing.
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
        if !file.generated {
            self.rows.push((Some(status), path));
        }
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

    /// Decides every generated file's status, prints the report and, unless
    /// this is a dry run or a conflict is unresolved, writes the changes.
    pub fn apply(mut self) -> Result<()> {
        let mut conflicts = Vec::new();
        for (status, path) in &mut self.rows {
            if status.is_some() {
                continue;
            }
            let file = self.files.get_mut(path).expect("rows name planned files");
            let decided = match &file.on_disk {
                None => Status::Create,
                Some(old) if *old == file.contents => Status::Identical,
                Some(_) if self.options.force => Status::Force,
                Some(_) if self.options.skip => {
                    file.skip = true;
                    Status::Skip
                }
                Some(_) => {
                    conflicts.push(path.clone());
                    Status::Conflict
                }
            };
            *status = Some(decided);
        }
        let mut out = std::io::stdout().lock();
        for (status, path) in &self.rows {
            let status = status.expect("decided above");
            writeln!(out, "{} {}", status.styled(), path.display())?;
        }
        if !conflicts.is_empty() {
            bail!(
                "{} file(s) differ from what maze would generate: {}. Nothing was written.\n\
                 Rerun with --force to overwrite them, or --skip to keep them as they are.",
                conflicts.len(),
                conflicts.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        if self.options.dry_run {
            writeln!(out, "dry run: nothing was written")?;
            return Ok(());
        }
        self.write()
    }

    /// Stages every changed file beside its target, then renames them all into place.
    fn write(self) -> Result<()> {
        let mut staged = Vec::new();
        let mut paths: Vec<_> = self.files.iter().collect();
        paths.sort_by(|a, b| a.0.cmp(b.0));
        for (path, file) in paths {
            if file.skip || file.on_disk.as_deref() == Some(file.contents.as_str()) {
                continue;
            }
            let target = self.root.join(path);
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
        Ok(())
    }
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
