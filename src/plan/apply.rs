//! Deciding each planned file's fate: written, kept, or a conflict to ask
//! about; then the report and, when nothing is left unresolved, the write.

use anyhow::{Result, bail};

use super::{Own, Plan, Status, with_insertions};
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
    /// when there is one), prints the report and, unless this is a dry run or
    /// a conflict is unresolved, writes the changes.
    pub fn apply(mut self, settings: Settings, mut prompt: Option<&mut dyn ConflictPrompt>) -> Result<()> {
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
        if settings.report {
            self.report()?;
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
        if settings.dry_run {
            if settings.report {
                println!("dry run: nothing was written");
            }
            return Ok(());
        }
        self.write()
    }
}
