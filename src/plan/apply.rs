//! Deciding each planned file's fate: written, kept, or a conflict to ask
//! about; then the report and, when nothing is left unresolved, the write.

use anyhow::{Result, bail};

use super::{Clash, Own, Plan, Status, with_insertions};
use crate::lexer::Lang;
use crate::patch::text;
use crate::prompt::{Answer, ConflictPrompt};

/// How a plan is applied: the command line's choices, as the plan needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// What happens to a file that differs from what maze would write.
    pub on_conflict: OnConflict,
    /// Report, write nothing (and ask nothing).
    pub dry_run: bool,
    /// Print one line per file.
    pub report: bool,
}

/// What happens to a file that differs from what maze would write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Ask the prompt, when there is one; otherwise refuse and write nothing.
    Ask,
    /// Overwrite it (`--force`).
    Overwrite,
    /// Keep it, with maze's insertions (`--skip`).
    Keep,
}

impl Plan {
    /// Decides every generated file's fate (asking `prompt` about conflicts,
    /// when there is one), makes the edits that wait on those fates, prints
    /// the report and, unless this is a dry run or a conflict is unresolved,
    /// writes the changes.
    pub fn apply(mut self, settings: Settings, prompt: Option<&mut dyn ConflictPrompt>) -> Result<()> {
        let mut conflicts = self.decide_own_files(settings, prompt)?;
        let clashes = self.decide_clashes(settings);
        conflicts.extend(self.delete_bare_files(settings));
        self.make_conditional_edits()?;
        self.refuse_dangling_references()?;
        self.drop_undecided_rows();
        if settings.report {
            self.report()?;
        }
        if !conflicts.is_empty() {
            let listed = conflicts.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            // Destroying: the files are maze's to remove, not to overwrite.
            if conflicts.iter().all(|path| self.files[path].own != Own::Create) {
                bail!(
                    "{} file(s) differ from what maze generated: {listed}. Nothing was written.\n\
                     Rerun with --force to remove them anyway, or --skip to keep them (maze still takes \
                     its lines out of other files); in a terminal, maze asks file by file and can show the diff.",
                    conflicts.len()
                );
            }
            bail!(
                "{} file(s) differ from what maze would generate: {listed}. Nothing was written.\n\
                 Rerun with --force to overwrite them, or --skip to keep your versions (maze still \
                 inserts its new lines into them); in a terminal, maze asks file by file and can show the diff.",
                conflicts.len()
            );
        }
        if let Some(clash) = clashes.first() {
            let functions = clash.functions.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
            if clash.destroying {
                bail!(
                    "{} defines {functions} otherwise than maze generated it. Nothing was written.\n\
                     Rerun with --skip to keep your version (maze still takes out the rest), or delete it \
                     by hand first.",
                    clash.path.display()
                );
            }
            bail!(
                "{} already defines {functions}, otherwise than maze would generate it. Nothing was written.\n\
                 Rerun with --skip to keep yours (maze still adds the rest, and routes to it), or rename it.",
                clash.path.display()
            );
        }
        if settings.dry_run {
            if settings.report {
                println!("dry run: nothing was written");
            }
            return Ok(());
        }
        self.write()
    }

    /// Each generator's own file: created, identical, removed, or a
    /// conflict to ask about. Returns the unresolved conflicts.
    fn decide_own_files(
        &mut self,
        settings: Settings,
        mut prompt: Option<&mut dyn ConflictPrompt>,
    ) -> Result<Vec<std::path::PathBuf>> {
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
                // Decided later: a clash, a conditional edit, a bare file.
                (_, Own::No) => continue,
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
            let answer = if !differs || overwrite_all || settings.on_conflict == OnConflict::Overwrite {
                Answer::Overwrite
            } else if settings.on_conflict == OnConflict::Keep {
                Answer::Skip
            } else if let Some(prompt) = prompt.as_deref_mut().filter(|_| !settings.dry_run) {
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
                    // command inserts (a new channel's line in a kept socket),
                    // or loses those it takes out.
                    match with_insertions(&path, file)? {
                        Some(kept) => {
                            file.contents = kept;
                            let status =
                                if file.own == Own::Remove { Status::Subtract } else { Status::Insert };
                            kept_with_insertions.push((Some(status), path.clone()));
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
            if file.own == Own::Remove && !file.keep && status != Status::Skip {
                file.delete = true;
            }
            self.rows[index].0 = Some(status);
        }
        self.rows.extend(kept_with_insertions);
        Ok(conflicts)
    }

    /// Functions the user rewrote: kept with `--skip`, otherwise a conflict
    /// (`--force` cannot rewrite a function without parsing Rust). Returns
    /// the unresolved ones.
    fn decide_clashes(&mut self, settings: Settings) -> Vec<Clash> {
        let mut unresolved = Vec::new();
        for clash in std::mem::take(&mut self.clashes) {
            if settings.on_conflict == OnConflict::Keep {
                self.rows[clash.row].0 = Some(Status::Skip);
            } else {
                self.rows[clash.row].0 = Some(Status::Conflict);
                unresolved.push(clash);
            }
        }
        unresolved
    }

    /// Files that grow by insertions go when nothing but their template is
    /// left. One left with no function but the user's other lines (a
    /// controller whose last action goes, with a comment of the user's) is a
    /// conflict: `--force` removes it, `--skip` keeps it whole (its actions
    /// too: the imports they use stay used). Returns the unresolved ones.
    fn delete_bare_files(&mut self, settings: Settings) -> Vec<std::path::PathBuf> {
        let mut conflicts = Vec::new();
        for row in std::mem::take(&mut self.bare_rows) {
            let path = self.rows[row].1.clone();
            let file = self.files.get_mut(&path).expect("rows name planned files");
            if file.bare.as_deref() == Some(file.contents.as_str()) {
                file.delete = true;
                self.rows[row].0 = Some(Status::Remove);
            } else if text::defined_functions(&file.contents, Lang::Rust).is_empty() {
                self.rows[row].0 = Some(match settings.on_conflict {
                    OnConflict::Overwrite => {
                        file.delete = true;
                        Status::Force
                    }
                    OnConflict::Keep => {
                        file.keep = true;
                        Status::Skip
                    }
                    OnConflict::Ask => {
                        conflicts.push(path);
                        Status::Conflict
                    }
                });
            }
        }
        conflicts
    }

    /// The edits that wait on removals: made only if nothing needing their
    /// lines remains.
    fn make_conditional_edits(&mut self) -> Result<()> {
        for conditional in std::mem::take(&mut self.conditionals) {
            let mut needed = false;
            for need in &conditional.needs {
                needed |= self.remains(need)?;
            }
            let file = self.files.get_mut(&conditional.path).expect("conditional edits load their file");
            let status = match needed {
                true => Status::Unchanged,
                false => match (conditional.edit)(&file.contents)? {
                    Some(edited) => {
                        file.contents = edited;
                        conditional.status
                    }
                    None => Status::Unchanged,
                },
            };
            self.rows[conditional.row].0 = Some(status);
        }
        Ok(())
    }

    /// Rows left undecided (a file that stays, though it was to be removed
    /// if bare) are not reported, nor are the line-by-line rows of files
    /// that go or are kept whole.
    fn drop_undecided_rows(&mut self) {
        let files = &self.files;
        let whole = |path: &std::path::PathBuf| {
            files.get(path).is_some_and(|file| file.delete || (file.keep && file.own == Own::No))
        };
        self.rows.retain(|(status, path)| match status {
            None => false,
            Some(Status::Subtract | Status::Unchanged | Status::Insert) => !whole(path),
            Some(_) => true,
        });
    }
}
